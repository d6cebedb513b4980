"""Timelines and stats: what a configured pool records about its tasks (opt-in).

A pool configured with ``timeline=True`` (or with an ``on_task_done`` /
``on_worker_exit`` hook) gives every future it returns a ``Timeline``
(``future.timeline``; None for futures of other pools) and answers
``pool.stats()`` with a ``PoolStats``. A pool that is not configured keeps no
record at all: that is how "no overhead when nobody looks" is kept.

Who calls what on the pool's ``_Tracker``::

    submit                 -> task_submitted(future)    [submitting thread]
    a worker process starts -> worker_started(pid)
                                  [process pool: the dispatcher thread, or under
                                   fork the first submit, which starts them all]
    a worker starts a task -> task_started(future, worker, task)
                                  [thread pool: the worker thread;
                                   process pool: the dispatcher thread]
    the future becomes done -> _task_done(future)  (a done callback, so it
                                  runs in whichever thread finished or
                                  cancelled it), then on_task_done(future)
    a worker is free again -> worker_idle(worker)
    its worker died, the task will run again (survive_crashes)
                           -> task_requeued(future)     [process pool: dispatcher]
    a worker process ended -> worker_exited(worker, exitcode), then
                              on_worker_exit(pid, exitcode)   [process pool]

Counting: every submitted future is in exactly one of queued, running or
done, so ``submitted == queued + running + done`` whenever the tracker's lock
is free. ``done`` counts what ``Future.done()`` counts (results, failures and
cancellations); ``failed`` and ``cancelled`` are the parts of it that did not
return a value.

``_lock`` guards every counter and ``_workers``. A ``Timeline`` is written
by the thread that moves its task (queued: the submitter; started: the
worker or dispatcher; finished: whoever finished the future); it is read by
anyone, as a snapshot.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ._extras import WorkerId
from ._future import Future

__all__ = ["PoolStats", "Timeline", "WorkerStats"]

LOGGER = logging.getLogger("minipool")


@dataclass
class Timeline:
    """When a task was queued, started and finished, and which worker ran it.

    Times are ``time.monotonic()`` seconds. ``worker`` is the thread's name
    (thread pool) or the process's pid (process pool). ``attempts`` counts
    starts: more than 1 only when a process pool retried the task after its
    worker crashed (``crash_retries``).
    """

    queued: float
    started: Optional[float] = None
    finished: Optional[float] = None
    worker: Optional[WorkerId] = None
    attempts: int = 0

    @property
    def waited(self) -> Optional[float]:
        """Seconds between submit and start (None if it never started)."""
        return None if self.started is None else self.started - self.queued

    @property
    def ran(self) -> Optional[float]:
        """Seconds between start and finish (None until both happened)."""
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started


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


@dataclass
class _WorkerState:
    task: Optional[Callable[[], str]] = None  # describes the running call
    tasks_done: int = 0


class _Tracker:
    """The counters and per-worker state behind ``stats()``; see the module docstring."""

    def __init__(self, on_task_done: Optional[Callable[[Future[Any]], object]],
                 on_worker_exit: Optional[Callable[[WorkerId, Optional[int]], object]]) -> None:
        self._on_task_done = on_task_done
        self._on_worker_exit = on_worker_exit
        self._lock = threading.Lock()
        self._submitted = self._queued = self._running = 0
        self._done = self._failed = self._cancelled = 0
        self._workers: dict[WorkerId, _WorkerState] = {}

    # ------------------------------------------------------------- tasks
    def task_submitted(self, future: Future[Any]) -> None:
        future.timeline = Timeline(queued=time.monotonic())
        with self._lock:
            self._submitted += 1
            self._queued += 1
        future.add_done_callback(self._task_done)  # first callback: runs before the user's

    def task_started(self, future: Future[Any], worker: WorkerId,
                     task: Callable[[], str]) -> None:
        """*task* describes the call; it is called only if someone asks (stats())."""
        timeline = future.timeline
        assert timeline is not None
        timeline.started = time.monotonic()
        timeline.worker = worker
        timeline.attempts += 1
        with self._lock:
            self._queued -= 1
            self._running += 1
            self._workers.setdefault(worker, _WorkerState()).task = task

    def task_requeued(self, future: Future[Any]) -> None:
        """A started task goes back to the queue (its worker died; it will run again)."""
        timeline = future.timeline
        assert timeline is not None
        timeline.started = None
        with self._lock:
            self._running -= 1
            self._queued += 1

    def _task_done(self, future: Future[Any]) -> None:
        timeline = future.timeline
        assert timeline is not None
        timeline.finished = time.monotonic()
        cancelled = future.cancelled()
        failed = not cancelled and future.exception() is not None
        with self._lock:
            if timeline.started is None:
                self._queued -= 1
            else:
                self._running -= 1
            self._done += 1
            self._failed += failed
            self._cancelled += cancelled
        if self._on_task_done is not None:
            self._on_task_done(future)

    # ----------------------------------------------------------- workers
    def worker_idle(self, worker: WorkerId) -> None:
        with self._lock:
            state = self._workers.setdefault(worker, _WorkerState())
            state.task = None
            state.tasks_done += 1

    def worker_started(self, worker: WorkerId) -> None:
        with self._lock:
            self._workers.setdefault(worker, _WorkerState())

    def worker_exited(self, worker: WorkerId, exitcode: Optional[int]) -> None:
        with self._lock:
            self._workers.pop(worker, None)
        if self._on_worker_exit is not None:
            try:
                self._on_worker_exit(worker, exitcode)
            except Exception:  # a hook's bug must not stop the pool
                LOGGER.exception("exception calling on_worker_exit for %r", worker)

    # ---------------------------------------------------------- snapshot
    def snapshot(self) -> PoolStats:
        with self._lock:
            workers = tuple(
                WorkerStats(worker, None if state.task is None else state.task(),
                            state.tasks_done)
                for worker, state in self._workers.items())
            return PoolStats(submitted=self._submitted, queued=self._queued,
                             running=self._running, done=self._done, failed=self._failed,
                             cancelled=self._cancelled, workers=workers)


def _stats_not_enabled() -> RuntimeError:
    return RuntimeError("stats() needs a pool configured to keep them: "
                        "pool.configure(timeline=True) before the first submit")
