"""Executors for tests/test_conformance.py to hand to the conformance kit."""

from __future__ import annotations

from typing import Any, Iterator

import minipool


class DropsTheLastResult(minipool.MiniThreadPool):
    """A broken executor: its map loses the last result."""

    def map(self, fn: Any, *iterables: Any, **kwargs: Any) -> Iterator[Any]:
        return iter(list(super().map(fn, *iterables, **kwargs))[:-1])


def broken_map() -> DropsTheLastResult:
    return DropsTheLastResult(2)
