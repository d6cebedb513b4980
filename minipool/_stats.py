"""What ``pool.stats()`` returns: ``PoolStats`` and ``WorkerStats`` (plain data).

Both pools name these types in their ``stats()`` signature, so they live
below the pools; the tracker that fills them is an extra (``_timeline.py``).
No threads, no state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

__all__ = ["PoolStats", "WorkerStats"]

WorkerId = Union[str, int]  # a worker thread's name, or a worker process's pid


@dataclass(frozen=True)
class WorkerStats:
    """One worker in ``PoolStats.workers``: what it is doing, and how much it did."""

    worker: WorkerId
    task: Optional[str]  # the call it is running, as text; None when idle
    tasks_done: int

    @property
    def busy(self) -> bool:
        return self.task is not None


@dataclass(frozen=True)
class PoolStats:
    """A snapshot of a pool: ``pool.stats()``.

    ``submitted == queued + running + done``; ``done`` counts results,
    failures and cancellations (as ``Future.done()`` does), ``failed`` and
    ``cancelled`` are its parts that returned no value.
    """

    submitted: int
    queued: int
    running: int
    done: int
    failed: int
    cancelled: int
    workers: tuple[WorkerStats, ...] = field(default=())

    @property
    def succeeded(self) -> int:
        return self.done - self.failed - self.cancelled


def _stats_not_enabled() -> RuntimeError:
    return RuntimeError("stats() needs a pool configured to keep them: "
                        "pool.configure(timeline=True) before the first submit")
