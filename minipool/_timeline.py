"""Timelines and stats: what a configured pool records about its tasks (opt-in).

A pool configured with ``timeline=True`` (or with an ``on_task_done`` /
``on_worker_exit`` hook) returns ``_TimedFuture``s: futures that carry a
``Timeline`` (``future.timeline``; other futures have no such attribute, so
the core ``Future`` knows nothing of timelines) and answers
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

What a trace or report draws (``_trace.py``, ``_report.py``) is recorded
at the same moments, in the same threads:

* ``Timeline.task`` (the call, as error messages name it) when it starts;
  earlier starts whose worker died (``_tries``) when it is requeued; how it
  ended (``_ending``, ``_error``) when it is done;
* ``Timeline._ran``: each done callback, timed by ``_TimedFuture`` (the
  future class of a configured pool) in whichever thread runs it, and the
  ``on_task_done`` hook, timed by ``_task_done``;
* ``_Tracker.timelines``: the last ``KEPT_TIMELINES`` timelines, in submit
  order (so that a trace can be written from the pool);
* ``_Tracker.worker_log``: worker processes starting and exiting, with the
  ``on_worker_exit`` hook's run.

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

import collections
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Optional, TypeVar

from ._errors import BrokenExecutor
from ._extras import TaskTimeout, WorkerCrashed
from ._future import Future
from ._naming import _name_of
from ._stats import PoolStats, WorkerId, WorkerStats

__all__ = ["Timeline"]

LOGGER = logging.getLogger("minipool")

T = TypeVar("T")

# How many timelines a pool keeps for write_trace/write_report(pool): the
# last ones submitted. A timeline is a few hundred bytes, so this bounds a
# long-running pool's record to a few MB; older ones are dropped (the trace
# says how many). Pass the futures themselves to draw more.
KEPT_TIMELINES = 10_000
KEPT_WORKER_EVENTS = 1_000  # worker processes started and exited, the same way


# Named tuples, not frozen dataclasses: one is made per callback, and a tuple is
# several times cheaper to make.
class _Ran(NamedTuple):
    """A done callback or a hook that ran for a task: where and when."""

    kind: str  # "callback" or "hook"
    name: str  # the callback's module.qualname, or the hook's keyword
    thread: str  # the name of the thread that ran it
    start: float
    end: float


class _Try(NamedTuple):
    """An earlier start of a task whose worker died; the task then ran again."""

    worker: WorkerId
    started: float
    ended: float  # when the dispatcher saw the worker's death


class _WorkerEvent(NamedTuple):
    """A worker process started or exited (process pool)."""

    kind: str  # "started" or "exited"
    worker: WorkerId
    at: float
    exitcode: Optional[int] = None
    hook: Optional[_Ran] = None  # the on_worker_exit hook's run, if any


@dataclass
class Timeline:
    """When a task was queued, started and finished, and which worker ran it.

    Times are ``time.monotonic()`` seconds. ``worker`` is the thread's name
    (thread pool) or the process's pid (process pool). ``attempts`` counts
    starts: more than 1 only when a process pool retried the task after its
    worker crashed (``crash_retries``). ``task`` names the call as error
    messages do (``module.fn(arg, key=value)``, shortened), from its first
    start; None for a task that never started.
    """

    queued: float
    started: Optional[float] = None
    finished: Optional[float] = None
    worker: Optional[WorkerId] = None
    attempts: int = 0
    task: Optional[str] = None
    # For write_trace/write_report (see the module docstring); not part of the API.
    _ending: str = field(default="", init=False, repr=False, compare=False)
    _error: str = field(default="", init=False, repr=False, compare=False)
    _tries: list[_Try] = field(default_factory=list, init=False, repr=False, compare=False)
    _ran: list[_Ran] = field(default_factory=list, init=False, repr=False, compare=False)

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
        # The last timelines and worker events, for write_trace/write_report.
        self.timelines: collections.deque[Timeline] = collections.deque(maxlen=KEPT_TIMELINES)
        self.worker_log: collections.deque[_WorkerEvent] = collections.deque(
            maxlen=KEPT_WORKER_EVENTS)

    # ------------------------------------------------------------- tasks
    def task_submitted(self, future: Future[Any]) -> None:
        assert isinstance(future, _TimedFuture)  # what a tracking pool's submit makes
        timeline = future.timeline = Timeline(queued=time.monotonic())
        with self._lock:
            self._submitted += 1
            self._queued += 1
            self.timelines.append(timeline)
        task_done = self._task_done  # one bound method, so that _TimedFuture knows it
        future.tracker_callback = task_done
        future.add_done_callback(task_done)  # first callback: runs before the user's

    def task_started(self, future: Future[Any], worker: WorkerId,
                     task: Callable[[], str]) -> None:
        """*task* describes the call: once, for ``Timeline.task``, and for stats().

        (It is called here, before the start is noted, so that naming the call
        is not counted as running it; a retried task keeps its first name.)
        """
        timeline = _timeline_of(future)
        if timeline.task is None:
            timeline.task = task()
        timeline.started = time.monotonic()
        timeline.worker = worker
        timeline.attempts += 1
        with self._lock:
            self._queued -= 1
            self._running += 1
            self._workers.setdefault(worker, _WorkerState()).task = task

    def task_requeued(self, future: Future[Any]) -> None:
        """A started task goes back to the queue (its worker died; it will run again)."""
        timeline = _timeline_of(future)
        if timeline.started is not None and timeline.worker is not None:
            timeline._tries.append(_Try(timeline.worker, timeline.started, time.monotonic()))
        timeline.started = None
        with self._lock:
            self._running -= 1
            self._queued += 1

    def _task_done(self, future: Future[Any]) -> None:
        timeline = _timeline_of(future)
        timeline.finished = time.monotonic()
        cancelled = future.cancelled()
        error = None if cancelled else future.exception()
        timeline._ending = _ending(cancelled, error)
        if error is not None:
            timeline._error = _short_error(error)
        with self._lock:
            if timeline.started is None:
                self._queued -= 1
            else:
                self._running -= 1
            self._done += 1
            self._failed += error is not None
            self._cancelled += cancelled
        if self._on_task_done is not None:
            start = time.monotonic()
            try:
                self._on_task_done(future)
            finally:  # a hook that raises is logged by the future, as any callback
                timeline._ran.append(_Ran("hook", "on_task_done",
                                          threading.current_thread().name, start,
                                          time.monotonic()))

    # ----------------------------------------------------------- workers
    def worker_idle(self, worker: WorkerId) -> None:
        with self._lock:
            state = self._workers.setdefault(worker, _WorkerState())
            state.task = None
            state.tasks_done += 1

    def worker_started(self, worker: WorkerId) -> None:
        with self._lock:
            self._workers.setdefault(worker, _WorkerState())
            self.worker_log.append(_WorkerEvent("started", worker, time.monotonic()))

    def worker_exited(self, worker: WorkerId, exitcode: Optional[int]) -> None:
        exited = time.monotonic()
        with self._lock:
            self._workers.pop(worker, None)
        hook = None
        if self._on_worker_exit is not None:
            try:
                self._on_worker_exit(worker, exitcode)
            except Exception:  # a hook's bug must not stop the pool
                LOGGER.exception("exception calling on_worker_exit for %r", worker)
            hook = _Ran("hook", "on_worker_exit", threading.current_thread().name, exited,
                        time.monotonic())
        with self._lock:
            self.worker_log.append(_WorkerEvent("exited", worker, exited, exitcode, hook))

    def recorded(self) -> tuple[list[Timeline], list[_WorkerEvent], int]:
        """The kept timelines, the worker events, and how many timelines were dropped."""
        with self._lock:
            return list(self.timelines), list(self.worker_log), self._submitted - len(
                self.timelines)

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


class _TimedFuture(Future[T]):
    """The future a configured pool returns: it notes where and when each done
    callback ran (``Timeline._ran``), for write_trace and write_report.

    Only configured pools make these, so a default pool's futures pay nothing.
    The tracker's own callback (``tracker_callback``) is not timed here: it
    times the hook it runs itself; nor is minipool's own bookkeeping (the
    callbacks of wait(), as_completed(), max_pending), which is not the
    user's work.
    """

    # When, and by which worker, the task ran: set by _Tracker.task_submitted
    # before submit returns the future.
    timeline: Optional[Timeline] = None
    tracker_callback: Optional[Callable[[Future[Any]], object]] = None

    def __repr__(self) -> str:  # to users it is a Future like any other
        return super().__repr__().replace(f"<{type(self).__name__} ", "<Future ", 1)

    def _run_one_callback(self, callback: Callable[[Future[T]], object]) -> None:
        timeline = self.timeline
        if (timeline is None or callback is self.tracker_callback
                or _is_bookkeeping(callback)):
            super()._run_one_callback(callback)
            return
        start = time.monotonic()
        try:
            super()._run_one_callback(callback)
        finally:
            timeline._ran.append(_Ran("callback", _name_of(callback),
                                      threading.current_thread().name, start,
                                      time.monotonic()))


def _timeline_of(future: Future[Any]) -> Timeline:
    """The timeline of a tracked pool's future (a _TimedFuture, from task_submitted)."""
    assert isinstance(future, _TimedFuture) and future.timeline is not None
    return future.timeline


_BOOKKEEPING_MODULES = frozenset({"minipool", "minipool.thread", "minipool.process"})


def _is_bookkeeping(callback: Callable[..., object]) -> bool:
    """A callback that minipool itself added (its module is minipool's machinery)."""
    module = getattr(callback, "__module__", None) or ""
    return module in _BOOKKEEPING_MODULES or module.startswith("minipool._")


def _ending(cancelled: bool, error: Optional[BaseException]) -> str:
    """How a task ended, as a trace marks it."""
    if cancelled:
        return "cancelled"
    if error is None:
        return "result"
    if isinstance(error, TaskTimeout):
        return "timed out"
    if isinstance(error, WorkerCrashed):
        return "crashed"
    if isinstance(error, BrokenExecutor):
        return "broken"
    return "raised"


def _short_error(error: BaseException) -> str:
    try:
        text = str(error)
    except Exception:  # a broken __str__ must not stop the pool
        text = ""
    first_line = text.strip().splitlines()[0] if text.strip() else ""
    shown = f"{type(error).__name__}: {first_line}" if first_line else type(error).__name__
    return shown if len(shown) <= 300 else shown[:297] + "..."
