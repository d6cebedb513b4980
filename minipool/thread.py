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
tokens, the lock and the flags); a worker never holds a reference to the
pool, so a pool that is dropped without ``shutdown`` is garbage collected,
and its finalizer tells the workers to stop.

``configure(...)`` loads ``_thread_extras.py``, which plugs in its own
``submit`` (``_ThreadExtras.submit``): it queues a ``_ConfiguredWorkItem``
on the same queue, whose ``run`` adds the extras around the same steps.

Stopping: ``shutdown``, the pool's finalizer and the interpreter-exit hook
all call ``_Shared.close``, which puts one ``None`` (the stop sentinel) at
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
* Worker threads are not daemons: the interpreter waits for them at exit.
  ``_exit.py`` closes every live pool's ``_Shared`` before that wait, so
  workers finish the queued work and exit instead of waiting forever for more.
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
            del exc  # break the cycle exc -> traceback -> this frame -> exc
        else:
            self.future.set_result(result)


class _Shared:
    """Everything a pool and its worker threads share.

    ``lock`` guards ``closed`` and ``broken`` and makes "check the flags, then
    enqueue" one step for ``submit``. The race it prevents:

      1. submit() sees broken is None;
      2. a worker's initializer fails: it sets broken and fails every queued
         item, then exits;
      3. submit() enqueues its item -- no worker will ever take it, and its
         future never completes.

    Holding ``lock`` across 1 and 3, and across 2, makes that impossible.
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

        With *cancel_queued*, what is still queued is cancelled instead.
        Idempotent. Both happen in one step under ``lock``, so no submit
        can slip in between the cancelling and the closing.
        """
        with self.lock:
            if cancel_queued:
                for item in self._drain():
                    if item.future.cancel():
                        item.future.set_running_or_notify_cancel()
            if not self.closed:
                self.closed = True
                self.work_queue.put(None)
        self._run_close_hooks()

    def break_pool(self, reason: str) -> None:
        """Mark the pool unusable and fail every queued item.

        A queued item whose future the user already cancelled is only
        notified (set_running_or_notify_cancel returns False for it):
        set_exception on a cancelled future raises InvalidStateError, which
        would end this worker half way through the drained items and leave
        the rest pending forever (the stdlib's pool has that bug). Called in
        the worker whose initializer failed; set_running_or_notify_cancel
        decides under the future's _condition, so a concurrent cancel()
        cannot slip in between the check and set_exception.
        """
        with self.lock:
            self.broken = reason
            for item in self._drain():
                if item.future.set_running_or_notify_cancel():
                    item.future.set_exception(BrokenThreadPool(reason))
        self._run_close_hooks()

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


class _Extras(Protocol):
    """What ``configure()`` plugs in: ``_thread_extras._ThreadExtras``."""

    def submit(self, pool: MiniThreadPool, fn: Callable[..., T], args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> Future[T]: ...

    def stats(self) -> PoolStats: ...

    def join(self) -> None: ...  # shutdown(wait=True): the extras' own thread


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
        self._shared = _Shared()
        # _workers is owned by submitting threads, under self._shared.lock.
        self._workers: list[threading.Thread] = []
        self._extras: Optional[_Extras] = None  # configure(): then fixed
        watch_until_exit(self._shared)
        # If the pool is garbage collected without shutdown, stop the workers.
        weakref.finalize(self, self._shared.close).atexit = False

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        if self._extras is not None:
            return self._extras.submit(self, fn, args, kwargs)
        shared = self._shared
        with shared.lock:
            shared.check_accepting()
            future: Future[T] = Future()
            shared.work_queue.put(_WorkItem(future, fn, args, kwargs))
            self._start_worker_unless_one_is_idle()
        return future

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
        """Switch on minipool's extras; call before the first submit. Returns the pool.

        *max_pending*, *submit_timeout*: back-pressure on ``submit``.
        *task_timeout*: an overrunning task's future fails with
        ``TaskTimeout`` (its thread runs on; the result is discarded).
        *timeline*, *on_task_done*: timelines and ``stats()``.
        *copy_context*: each task runs in a copy of the submitter's
        ``contextvars`` context. See docs/extras.md.
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
