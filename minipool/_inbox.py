"""The process pool's inbox: what the submitting threads and the dispatcher share.

Submitting threads and the dispatcher thread (``_dispatcher.py``) use it
under ``_Inbox.lock``; it has no thread of its own and never holds the pool::

    submit -> _Inbox.send_now(item): into the shared channel now, if nothing
              is pending and a worker is there to take it (_channel.py)
           or _Inbox.pending.append(item); _Inbox.wake_dispatcher()
                                             -> one byte on the wake-up pipe
    _Dispatcher: _selector.select() returns -> _Inbox.take_wakeup()
                 _hand_out_work(): _Inbox.pending.popleft() -> send_to_channel
"""

from __future__ import annotations

import collections
import itertools
import multiprocessing
import threading

# Deliberate borrowing: the stdlib's exception class, so that
# `except concurrent.futures.process.BrokenProcessPool` catches ours.
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any, Callable, Optional

from ._exit import interpreter_is_exiting
from ._future import Future
from ._naming import _describe_call

if TYPE_CHECKING:
    from ._channel import _Channel


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
        # How many of the oldest pending items would be handed to the workers
        # now: the channel's room (a configured pool: its free workers), written
        # by the dispatcher's _hand_out_work and by send_now;
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
        # Default pools: the shared channel (_channel.py), set by the
        # dispatcher; the calls in it or taken from it and not yet replied to,
        # by call number (running, for their futures); the numbers of those
        # the full channel did not take yet, oldest first; how many workers
        # may take calls (published by the dispatcher).
        self.channel: Optional[_Channel] = None
        self.in_channel: dict[int, _WorkItem] = {}
        self.unsent: collections.deque[int] = collections.deque()
        self.channel_takers = 0
        self._call_numbers = itertools.count()
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

    def send_now(self, item: _WorkItem) -> bool:
        """Put new *item* into the shared channel now, if nothing is pending
        (so *item* is next anyway) and a worker is there to take it without
        waiting for another call; True if it did. Call with ``lock`` held.
        It spares the dispatcher a wake-up per call (why: docs/performance.md).

        Nothing may be pending, or a newer call could start before an older one:
          1. call A is pending: the only worker was busy when it came;
          2. the dispatcher reads that worker's reply: the worker is free, but
             A is not in the channel yet;
          3. a submit of call B finds a free worker and sends B: B starts
             first (``tests/test_races.py`` forces this).
        """
        if (self.channel is None or self.pending or self.unsent or self.terminating
                or len(self.in_channel) >= self.channel_takers):
            return False
        seq = next(self._call_numbers)
        if not self.channel.send(seq, item.payload):
            return False
        item.future.set_running_or_notify_cancel()  # a new future: never cancelled yet
        self.in_channel[seq] = item
        self.free_workers -= 1  # exact again at the dispatcher's _hand_out_work
        return True

    def send_to_channel(self, item: _WorkItem) -> None:
        """Give running *item* its call number and send it (or, if the channel
        is full, keep it in ``unsent``). Call with ``lock`` held (dispatcher)."""
        seq = next(self._call_numbers)
        self.in_channel[seq] = item
        if self.unsent or self.channel is None or not self.channel.send(seq, item.payload):
            self.unsent.append(seq)

    def send_unsent(self) -> None:
        """Send what the full channel did not take, oldest first, while it
        takes them. Call with ``lock`` held (dispatcher)."""
        while self.unsent and self.channel is not None:
            seq = self.unsent[0]
            if not self.channel.send(seq, self.in_channel[seq].payload):
                return
            self.unsent.popleft()

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

        With *cancel_pending*, those the workers are about to be handed still
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
