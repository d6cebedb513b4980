"""A broken minipool, for tests/test_cpython_suite.py: its thread pool's map loses the last result.

``scripts/cpython_suite.py --impl cpython_suite_mutant`` runs CPython's tests
against it; they must catch it.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

import minipool
from minipool import *  # noqa: F403 - every other name, unchanged


class ThreadPoolExecutor(minipool.ThreadPoolExecutor):
    def map(self, fn: Callable[..., Any], *iterables: Iterable[Any],  # type: ignore[override]
            **options: Any) -> Iterator[Any]:
        results = list(super().map(fn, *iterables, **options))
        return iter(results[:-1])
