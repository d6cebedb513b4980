"""MiniProcessPool: run calls in a bounded set of worker processes.

Processes and threads
---------------------
* *Submitting threads* (parent process): any thread that calls ``submit``,
  ``map``, ``shutdown``, ``terminate_workers`` or ``kill_workers``.
* *The dispatcher thread* (parent process, one per pool, named
  ``MiniProcessPool-N_dispatcher``), running ``_Dispatcher.run``: it owns the
  workers and sets the futures.
* *Worker processes* (at most ``max_workers``), each running ``_worker_main``:
  it takes calls from the one channel all workers share (``_Channel``), and
  replies on its own duplex pipe to the parent, ``_Worker.pipe``.

How a task flows, and the module that holds each step::

    submit(fn, *args)                                    [submitting thread]
      |  _pickle_call(): an unpicklable call fails its future now   _wire.py
      v
    _Inbox.send_now(item): nothing pending, a worker free: into the channel
      |  now; else _Inbox.pending.append(item); _Inbox.wake_dispatcher()
      |                                                          _inbox.py
      |                                                  [dispatcher thread]
      |  _Dispatcher._hand_out_work(): pending items into the channel while
      |  it has room, each marked running                      _dispatcher.py
      v
    _Channel.send(seq, payload): one message for whichever worker is free
      |                                                        _channel.py
      |                                                     [worker process]
      v
    _serve_channel: channel.recv() -> _run_call(payload) -> _send_frame(reply)
      |                                                  _process_worker.py
      |                                                  [dispatcher thread]
      v
    _Dispatcher._read_reply(worker) -> _on_reply -> _settle(): set_result /
         set_exception -> done callbacks run here: in the parent, in the
         dispatcher thread

``map`` sends its calls in chunks (``_process_map.py``, loaded by the first
``map``). ``configure(...)`` loads ``_process_extras.py``, which plugs in its
own ``submit`` and a ``_ConfiguredDispatcher`` (crash survival, deadlines,
timelines).

Workers start under ``fork`` all at the first submit, in the submitting
thread, before the dispatcher thread exists (a fork from a single-threaded
process is the safe kind); under ``spawn``/``forkserver`` the dispatcher
starts them on demand.

No user code runs under ``_Inbox.lock``: futures are settled with it
released (``_Inbox.close``, ``_break_pool``), so a callback may ``submit``.

Stopping: ``shutdown``, the pool's finalizer and the interpreter-exit hook
(``_exit.py``) all call ``_Inbox.close``; the dispatcher runs what is
pending, stops every worker, joins them and exits. The dispatcher thread is
not a daemon and never references the pool, so a dropped pool is collected
and its finalizer closes the inbox.
"""

from __future__ import annotations

import concurrent.futures  # identity only: a base class of MiniProcessPool (see there)
import itertools
import multiprocessing
import operator
import signal
import threading
import weakref

# Deliberate borrowing: the stdlib's exception class, so that
# `except concurrent.futures.process.BrokenProcessPool` catches ours.
from concurrent.futures.process import BrokenProcessPool as BrokenProcessPool
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Optional, Protocol, TypeVar

from ._channel import _channel_supported
from ._dispatcher import _Dispatcher, _Settings
from ._executor import Executor
from ._exit import usable_cpu_count, watch_until_exit
from ._future import Future
from ._inbox import _Inbox, _WorkItem
from ._wire import RemoteTraceback as RemoteTraceback
from ._wire import _pickle_call

if TYPE_CHECKING:
    from typing_extensions import ParamSpec, Self

    from ._stats import PoolStats

    P = ParamSpec("P")

T = TypeVar("T")

__all__ = ["BrokenProcessPool", "MiniProcessPool", "ProcessPoolExecutor", "RemoteTraceback"]


