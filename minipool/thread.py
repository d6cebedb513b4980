"""MiniThreadPool: run calls in a bounded set of worker threads.

Threads
-------
* *Submitting threads*: any thread that calls ``submit``/``map``/``shutdown``.
* *Worker threads* (``MiniThreadPool-N_i``, at most ``max_workers``), each
  running ``_work_loop``. They are started lazily, one per ``submit`` that
  finds no idle worker.

How a task flows::

    submit(fn, *args)
      |  wraps the call in a _WorkItem holding a new Future
      v
    channel.work_queue  (a queue.SimpleQueue shared by all workers)
      |  a worker takes the oldest item
      v
    _work_loop: item.run()
      |  future.set_running_or_notify_cancel(), then fn(*args)
      v
    future.set_result(value) / future.set_exception(exc)
      -> done callbacks run right here, in the worker thread
    channel.idle_workers.append(None)   # "I am free": the next submit reuses me

A pool configured with ``configure(...)`` (see _extras.py) puts a
``_ConfiguredWorkItem`` on the same queue instead: its ``run`` gives back the
item's ``_PendingLimit`` place, records the timeline, registers a deadline
with the pool's ``_Watchdog`` (task_timeout) and runs the call in a copied
context (copy_context), around the same steps.

Workers and the pool share only a ``_Channel`` (the queue, the idle-worker
tokens, the lock, the flags and a configured pool's ``_PendingLimit``); a
worker never holds a reference to the pool, so a pool that is dropped without
``shutdown`` is garbage collected, and its finalizer tells the workers to stop.

Stopping: ``shutdown``, the pool's finalizer and the interpreter-exit hook
all call ``_Channel.close``, which puts one ``None`` (the stop sentinel) at
the end of ``work_queue``. Because the queue is FIFO, every item queued
before it runs first. A worker that takes the sentinel puts it back for the
next worker and exits.

Guarantees / Assumptions
------------------------
* ``queue.SimpleQueue`` is FIFO and its ``put`` never blocks, so putting the
  sentinel (even from a finalizer) cannot deadlock.
* ``work_queue`` is only read with ``get()`` (block forever) or
  ``get_nowait()``, never ``get(timeout=...)``: on Python 3.9 and 3.10 a
  timed ``SimpleQueue.get`` on an empty queue can miss its deadline and block
  forever if the thread is descheduled at the wrong moment (a CPython bug,
  fixed in 3.11; ``tests/test_static_checks.py`` keeps this rule).
* No user code runs under a pool lock. Done callbacks and the
  ``on_task_done`` hook run when a future is settled, and no future is
  settled while ``_Channel.lock`` or the ``_Watchdog``'s ``_condition`` is
  held: workers and the watchdog settle holding no lock, and ``close`` and
  ``break_pool`` drain the queue under the lock and settle after releasing it
  (``_Channel``'s docstring says why that is safe). So a callback may call
  ``submit``, ``shutdown`` or ``configure``.
* Worker threads are not daemons: the interpreter waits for them at exit.
  ``_exit.py`` closes every live channel before that wait, so workers finish
  the queued work and exit instead of waiting forever for more.
"""

from __future__ import annotations

import collections
import concurrent.futures  # identity only: a base class of MiniThreadPool (see there)
import contextvars
import itertools
import logging
import queue
import threading
import weakref

# Deliberate borrowing: the stdlib's exception class, so that
# `except concurrent.futures.thread.BrokenThreadPool` catches ours.
from concurrent.futures.thread import BrokenThreadPool as BrokenThreadPool
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

from ._errors import InvalidStateError
from ._executor import Executor
from ._exit import interpreter_is_exiting, usable_cpu_count, watch_until_exit
from ._extras import TaskTimeout, _make_options, _Options, _PendingLimit
from ._future import Future
from ._naming import _describe_call
from ._timeline import PoolStats, _stats_not_enabled, _TimedFuture, _Tracker
from ._watchdog import _Watchdog

if TYPE_CHECKING:
    from typing_extensions import ParamSpec, Self

    P = ParamSpec("P")

T = TypeVar("T")

__all__ = ["BrokenThreadPool", "MiniThreadPool", "ThreadPoolExecutor"]

LOGGER = logging.getLogger("minipool")

_INITIALIZER_FAILED = "A thread initializer failed, the thread pool is not usable anymore"


