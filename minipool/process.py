"""MiniProcessPool: the process pool (issue 3 builds it; this is its place)."""

from __future__ import annotations

# Deliberate borrowing: the stdlib's exception class, so that
# `except concurrent.futures.process.BrokenProcessPool` catches ours.
from concurrent.futures.process import BrokenProcessPool as BrokenProcessPool
from typing import Any

from ._executor import Executor

__all__ = ["BrokenProcessPool", "MiniProcessPool", "ProcessPoolExecutor"]


class MiniProcessPool(Executor):
    """Not built yet."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("MiniProcessPool is not built yet")


ProcessPoolExecutor = MiniProcessPool
