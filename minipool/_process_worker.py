"""The worker's side of the process pool: what runs in each child process.

One process per worker, started by the dispatcher (``_dispatcher.py``) with
``_worker_main`` as its target and its own end of a duplex pipe, ``pipe``,
which no other process uses; in a default pool also the workers' end of the
shared channel, ``channel``, and the write end of its own ``journal``
(``_channel.py``). It has one thread, and holds no lock of the parent's.

How a call flows through a worker::

    _worker_main(pipe, initializer, initargs, channel=, journal=, max_tasks=)
      _initialized: initializer(*initargs)
                    a failure -> _send_frame(pipe, _INIT_FAILED + traceback); exit
                    else      -> _send_frame(pipe, _READY)
      _serve_channel, until _STOP, max_tasks calls, or the parent dies:
        message = channel.recv(..., MSG_DONTWAIT)     the next call, if one is there;
                                                      else _ChannelWatcher.next_event()
        _note_taken(journal, seq)                     its number, before it runs
        [a ticket: _fetch(): _send_frame(pipe, _FETCH + seq); call = pipe.recv_bytes()]
        _send_frame(pipe, _run_call(call, seq))
          _run_call: pickle.loads(call) -> fn(*args, **kwargs) -> _reply(_RESULT, value)
                     or _exception_reply(exc)

A configured pool's workers run ``_process_extras._configured_worker_main``
instead: the same ``_initialized`` and ``_run_call``, their calls one at a
time down their own pipe.

Guarantees / Assumptions
------------------------
* A worker runs one call at a time. It writes to its pipe only what the
  dispatcher reads whenever the pipe is readable (replies, ``_FETCH``,
  ``_READY``), and the dispatcher writes to it only a stop message or the
  payload the worker asked for: neither side can be blocked writing while
  the other is (see ``_dispatcher.py``).
* A call's number is in the journal before the call runs, so a worker that
  dies running it is blamed for it and for no other (``_channel.py``).
* A forked worker inherits copies of the parent's locks. It never takes
  them: it runs only this module on its own pipe, and leaves through the
  ``os._exit`` of multiprocessing's bootstrap.
* A forked worker inherits the parent's end of its own pipe too, so it
  would never see end-of-file there if the parent died: ``_ChannelWatcher``
  watches the parent's sentinel as well.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import pickle
import select
import selectors
import socket
import traceback
from multiprocessing.connection import Connection
from typing import Any, Callable, Optional

from ._channel import _CHANNEL_LIMIT
from ._naming import _describe_call, _short_repr
from ._wire import (
    _FETCH,
    _INIT_FAILED,
    _READY,
    _RESULT,
    _SEQ,
    _STOP,
    _exception_reply,
    _reason,
    _reply,
    _same_kind_of_error,
    _send_frame,
    _unpickling_error,
)


def _worker_main(pipe: Connection, initializer: Optional[Callable[..., object]],
                 initargs: tuple[Any, ...], *, channel: socket.socket, journal: Connection,
                 max_tasks: Optional[int]) -> None:
    """The body of every worker process of a default pool: once initialized,
    take calls from the shared *channel* and run them, until told to stop,
    or *max_tasks* are done, or the parent dies (``_channel.py``)."""
    if _initialized(pipe, initializer, initargs):
        _serve_channel(pipe, channel, journal.fileno(), max_tasks)


def _initialized(pipe: Connection, initializer: Optional[Callable[..., object]],
                 initargs: tuple[Any, ...]) -> bool:
    """Run the initializer, if any, and tell the parent how it went."""
    if initializer is not None:
        try:
            initializer(*initargs)
        except BaseException:
            _send_frame(pipe, _reply(_INIT_FAILED, traceback.format_exc()))
            return False
        _send_frame(pipe, _READY)
    return True


def _serve_channel(pipe: Connection, channel: socket.socket, journal: int,
                   max_tasks: Optional[int]) -> None:
    """Take calls from the channel and run them, one at a time."""
    done = 0
    with _ChannelWatcher(pipe, channel) as watcher:
        while max_tasks is None or done < max_tasks:
            try:  # the next call, if one is there already; else wait for one
                message = channel.recv(_SEQ.size + _CHANNEL_LIMIT, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                event = watcher.next_event()
                if event is None:
                    return  # the parent died
                if event == "message" and pipe.recv_bytes() == _STOP:
                    return
                continue  # a call arrived (or another free worker took it)
            seq = message[:_SEQ.size]
            _note_taken(journal, seq)
            call = message[_SEQ.size:] or _fetch(pipe, watcher, seq)
            if call is None:
                return
            _send_frame(pipe, _run_call(call, seq))
            del call, message  # do not keep the finished call's arguments alive while idle
            done += 1


def _note_taken(journal: int, seq: bytes) -> None:
    """Write the number of the call this worker runs next to its journal: if
    it dies running the call, the dispatcher reads the number there."""
    os.write(journal, seq)


def _fetch(pipe: Connection, watcher: _ChannelWatcher, seq: bytes) -> Optional[bytes]:
    """The payload of a call too large for the channel: asked for, down the pipe."""
    _send_frame(pipe, _FETCH + seq)
    if watcher.wait_for_pipe():
        call = pipe.recv_bytes()
        if call != _STOP:
            return call
    return None


class _ChannelWatcher:
    """Waits for a call on the shared channel, a message on the worker's own
    pipe, or its parent's death (``_serve_channel``).

    Where there is epoll (Linux), the channel is watched with
    ``EPOLLEXCLUSIVE``: a call wakes one of the free workers waiting for it,
    not all of them (each waiting worker has its own epoll, which is what
    that flag is for). Elsewhere, a selector: every free worker wakes, and
    those whose ``recv`` comes too late wait again.
    """

    def __init__(self, pipe: Connection, channel: socket.socket) -> None:
        self._pipe = pipe
        parent = multiprocessing.parent_process()
        self._parent = parent.sentinel if parent is not None else None
        watched = [fd for fd in (pipe.fileno(), self._parent) if fd is not None]
        self._epoll = select.epoll() if hasattr(select, "epoll") else None
        self._selector = selectors.DefaultSelector() if self._epoll is None else None
        for fd in [*watched, channel.fileno()]:
            if self._epoll is not None:
                exclusive = _EXCLUSIVE if fd == channel.fileno() else 0
                self._epoll.register(fd, select.EPOLLIN | exclusive)
            else:
                assert self._selector is not None
                self._selector.register(fd, selectors.EVENT_READ)

    def next_event(self) -> Optional[str]:
        """Wait: "message" (on the pipe: first), "call" (on the channel), or
        None if the parent process died first."""
        while True:
            if self._epoll is not None:
                ready = {fd for fd, _ in self._epoll.poll()}
            else:
                assert self._selector is not None
                ready = {key.fd for key, _ in self._selector.select()}
            if self._parent in ready:
                return None
            if self._pipe.fileno() in ready:
                return "message"
            if ready:
                return "call"

    def wait_for_pipe(self) -> bool:
        """Wait for a message on the pipe only; False if the parent died first."""
        waitables: list[Any] = [self._pipe]
        if self._parent is not None:
            waitables.append(self._parent)
        return self._pipe in multiprocessing.connection.wait(waitables)

    def __enter__(self) -> _ChannelWatcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for poller in (self._epoll, self._selector):
            if poller is not None:
                poller.close()


_EXCLUSIVE = getattr(select, "EPOLLEXCLUSIVE", 0)


def _run_call(call: bytes, seq: bytes = b"") -> memoryview:
    """Unpickle and run one call; return the reply (with the call's *seq*, if any)."""
    try:
        fn, args, kwargs = pickle.loads(call)
    except BaseException as exc:  # even SystemExit from a __reduce__: see _unpickling_error
        return _exception_reply(_unpickling_error(
            exc, f"cannot unpickle the call in worker process {os.getpid()}: {_reason(exc)}"),
            seq)
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:
        return _exception_reply(exc, seq)
    try:
        return _reply(_RESULT, result, seq)
    except Exception as exc:
        task = _describe_call(fn, args, kwargs)
        return _exception_reply(_same_kind_of_error(
            exc, f"cannot pickle the result of task {task}, {_short_repr(result)}: {exc}"), seq)
    except BaseException as exc:  # SystemExit from a __reduce__: the outcome, as in the stdlib
        return _exception_reply(exc, seq)