class _WorkItem:
    """One submitted call and the Future that will hold its outcome."""

    def __init__(self, future: Future[Any], fn: Callable[..., Any], args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> None:
        self.future = future
        self.fn = fn
        self.args = args
        self.kwargs = kwargs

    def run(self) -> None:
        if not self.future.set_running_or_notify_cancel():
            return  # cancelled while it waited in the queue
        try:
            result = self.fn(*self.args, **self.kwargs)
        except BaseException as exc:
            self.future.set_exception(exc)
            # Break the cycle exc -> traceback -> this frame -> self -> future
            # -> exc, which would keep them (and this worker's Thread, through
            # the frame's callers) alive until the cyclic collector runs.
            del self
        else:
            self.future.set_result(result)


class _Channel:
    """Everything a pool and its worker threads share.

    ``lock`` guards ``closed`` and ``broken`` and makes "check the flags, then
    enqueue" one step for ``submit``. The race it prevents:

      1. submit() sees broken is None;
      2. a worker's initializer fails: it sets broken and fails every queued
         item, then exits;
      3. submit() enqueues its item -- no worker will ever take it, and its
         future never completes.

    Holding ``lock`` across 1 and 3, and across 2, makes that impossible.

    No future is settled under ``lock``: settling runs done callbacks, user
    code that may call ``submit`` (which takes ``lock``: a deadlock). So
    ``close(cancel_queued=True)`` and ``break_pool`` take the items out of
    the queue under ``lock`` and settle them after releasing it. That keeps
    the race above away:

      1. close()/break_pool() sets closed/broken and drains the queue in one
         hold of ``lock``, then releases it;
      2. a submit() takes ``lock``, sees closed/broken and raises: no item
         joins the queue after the drain;
      3. a worker takes from the queue: the drained items are not there;
      4. close()/break_pool() settles the drained items: it is the only
         thread that holds them, so each is settled exactly once. (A user's
         cancel() in between is decided under the future's own lock: then
         step 4 only notifies.)
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.work_queue: queue.SimpleQueue[Optional[_WorkItem]] = queue.SimpleQueue()
        # One token per free worker: a worker appends one each time it becomes
        # free; submit pops one (never blocking) to claim a free worker instead
        # of starting a new one.
        # Speed: a deque, not a threading.Semaphore. append() and pop() are
        # single C calls, atomic under the GIL (and locked per object on
        # free-threaded builds), so submit and the workers share no lock
        # here. A Semaphore is a Condition and a counter in Python code:
        # about 1.2 us per task for release + acquire(timeout=0), and a lock
        # that submit and every worker contend for.
        self.idle_workers: collections.deque[None] = collections.deque()
        self.closed = False  # set once, by close(); owned by `lock`
        self.broken: Optional[str] = None  # set once, by a failing initializer
        # Set by configure(max_pending=...): closed with the channel, so that
        # a submit waiting for room wakes up when the pool closes or breaks.
        self.limit: Optional[_PendingLimit] = None

    def check_accepting(self) -> None:
        """Raise the error a submit gets now, if any. Call with ``lock`` held."""
        if self.broken is not None:
            raise BrokenThreadPool(self.broken)
        if self.closed:
            raise RuntimeError("cannot schedule new futures after shutdown")
        if interpreter_is_exiting():
            raise RuntimeError("cannot schedule new futures after interpreter shutdown")

    def close(self, cancel_queued: bool = False) -> None:
        """Stop accepting work; the workers finish what is queued, then exit.

        With *cancel_queued*, what is still queued is cancelled instead.
        Idempotent. Taking the items out of the queue and closing happen in
        one step under ``lock``, so no submit can slip in between; the
        cancelling happens after, outside it (see the class docstring).
        """
        with self.lock:
            drained = self._drain() if cancel_queued else []
            if not self.closed:
                self.closed = True
                self.work_queue.put(None)
        self._close_limit()
        for item in drained:  # outside the lock: cancel() runs done callbacks
            if item.future.cancel():
                item.future.set_running_or_notify_cancel()

    def break_pool(self, reason: str) -> None:
        """Mark the pool unusable and fail every queued item.

        A queued item whose future the user already cancelled is only
        notified (set_running_or_notify_cancel returns False for it):
        set_exception on a cancelled future raises InvalidStateError, which
        would end this worker half way through the drained items and leave
        the rest pending forever (the stdlib's pool has that bug). Called in
        the worker whose initializer failed; set_running_or_notify_cancel
        decides under the future's _condition, so a concurrent cancel()
        cannot slip in between the check and set_exception. The items are
        failed outside ``lock`` (see the class docstring).
        """
        with self.lock:
            self.broken = reason
            drained = self._drain()
        self._close_limit()
        for item in drained:  # outside the lock: set_exception runs done callbacks
            if item.future.set_running_or_notify_cancel():
                item.future.set_exception(BrokenThreadPool(reason))

    def _close_limit(self) -> None:
        if self.limit is not None:
            self.limit.close()

    def _drain(self) -> list[_WorkItem]:
        items = []
        while True:
            try:
                item = self.work_queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self.work_queue.put(None)  # keep the stop sentinel for the workers
                break
            items.append(item)
        return items


class _ConfiguredWorkItem(_WorkItem):
    """A work item of a configured pool: ``run`` adds the extras around the call."""

    def __init__(self, future: Future[Any], fn: Callable[..., Any], args: tuple[Any, ...],
                 kwargs: dict[str, Any], pool: MiniThreadPool) -> None:
        super().__init__(future, fn, args, kwargs)
        options = pool._options
        assert options is not None
        self.limit = pool._channel.limit
        self.tracker = pool._tracker
        self.watchdog = pool._watchdog
        self.task_timeout = options.task_timeout
        self.context = contextvars.copy_context() if options.copy_context else None

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


def _work_loop(channel: _Channel, initializer: Optional[Callable[..., object]],
               initargs: tuple[Any, ...]) -> None:
    """The body of every worker thread."""
    if initializer is not None:
        try:
            initializer(*initargs)
        except BaseException:
            LOGGER.critical("Exception in initializer:", exc_info=True)
            channel.break_pool(_INITIALIZER_FAILED)
            return
    while True:
        item = channel.work_queue.get()
        if item is None:
            channel.work_queue.put(None)  # pass the stop sentinel on
            return
        item.run()
        del item  # do not keep the finished call's arguments alive while idle
        channel.idle_workers.append(None)


def _default_max_workers() -> int:
    """The stdlib's default for the running Python."""
    return min(32, usable_cpu_count() + 4)


# The stdlib's ThreadPoolExecutor is a second base class, a deliberate
# borrowing for identity only: asyncio's set_default_executor() and dask check
# isinstance(pool, concurrent.futures.ThreadPoolExecutor). Its __init__ never
# runs, so none of its machinery (work queue, thread registry, exit hook) is
# ever made; every public method it defines is defined here or in Executor,
# and its private helpers are reachable only from those (tests/test_identity.py).
class MiniThreadPool(Executor, concurrent.futures.ThreadPoolExecutor):
    """An executor that runs each call in one of up to *max_workers* threads."""

    _pool_numbers = itertools.count()

    def __init__(
        self,
        max_workers: Optional[int] = None,
        thread_name_prefix: str = "",
        initializer: Optional[Callable[..., object]] = None,
        initargs: tuple[Any, ...] = (),
    ) -> None:
        if max_workers is None:
            max_workers = _default_max_workers()
        if max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        self._max_workers = max_workers
        self._thread_name_prefix = (
            thread_name_prefix or f"MiniThreadPool-{next(self._pool_numbers)}"
        )
        # (typeshed types the stdlib's attribute of this name as returning None.)
        self._initializer = initializer  # type: ignore[assignment]
        self._initargs = initargs
        self._channel = _Channel()
        # _workers is owned by submitting threads, under self._channel.lock.
        self._workers: list[threading.Thread] = []
        # The extras (configure()): None until configured, and then fixed.
        self._options: Optional[_Options] = None
        self._tracker: Optional[_Tracker] = None
        self._watchdog: Optional[_Watchdog] = None
        watch_until_exit(self._channel)
        # If the pool is garbage collected without shutdown, stop the workers.
        weakref.finalize(self, self._channel.close).atexit = False

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        # _options is read here without the lock, and again under it. Without
        # the second read, a submit racing configure():
        #   1. submit() reads _options: None, so it takes the plain path;
        #   2. configure() takes the lock, finds no worker yet, configures;
        #   3. submit() takes the lock and queues a plain item into a
        #      configured pool (no timeline, no deadline, not in stats()).
        # Under the lock, either configure() came first (the item goes the
        # configured way) or the submit did (configure() then refuses).
        if self._options is not None:
            return self._submit_configured(fn, args, kwargs)
        channel = self._channel
        with channel.lock:
            if self._options is None:
                channel.check_accepting()
                future: Future[T] = Future()
                channel.work_queue.put(_WorkItem(future, fn, args, kwargs))
                self._start_worker_unless_one_is_idle()
                return future
        return self._submit_configured(fn, args, kwargs)  # configure() came first

    def _start_worker_unless_one_is_idle(self) -> None:
        """Call with the channel's lock held."""
        try:
            self._channel.idle_workers.pop()
            return  # a free worker will take the item
        except IndexError:
            pass
        if len(self._workers) >= self._max_workers:
            return  # all busy: the item waits for the first to finish
        worker = threading.Thread(
            name=f"{self._thread_name_prefix}_{len(self._workers)}",
            target=_work_loop,
            args=(self._channel, self._initializer, self._initargs),
            daemon=False,
        )
        worker.start()
        self._workers.append(worker)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._channel.close(cancel_queued=cancel_futures)
        if wait:
            for worker in list(self._workers):
                worker.join()
            if self._watchdog is not None:
                self._watchdog.join()

    # ------------------------------------------ extras (opt-in, see _extras.py)
    def configure(
        self,
        *,
        max_pending: Optional[int] = None,
        submit_timeout: Optional[float] = None,
        task_timeout: Optional[float] = None,
        timeline: bool = False,
        on_task_done: Optional[Callable[[Future[Any]], object]] = None,
        copy_context: bool = False,
    ) -> Self:
        """Switch on minipool's extras; call before the first submit. Returns the pool.

        * *max_pending*: ``submit`` waits while that many tasks are queued and
          not yet running (back-pressure); *submit_timeout* bounds the wait
          (then ``TimeoutError``). Submits from the pool's own worker threads
          never wait (they could wait for themselves).
        * *task_timeout*: a task still running after that many seconds has
          its future failed with ``TaskTimeout``. A thread cannot be stopped:
          it runs on, its eventual result is discarded, and it stays busy
          (not available for other tasks) until the call returns.
        * *timeline*: every future gets a ``Timeline`` (``future.timeline``)
          and ``stats()`` works; *on_task_done(future)* is called as each
          future becomes done (and implies *timeline*).
        * *copy_context*: each task runs in a copy of the submitting thread's
          ``contextvars`` context, as ``asyncio.to_thread`` does.
        """
        options = _make_options(max_pending=max_pending, submit_timeout=submit_timeout,
                                task_timeout=task_timeout, timeline=timeline,
                                on_task_done=on_task_done, copy_context=copy_context)
        with self._channel.lock:
            if self._workers or self._options is not None:
                raise RuntimeError("configure() must be called once, before the first submit")
            if options.max_pending is not None:
                self._channel.limit = _PendingLimit(options.max_pending, options.submit_timeout)
            if options.tracks:
                self._tracker = _Tracker(options.on_task_done, None)
            if options.task_timeout is not None:
                self._watchdog = _Watchdog(f"{self._thread_name_prefix}_watchdog")
            self._options = options
        return self

    def stats(self) -> PoolStats:
        """Counts, queue depth and per-worker state (needs ``configure(timeline=True)``)."""
        if self._tracker is None:
            raise _stats_not_enabled()
        return self._tracker.snapshot()

    def _submit_configured(self, fn: Callable[..., T], args: tuple[Any, ...],
                           kwargs: dict[str, Any]) -> Future[T]:
        """``submit`` for a configured pool: the same steps, plus the extras."""
        channel = self._channel
        # A tracking pool's futures also time their callbacks (_timeline._TimedFuture).
        future: Future[T] = Future() if self._tracker is None else _TimedFuture()
        item = _ConfiguredWorkItem(future, fn, args, kwargs, self)
        limit = channel.limit
        if limit is not None and threading.current_thread() not in self._workers:
            limit.reserve(item)  # back-pressure: may wait, may raise TimeoutError
        try:
            with channel.lock:
                channel.check_accepting()
                if self._tracker is not None:
                    self._tracker.task_submitted(future)
                if limit is not None:  # a cancelled queued task frees its place at once
                    future.add_done_callback(lambda _: limit.release(item))
                channel.work_queue.put(item)
                self._start_worker_unless_one_is_idle()
        except BaseException:
            if limit is not None:
                limit.release(item)
            raise
        return future


ThreadPoolExecutor = MiniThreadPool
