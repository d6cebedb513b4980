"""MiniThreadPool: run calls in a bounded set of worker threads.

Threads
-------
* *Submitting threads*: any thread that calls ``submit``/``map``/``shutdown``.
* *Worker threads* (``MiniThreadPool-N_i``, at most ``max_workers``), each
  running ``_work_loop``, started lazily: one per ``submit`` that finds no
  idle worker.

How a task flows::

    submit(fn, *args)
      |  wraps the call in a _WorkItem holding a new Future
      v
    shared.work_queue  (a queue.SimpleQueue shared by all workers)
      |  a worker takes the oldest item
      v
    _work_loop: item.run()
      |  future.set_running_or_notify_cancel(), then fn(*args)
      v
    future.set_result(value) / future.set_exception(exc)
      -> done callbacks run right here, in the worker thread
    shared.idle_workers.append(None)   # "I am free": the next submit reuses me

Workers and the pool share only a ``_Shared`` (the queue, the idle-worker
tokens, the lock, the flags); a worker never holds the pool, so a pool
dropped without ``shutdown`` is collected, and its finalizer stops them.
``configure(...)`` loads ``_thread_extras.py``, which plugs in its own
``submit``: it queues ``_ConfiguredWorkItem``s on the same queue.

Stopping: ``shutdown``, the finalizer and the interpreter-exit hook
(``_exit.py``) call ``_Shared.close``, which puts one ``None`` (the stop
sentinel) after every queued item; a worker that takes it puts it back for
the next worker and exits. Workers are not daemons: at interpreter exit they
finish the queued work, then exit.

Guarantees / Assumptions
------------------------
* ``queue.SimpleQueue`` is FIFO and its ``put`` never blocks, so putting the
  sentinel (even from a finalizer) cannot deadlock.
* ``work_queue`` is read only with ``get()`` or ``get_nowait()``: a timed
  ``SimpleQueue.get`` can block forever on 3.9 and 3.10 (a CPython bug;
  ``tests/test_static_checks.py`` keeps this rule).
* No user code runs under ``_Shared.lock``: workers settle futures holding
  no lock, and ``close`` and ``break_pool`` settle the items they drained
  after releasing it (see ``_Shared``). So a callback may call ``submit``.
"""

from __future__ import annotations

import collections
import concurrent.futures  # identity only: a base class of MiniThreadPool (see there)
import itertools
import logging
import queue
import threading
import weakref

# Deliberate borrowing: the stdlib's exception class, so that
# `except concurrent.futures.thread.BrokenThreadPool` catches ours.
from concurrent.futures.thread import BrokenThreadPool as BrokenThreadPool
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol, TypeVar

from ._executor import Executor
from ._exit import interpreter_is_exiting, usable_cpu_count, watch_until_exit
from ._future import Future

if TYPE_CHECKING:
    from typing_extensions import ParamSpec, Self

    from ._stats import PoolStats

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
            # Break the cycle exc -> traceback -> frame -> self -> future -> exc,
            del self  # which would keep this worker's Thread alive until a gc pass
        else:
            self.future.set_result(result)


class _Shared:
    """Everything a pool and its worker threads share.

    ``lock`` guards ``closed`` and ``broken`` and makes "check the flags, then
    enqueue" one step for ``submit``. The race it prevents:

      1. submit() sees broken is None;
      2. a worker's initializer fails: it sets broken and fails every queued
         item, then exits;
      3. submit() enqueues its item: no worker will ever take it.

    Holding ``lock`` across 1 and 3, and across 2, makes that impossible.

    No future is settled under ``lock`` (its callbacks may call ``submit``,
    which takes ``lock``: a deadlock), so ``close(cancel_queued=True)`` and
    ``break_pool`` drain under ``lock`` and settle after. The race stays away:

      1. close()/break_pool() sets closed/broken and drains the queue in one
         hold of ``lock``; 2. a submit() then sees the flag and raises;
      3. a worker finds no drained item in the queue; 4. close()/break_pool()
         alone holds them, so each is settled once (a user's cancel() in
         between is decided under the future's own lock: step 4 only notifies).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.work_queue: queue.SimpleQueue[Optional[_WorkItem]] = queue.SimpleQueue()
        # One token per free worker: a worker appends one each time it becomes
        # free; submit pops one (never blocking) to claim a free worker instead
        # of starting a new one. A deque, not a Semaphore: append() and pop()
        # take no lock (why: docs/performance.md, "Idle thread workers").
        self.idle_workers: collections.deque[None] = collections.deque()
        self.closed = False  # set once, by close(); owned by `lock`
        self.broken: Optional[str] = None  # set once, by a failing initializer
        # Hook: called, outside the lock, once the pool closes or breaks (a
        # configured pool's max_pending wakes its waiting submits).
        self.on_close: list[Callable[[], None]] = []

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

        With *cancel_queued*, what is still queued is cancelled instead,
        after ``lock`` is released (see the class docstring). Idempotent.
        """
        with self.lock:
            drained = self._drain() if cancel_queued else []
            if not self.closed:
                self.closed = True
                self.work_queue.put(None)
        self._run_close_hooks()
        for item in drained:  # outside the lock: cancel() runs done callbacks
            if item.future.cancel():
                item.future.set_running_or_notify_cancel()

    def break_pool(self, reason: str) -> None:
        """Mark the pool unusable and fail every queued item (outside ``lock``).

        Called in the worker whose initializer failed. An item the user
        already cancelled is only notified: set_exception on it would raise
        InvalidStateError and leave the rest pending forever (the stdlib's
        pool has that bug). set_running_or_notify_cancel decides under the
        future's _condition, so a concurrent cancel() cannot slip in between.
        """
        with self.lock:
            self.broken = reason
            drained = self._drain()
        self._run_close_hooks()
        for item in drained:  # outside the lock: set_exception runs done callbacks
            if item.future.set_running_or_notify_cancel():
                item.future.set_exception(BrokenThreadPool(reason))

    def _run_close_hooks(self) -> None:
        for hook in self.on_close:
            hook()

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


