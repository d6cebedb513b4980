"""The thread pool's extras: what ``MiniThreadPool.configure(...)`` plugs in.

Loaded only by ``configure()`` (a pool that is never configured never
imports this module). It plugs in one ``_ThreadExtras`` as the pool's
``_extras``; from then on the pool's ``submit`` is ``_ThreadExtras.submit``.

How a task flows through a configured pool (the core steps in brackets)::

    _ThreadExtras.submit                          [submitting thread]
      _PendingLimit.reserve(item)      max_pending: may wait for room
      _Tracker.task_submitted(future)  timeline
      [shared.work_queue.put(item)]    a _ConfiguredWorkItem
    [_work_loop: item.run()]                      [worker thread]
      _ConfiguredWorkItem.run
        _PendingLimit.release(item)    it left the queue: room for the next submit
        _Tracker.task_started
        _Watchdog.add(task_timeout, time_out)   the watchdog thread fails the
                                                future if the call overruns
        _call_and_settle: fn(*args) in a copied context (copy_context)
        _Watchdog.discard, _Tracker.worker_idle

Threads: the watchdog thread (``_watchdog.py``) exists only while a
deadline is live; ``shutdown(wait=True)`` joins it (``_ThreadExtras.join``).
"""

from __future__ import annotations

import contextvars
import threading
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

from ._errors import InvalidStateError
from ._extras import TaskTimeout, _make_options, _Options, _PendingLimit
from ._future import Future
from ._naming import _describe_call
from ._stats import PoolStats, _stats_not_enabled
from ._timeline import _TimedFuture, _Tracker
from ._watchdog import _Watchdog
from .thread import _WorkItem

if TYPE_CHECKING:
    from .thread import MiniThreadPool

T = TypeVar("T")


def configure_thread_pool(pool: MiniThreadPool, **keywords: Any) -> None:
    """``MiniThreadPool.configure``: check the keywords, plug a ``_ThreadExtras`` in."""
    options = _make_options(**keywords)
    shared = pool._shared
    with shared.lock:
        if pool._workers or pool._extras is not None:
            raise RuntimeError("configure() must be called once, before the first submit")
        extras = _ThreadExtras(options, f"{pool._thread_name_prefix}_watchdog")
        if extras.limit is not None:
            shared.on_close.append(extras.limit.close)
        pool._extras = extras


class _ThreadExtras:
    """The extras of one configured pool: its submit, its stats, its watchdog."""

    def __init__(self, options: _Options, watchdog_name: str) -> None:
        self.options = options
        self.limit: Optional[_PendingLimit] = None
        if options.max_pending is not None:
            self.limit = _PendingLimit(options.max_pending, options.submit_timeout)
        self.tracker: Optional[_Tracker] = None
        if options.tracks:
            self.tracker = _Tracker(options.on_task_done, None)
        self.watchdog: Optional[_Watchdog] = None
        if options.task_timeout is not None:
            self.watchdog = _Watchdog(watchdog_name)

    def stats(self) -> PoolStats:
        if self.tracker is None:
            raise _stats_not_enabled()
        return self.tracker.snapshot()

    def join(self) -> None:
        if self.watchdog is not None:
            self.watchdog.join()

    def submit(self, pool: MiniThreadPool, fn: Callable[..., T], args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> Future[T]:
        """``submit`` for a configured pool: the core steps, plus the extras.

        (The pool comes as an argument: the extras keep no reference to it, so
        a pool dropped without shutdown is still collected at once.)
        """
        shared = pool._shared
        # A tracking pool's futures also time their callbacks (_timeline._TimedFuture).
        future: Future[T] = Future() if self.tracker is None else _TimedFuture()
        item = _ConfiguredWorkItem(future, fn, args, kwargs, self)
        limit = self.limit
        if limit is not None and threading.current_thread() not in pool._workers:
            limit.reserve(item)  # back-pressure: may wait, may raise TimeoutError
        try:
            with shared.lock:
                shared.check_accepting()
                if self.tracker is not None:
                    self.tracker.task_submitted(future)
                if limit is not None:  # a cancelled queued task frees its place at once
                    future.add_done_callback(lambda _: limit.release(item))
                shared.work_queue.put(item)
                pool._start_worker_unless_one_is_idle()
        except BaseException:
            if limit is not None:
                limit.release(item)
            raise
        return future


class _ConfiguredWorkItem(_WorkItem):
    """A work item of a configured pool: ``run`` adds the extras around the call."""

    def __init__(self, future: Future[Any], fn: Callable[..., Any], args: tuple[Any, ...],
                 kwargs: dict[str, Any], extras: _ThreadExtras) -> None:
        super().__init__(future, fn, args, kwargs)
        self.limit = extras.limit
        self.tracker = extras.tracker
        self.watchdog = extras.watchdog
        self.task_timeout = extras.options.task_timeout
        self.context = contextvars.copy_context() if extras.options.copy_context else None

    def run(self) -> None:
        if self.limit is not None:
            self.limit.release(self)  # it left the queue: room for the next submit
        if not self.future.set_running_or_notify_cancel():
            return  # cancelled while it waited in the queue
        worker = threading.current_thread().name
        if self.tracker is not None:
            self.tracker.task_started(self.future, worker, self.describe)
        deadline = None
        if self.watchdog is not None and self.task_timeout is not None:
            deadline = self.watchdog.add(self.task_timeout, self._time_out_action(worker))
        try:
            self._call_and_settle()
        finally:
            if deadline is not None and self.watchdog is not None:
                self.watchdog.discard(deadline)
            if self.tracker is not None:
                self.tracker.worker_idle(worker)  # busy until the call returned
        # A raised exception's traceback reaches this frame too (it called
        # _call_and_settle): break the cycle here as well, as in _WorkItem.run.
        del self

    def describe(self) -> str:
        return _describe_call(self.fn, self.args, self.kwargs)

    def _call_and_settle(self) -> None:
        try:
            if self.context is not None:
                result = self.context.run(self.fn, *self.args, **self.kwargs)
            else:
                result = self.fn(*self.args, **self.kwargs)
        except BaseException as exc:
            try:
                self.future.set_exception(exc)
            except InvalidStateError:
                pass  # it timed out: its outcome is discarded, as documented
            del self  # break the cycle, as in _WorkItem.run (and run() does too)
            return
        try:
            self.future.set_result(result)
        except InvalidStateError:
            pass  # it timed out: its result is discarded, as documented

    def _time_out_action(self, worker: str) -> Callable[[], None]:
        future, limit = self.future, self.task_timeout
        assert limit is not None

        def time_out() -> None:  # runs in the watchdog thread
            task = self.describe()
            error = TaskTimeout(
                f"task {task} ran longer than its task_timeout of {limit} s in thread "
                f"{worker}; a thread cannot be stopped: it runs on, and its eventual "
                f"result will be discarded", task=task, limit=limit, worker=worker)
            try:
                future.set_exception(error)
            except InvalidStateError:
                pass  # it finished just in time

        return time_out