class _Extras(Protocol):
    """What ``configure()`` plugs in: ``_process_extras._ProcessExtras``."""

    def submit(self, pool: MiniProcessPool, fn: Callable[..., T], args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> Future[T]: ...

    def make_dispatcher(self, settings: _Settings) -> _Dispatcher: ...

    def stats(self) -> PoolStats: ...


def _default_max_workers() -> int:
    """The stdlib's default for the running Python."""
    return usable_cpu_count()


def _worker_count(max_workers: int) -> int:
    """*max_workers* as an int (``__index__``); TypeError for a float, as the stdlib's."""
    try:
        return operator.index(max_workers)
    except TypeError:
        raise TypeError(f"max_workers must be an integer, not {max_workers!r}") from None


def _default_context(max_tasks_per_child: Optional[int]) -> BaseContext:
    """The stdlib's choice (3.11+): spawn with max_tasks_per_child, else the default."""
    if max_tasks_per_child is not None:
        return multiprocessing.get_context("spawn")
    return multiprocessing.get_context()


# The stdlib's ProcessPoolExecutor is a second base class, a deliberate
# borrowing for identity only: libraries check isinstance(pool,
# concurrent.futures.ProcessPoolExecutor). Its __init__ never runs, so none of
# its machinery (call queue, manager thread, wake-up pipe, exit hook) is ever
# made; every public method it defines is defined here or in Executor, and its
# private helpers are reachable only from those (tests/test_identity.py).
class MiniProcessPool(Executor, concurrent.futures.ProcessPoolExecutor):
    """An executor that runs each call in one of up to *max_workers* processes."""

    _pool_numbers = itertools.count()

    def __init__(
        self,
        max_workers: Optional[int] = None,
        mp_context: Optional[BaseContext] = None,
        initializer: Optional[Callable[..., object]] = None,
        initargs: tuple[Any, ...] = (),
        *,
        max_tasks_per_child: Optional[int] = None,
    ) -> None:
        if max_workers is None:
            max_workers = _default_max_workers()
        elif max_workers <= 0:  # first, as in the stdlib: -1.0 is a ValueError
            raise ValueError("max_workers must be greater than 0")
        else:
            max_workers = _worker_count(max_workers)
        if mp_context is None:
            mp_context = _default_context(max_tasks_per_child)
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        if max_tasks_per_child is not None:
            if not isinstance(max_tasks_per_child, int):
                raise TypeError("max_tasks_per_child must be an integer")
            if max_tasks_per_child <= 0:
                raise ValueError("max_tasks_per_child must be >= 1")
        self._max_workers = max_workers
        self._mp_context = mp_context  # the stdlib's name: tests and libraries read it
        self._fork = mp_context.get_start_method() == "fork"
        self._settings = _Settings(mp_context, max_workers, max_tasks_per_child, initializer,
                                   initargs, f"MiniProcessPool-{next(self._pool_numbers)}")
        self._inbox = _Inbox(max_workers)
        # Started by the first submit; read and written under _inbox.lock.
        self._dispatcher_thread: Optional[threading.Thread] = None
        self._extras: Optional[_Extras] = None  # configure(): then fixed
        watch_until_exit(self._inbox)
        # If the pool is garbage collected without shutdown, let the work finish.
        weakref.finalize(self, self._inbox.close).atexit = False

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        # _extras is read here without the lock, and again under it in
        # _enqueue. Without the second read, a submit racing configure():
        #   1. submit() reads _extras: None, so it pickles a plain call;
        #   2. configure() takes the lock, finds no dispatcher yet, configures;
        #   3. submit() takes the lock and queues a plain item into a
        #      configured pool (no timeline: the dispatcher fails on it).
        # Under the lock, either configure() came first (the call is submitted
        # the configured way) or the submit did (configure() then refuses).
        if self._extras is not None:
            return self._extras.submit(self, fn, args, kwargs)
        try:
            payload = _pickle_call(fn, args, kwargs)
        except Exception as exc:
            return self._enqueue(fn, args, kwargs, b"", exc)
        return self._enqueue(fn, args, kwargs, payload, None)

    def _enqueue(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any],
                 payload: bytes, pickling_error: Optional[Exception]) -> Future[T]:
        """Queue the pickled call (or fail it with *pickling_error*); its Future."""
        future: Future[T] = Future()
        inbox = self._inbox
        with inbox.lock:
            extras = self._extras  # read again under the lock: see submit
            if extras is None:
                inbox.check_accepting()
                if pickling_error is None:
                    item = _WorkItem(future, payload, fn, args, kwargs)
                    if not inbox.send_now(item):
                        inbox.pending.append(item)
                        self._start_dispatcher_once()
                        inbox.wake_dispatcher()
        if extras is not None:  # configure() took the lock first: this submit comes after it
            return extras.submit(self, fn, args, kwargs)
        if pickling_error is not None:
            future.set_exception(pickling_error)  # fails now; never reaches a worker
        return future

    def _start_dispatcher_once(self) -> None:
        """Call with ``_inbox.lock`` held."""
        if self._dispatcher_thread is not None:
            return
        if self._extras is not None:
            dispatcher = self._extras.make_dispatcher(self._settings)
        elif _channel_supported():
            dispatcher = _Dispatcher(self._inbox, self._settings)
        else:  # no shared channel here (macOS): each call to an idle worker's pipe
            from ._process_extras import per_worker_dispatcher

            dispatcher = per_worker_dispatcher(self._inbox, self._settings)
        if self._fork:  # fork now, while no thread of this pool runs
            dispatcher.start_workers_now(self._max_workers)
        thread = threading.Thread(target=dispatcher.run,
                                  name=f"{self._settings.name}_dispatcher", daemon=False)
        thread.start()
        self._dispatcher_thread = thread

    def map(
        self,
        fn: Callable[..., T],
        *iterables: Iterable[Any],
        timeout: Optional[float] = None,
        chunksize: int = 1,
        buffersize: Optional[int] = None,
    ) -> Iterator[T]:
        """Like ``Executor.map``; with *chunksize* > 1, calls travel in batches.

        A batch of *chunksize* calls is one work item (one round trip to a
        worker); results still come back one by one, in input order.
        *buffersize* then counts batches.

        With the default chunksize=1 (no *buffersize*, no ``configure``), the calls still
        travel in automatic chunks, yet each call's outcome comes back on
        its own: see ``_automatic_chunksize``.
        """
        from . import _process_map  # loaded by the first map()

        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        if chunksize == 1 and buffersize is None and self._extras is None:
            return _process_map._map_in_automatic_chunks(
                self.submit, self._enqueue, fn, iterables, workers=self._max_workers,
                timeout=timeout)
        if chunksize == 1:
            return super().map(fn, *iterables, timeout=timeout, buffersize=buffersize)
        return _process_map._map_in_chunks(super().map, fn, iterables, chunksize=chunksize,
                                           timeout=timeout, buffersize=buffersize)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._inbox.close(cancel_pending=cancel_futures)
        with self._inbox.lock:
            thread = self._dispatcher_thread
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join()

    def terminate_workers(self) -> None:
        """Shut down at once: cancel pending work and SIGTERM every worker.

        Futures of running tasks fail with BrokenProcessPool (Python 3.14's API).
        """
        from ._deaths import _signal_tree

        for process in self._shutdown_now():
            _signal_tree(process, signal.SIGTERM)

    def kill_workers(self) -> None:
        """Like ``terminate_workers``, with SIGKILL (Python 3.14's API)."""
        from ._deaths import _kill

        for process in self._shutdown_now():
            _kill(process)

    def _shutdown_now(self) -> list[BaseProcess]:
        with self._inbox.lock:
            self._inbox.terminating = True
            processes = list(self._inbox.processes.values())
        self.shutdown(wait=False, cancel_futures=True)
        return processes

    # ------------------------------------ extras (opt-in, see _process_extras.py)
    def configure(
        self,
        *,
        survive_crashes: bool = False,
        crash_retries: int = 0,
        task_timeout: Optional[float] = None,
        max_pending: Optional[int] = None,
        submit_timeout: Optional[float] = None,
        timeline: bool = False,
        on_task_done: Optional[Callable[[Future[Any]], object]] = None,
        on_worker_exit: Optional[Callable[[int, Optional[int]], object]] = None,
    ) -> Self:
        """Switch on minipool's extras; call before the first submit. Returns the pool.

        *survive_crashes* (and *crash_retries*): a dead worker fails only its
        task, with ``WorkerCrashed``, and is replaced. *task_timeout*: an
        overrunning task's worker is killed, its future fails with
        ``TaskTimeout``. *max_pending*, *submit_timeout*: back-pressure on
        ``submit``. *timeline*, *on_task_done*, *on_worker_exit*: timelines,
        ``stats()`` and hooks. See docs/extras.md.
        """
        from ._process_extras import configure_process_pool  # the extras load here only

        configure_process_pool(
            self, survive_crashes=survive_crashes, crash_retries=crash_retries,
            task_timeout=task_timeout, max_pending=max_pending, submit_timeout=submit_timeout,
            timeline=timeline, on_task_done=on_task_done, on_worker_exit=on_worker_exit)
        return self

    def stats(self) -> PoolStats:
        """Counts, queue depth and per-worker state (needs ``configure(timeline=True)``)."""
        if self._extras is None:
            from ._stats import _stats_not_enabled

            raise _stats_not_enabled()
        return self._extras.stats()


ProcessPoolExecutor = MiniProcessPool
