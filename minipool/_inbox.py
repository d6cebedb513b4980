"""The process pool's inbox: what the submitting threads and the dispatcher share.

Submitting threads and the dispatcher thread (``_dispatcher.py``) use it
under ``_Inbox.lock``; it has no thread of its own and never holds the pool::

    submit -> _Inbox.hand_to_idle_worker(item): an idle worker, offered by the
              dispatcher as nothing was pending, gets it now: worker.give(item)
           or _Inbox.pending.append(item); _Inbox.wake_dispatcher()
                                             -> one byte on the wake-up pipe
    _Dispatcher: _selector.select() returns -> _Inbox.take_wakeup()
                 _next_item(): _Inbox.pending.popleft()
"""

from __future__ import annotations

import collections
import multiprocessing
import threading

# Deliberate borrowing: the stdlib's exception class, so that
# `except concurrent.futures.process.BrokenProcessPool` catches ours.
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Callable, Optional, Protocol

from ._exit import interpreter_is_exiting
from ._future import Future
from ._naming import _describe_call


class _WorkItem:
    """One submitted call: its Future, and the call pickled for a worker.

    ``fn``, ``args`` and ``kwargs`` are kept only to name the task in errors.
    """

    def __init__(self, future: Future[Any], payload: bytes, fn: Callable[..., Any],
                 args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.future = future
        self.payload = payload
        self.fn = fn
        self.args = args
        self.kwargs = kwargs

    def describe(self) -> str:
        return _describe_call(self.fn, self.args, self.kwargs)


# The largest call a submit hands straight to an idle worker: an idle
# worker's pipe is empty, so writing this much to it cannot block.
_SMALL_CALL = 16 * 1024


class _IdleWorker(Protocol):  # what the inbox needs of ``_dispatcher._Worker``
    def give(self, item: _WorkItem) -> None: ...


class _Inbox:
    """What the submitting threads and the dispatcher thread share.

    ``lock`` guards every attribute below. It makes "check the flags, then
    enqueue" one step for ``submit``, which prevents:

      1. submit() sees broken is None;
      2. the dispatcher breaks the pool and fails every pending item, then
         exits;
      3. submit() appends its item -- nobody will ever take it, and its
         future never completes.

    and likewise for ``closed`` (shutdown) in place of ``broken``.

    The wake-up pipe holds a message exactly when ``_wakeup_sent`` is True
    (both change only under ``lock``), so neither ``wake_dispatcher``'s write
    nor ``take_wakeup``'s read ever blocks.
    """

    def __init__(self, max_workers: int) -> None:
        self.lock = threading.Lock()
        self.pending: collections.deque[_WorkItem] = collections.deque()
        # How many of the oldest pending items free workers would take now
        # (written by _next_item, _publish_free_workers, hand_to_idle_worker);
        # close(cancel_pending) lets that many run, as the stdlib lets run the
        # calls it moved ahead to its workers, and cancels the rest.
        self.free_workers = max_workers
        self.closed = False  # set once, by close()
        # set once, by terminate_workers()/kill_workers(): the workers' deaths
        # are wanted, so survive_crashes must not run their tasks again
        self.terminating = False
        self.broken: Optional[str] = None  # set once, by the dispatcher
        # The live worker processes, by pid: read by terminate/kill_workers.
        self.processes: dict[int, BaseProcess] = {}
        # Idle workers a submit may hand its call to (hand_to_idle_worker):
        # offered by the dispatcher while nothing is pending, taken back by it
        # before it hands out pending work itself; a submit takes one.
        self.idle_workers: list[_IdleWorker] = []
        # The wake-up pipe: opened as the dispatcher starts (open_wakeup) and
        # closed by it as it ends, so a pool never submitted to opens no fd.
        self.wakeup_reader: Optional[Connection] = None
        self._wakeup_writer: Optional[Connection] = None
        self._wakeup_sent = False
        self._wakeup_closed = False
        # Hook: called, outside the lock, once the inbox closes or the pool
        # breaks (a configured pool's max_pending wakes its waiting submits).
        self.on_close: list[Callable[[], None]] = []

    def check_accepting(self) -> None:
        """Raise the error a submit gets now, if any. Call with ``lock`` held."""
        if self.broken is not None:
            raise BrokenProcessPool(self.broken)
        if self.closed:
            raise RuntimeError("cannot schedule new futures after shutdown")
        if interpreter_is_exiting():
            raise RuntimeError("cannot schedule new futures after interpreter shutdown")

    def hand_to_idle_worker(self, item: _WorkItem) -> bool:
        """Give new *item* to an idle worker now, if the dispatcher offered one
        and nothing is pending (so *item* is next anyway); True if it did. Call
        with ``lock`` held. It spares the dispatcher a wake-up per call (why:
        docs/performance.md, "A submit hands its call to an idle worker").

        The dispatcher takes its offer back before it hands out pending work
        (``_hand_out_work``). Without that:
          1. a worker is idle, and offered here;
          2. a call too large for this path is pending: the dispatcher gives
             it to that worker;
          3. meanwhile a submit takes the same worker and gives it its call:
             the worker has two calls, and its first reply settles the wrong
             future.
        """
        if (not self.idle_workers or self.pending or self.terminating
                or len(item.payload) > _SMALL_CALL):
            return False
        worker = self.idle_workers.pop()
        item.future.set_running_or_notify_cancel()  # a new future: never cancelled yet
        self.free_workers -= 1  # exact again at the dispatcher's _publish_free_workers
        worker.give(item)
        return True

    def is_broken(self) -> bool:
        with self.lock:
            return self.broken is not None

    def open_wakeup(self) -> Connection:
        """Open the wake-up pipe; its read end. Call with ``lock`` held, once."""
        self.wakeup_reader, self._wakeup_writer = multiprocessing.Pipe(duplex=False)
        return self.wakeup_reader

    def wake_dispatcher(self) -> None:
        """Make the dispatcher's ``_selector.select()`` return. Call with ``lock`` held.

        Before the dispatcher starts there is no pipe, and nothing to wake:
        its first turn looks at ``pending`` before it ever waits.
        """
        if self._wakeup_writer is not None and not self._wakeup_sent and not self._wakeup_closed:
            self._wakeup_writer.send_bytes(b"!")
            self._wakeup_sent = True

    def take_wakeup(self) -> None:
        """Empty the wake-up pipe. Call with ``lock`` held (dispatcher only)."""
        if self._wakeup_sent and self.wakeup_reader is not None:
            self.wakeup_reader.recv_bytes()
            self._wakeup_sent = False

    def close_wakeup(self) -> None:
        with self.lock:
            self._wakeup_closed = True
            for end in (self.wakeup_reader, self._wakeup_writer):
                if end is not None:
                    end.close()

    def close(self, cancel_pending: bool = False) -> None:
        """Stop accepting work; what is pending still runs, unless *cancel_pending*.

        With *cancel_pending*, those that free workers are about to take still
        run (``free_workers``). Idempotent; safe from any thread and the exit hook.
        """
        with self.lock:
            cancelled = []
            if cancel_pending:
                keep = 0 if self.terminating else max(0, self.free_workers)  # none will start
                while len(self.pending) > keep:
                    cancelled.append(self.pending.pop())
                cancelled.reverse()
            self.closed = True
            self.wake_dispatcher()
        self.run_close_hooks()
        for item in cancelled:  # outside the lock: cancel() runs callbacks
            item.future.cancel()
            item.future.set_running_or_notify_cancel()

    def run_close_hooks(self) -> None:
        for hook in self.on_close:
            hook()