def _work_loop(shared: _Shared, initializer: Optional[Callable[..., object]],
               initargs: tuple[Any, ...]) -> None:
    """The body of every worker thread."""
    if initializer is not None:
        try:
            initializer(*initargs)
        except BaseException:
            LOGGER.critical("Exception in initializer:", exc_info=True)
            shared.break_pool(_INITIALIZER_FAILED)
            return
    while True:
        item = shared.work_queue.get()
        if item is None:
            shared.work_queue.put(None)  # pass the stop sentinel on
            return
        item.run()
        del item  # do not keep the finished call's arguments alive while idle
        shared.idle_workers.append(None)


def _default_max_workers() -> int:
    """The stdlib's default for the running Python."""
    return min(32, usable_cpu_count() + 4)


class _Extras(Protocol):  # what configure() plugs in: _thread_extras._ThreadExtras
    def submit(self, pool: MiniThreadPool, fn: Callable[..., T], args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> Future[T]: ...
    def stats(self) -> PoolStats: ...
    def join(self) -> None: ...  # shutdown(wait=True): the extras' own thread


# The stdlib's ThreadPoolExecutor is a second base class, for identity only
# (asyncio's set_default_executor() and dask check isinstance). Its __init__
# never runs; every public method it defines is defined here or in Executor
# (tests/test_identity.py).
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
        self._shared = _Shared()
        # _workers is owned by submitting threads, under self._shared.lock.
        self._workers: list[threading.Thread] = []
        self._extras: Optional[_Extras] = None  # configure(): then fixed
        watch_until_exit(self._shared)
        # If the pool is garbage collected without shutdown, stop the workers.
        weakref.finalize(self, self._shared.close).atexit = False

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        # _extras is read again under the lock, against a submit racing configure():
        #   1. submit() reads _extras: None; 2. configure() takes the lock, finds
        #   no worker yet, configures; 3. submit() takes the lock and would queue
        #   a plain item into a configured pool (no timeline, no deadline).
        extras = self._extras
        if extras is None:
            shared = self._shared
            with shared.lock:
                extras = self._extras
                if extras is None:
                    shared.check_accepting()
                    future: Future[T] = Future()
                    shared.work_queue.put(_WorkItem(future, fn, args, kwargs))
                    self._start_worker_unless_one_is_idle()
                    return future
        return extras.submit(self, fn, args, kwargs)  # configure() came first

    def _start_worker_unless_one_is_idle(self) -> None:
        """Call with the shared lock held."""
        try:
            self._shared.idle_workers.pop()
            return  # a free worker will take the item
        except IndexError:
            pass
        if len(self._workers) >= self._max_workers:
            return  # all busy: the item waits for the first to finish
        worker = threading.Thread(
            name=f"{self._thread_name_prefix}_{len(self._workers)}",
            target=_work_loop,
            args=(self._shared, self._initializer, self._initargs),
            daemon=False,
        )
        worker.start()
        self._workers.append(worker)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._shared.close(cancel_queued=cancel_futures)
        if wait:
            for worker in list(self._workers):
                worker.join()
            if self._extras is not None:
                self._extras.join()

    # ------------------------------------ extras (opt-in, see _thread_extras.py)
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
        """Switch on minipool's extras (docs/extras.md) before the first submit; the pool.

        *task_timeout* fails an overrunning task's future with ``TaskTimeout``
        (its thread runs on; the result is discarded).
        """
        from ._thread_extras import configure_thread_pool  # the extras load here only

        configure_thread_pool(
            self, max_pending=max_pending, submit_timeout=submit_timeout,
            task_timeout=task_timeout, timeline=timeline, on_task_done=on_task_done,
            copy_context=copy_context)
        return self

    def stats(self) -> PoolStats:
        """Counts, queue depth and per-worker state (needs ``configure(timeline=True)``)."""
        if self._extras is None:
            from ._stats import _stats_not_enabled

            raise _stats_not_enabled()
        return self._extras.stats()


ThreadPoolExecutor = MiniThreadPool
