"""The default process pool's shared channel: one queue of calls for all workers.

No thread of its own. The parent writes calls into it (a submitting thread,
or the dispatcher thread, always under ``_Inbox.lock``); whichever worker is
free takes the next one, as the stdlib's workers take theirs from one shared
queue, so calls start in the order they were submitted::

    _Inbox.send_to_channel(item)  [submitting or dispatcher thread, inbox.lock held]
      |  seq = the call's number; _Inbox.in_channel[seq] = item
      v
    _Channel.send(seq, payload): one message, seq + payload, or seq alone
      |                          (a "ticket") for a call over _CHANNEL_LIMIT
      v                                                    [a free worker]
    _serve_channel: channel.recv() -> _note_taken(journal, seq) -> run -> reply
      |             (a ticket: _send_frame(pipe, _FETCH + seq), then the payload
      |              comes down its own pipe: _Dispatcher._on_reply)
      v                                                 [dispatcher thread]
    _Dispatcher._on_reply: reply = kind + seq + pickle -> in_channel.pop(seq)

Each worker still has its own pipe, for its replies and its stop message,
and a *journal* (a one-way pipe nobody waits on) where it writes the number of
each call it takes, before it runs it. The dispatcher reads a journal only
when its worker dies (and every ``_JOURNAL_READ_EVERY`` replies, so that it
never fills): the last number in it that has no reply names the call the
worker was running. A call that a worker took is always in its journal
before it runs; a worker that died between taking a call and writing its
number had not started it.

Guarantees / Assumptions
------------------------
* The channel is an ``AF_UNIX`` ``SOCK_SEQPACKET`` socket pair: the kernel
  keeps each message whole, and one ``recv`` takes one whole message, so
  several workers can read it without a lock (a worker killed in ``recv``
  takes a message or none; no lock is left held).
* The parent's end does not block: a message that does not fit (the
  socket's buffer is full: a few hundred small calls, four of 64 KiB) is not
  sent (``send`` returns False) and waits in ``_Inbox.unsent``. So the dispatcher
  thread never blocks writing while a worker is blocked writing its reply.
* A journal entry is 8 bytes (atomic on a pipe), and a worker writes one per
  call it takes, so a journal holds at most one more entry than its worker
  sent replies: read every ``_JOURNAL_READ_EVERY`` replies, it never fills.
"""

from __future__ import annotations

import os
import socket
from multiprocessing.connection import Connection
from typing import Optional

from ._wire import _SEQ

# The largest call that travels in the channel itself; a larger one sends a
# ticket, and its payload goes down the pipe of the worker that takes it.
# Well under the kernel's limit for one message (its socket buffer).
_CHANNEL_LIMIT = 64 * 1024
# How often (in replies) the dispatcher empties a live worker's journal.
_JOURNAL_READ_EVERY = 1024


def _channel_supported() -> bool:
    """Whether this system has ``AF_UNIX`` ``SOCK_SEQPACKET`` (Linux, the BSDs; not macOS)."""
    global _SUPPORTED
    if _SUPPORTED is None:
        try:
            ends = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        except (AttributeError, OSError):
            _SUPPORTED = False
        else:
            for end in ends:
                end.close()
            _SUPPORTED = True
    return _SUPPORTED


_SUPPORTED: Optional[bool] = None


class _Channel:
    """Both ends of the shared channel; the parent's never blocks."""

    def __init__(self) -> None:
        self._parent_end, self.workers_end = socket.socketpair(
            socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._parent_end.setblocking(False)

    def send(self, seq: int, payload: bytes) -> bool:
        """Queue call *seq*; False if the channel is full now (nothing sent)."""
        parts = [_SEQ.pack(seq)]
        if len(payload) <= _CHANNEL_LIMIT:
            parts.append(payload)  # else a ticket: the payload goes when asked
        try:
            self._parent_end.sendmsg(parts)
        except (BlockingIOError, InterruptedError):
            return False
        return True

    def close(self) -> None:
        self._parent_end.close()
        self.workers_end.close()


class _Journal:
    """The dispatcher's end of one worker's journal (the dispatcher thread's)."""

    def __init__(self, reader: Connection) -> None:
        self._reader = reader
        os.set_blocking(reader.fileno(), False)
        self.last_taken: Optional[int] = None  # the number of the last call it took

    def read(self) -> None:
        """Empty the journal, without blocking, and keep the last number in it."""
        data = b""
        while True:
            try:
                chunk = os.read(self._reader.fileno(), 65536)
            except OSError:  # BlockingIOError: empty now
                break
            if not chunk:
                break
            data += chunk
        whole = len(data) - len(data) % _SEQ.size
        if whole:
            self.last_taken = int(_SEQ.unpack_from(data, whole - _SEQ.size)[0])

    def close(self) -> None:
        self._reader.close()
