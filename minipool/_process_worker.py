"""The worker's side of the process pool: what runs in each child process.

One process per worker, started by the dispatcher (``_dispatcher.py``) with
``_worker_main`` as its target and its own end of a duplex pipe, ``pipe``,
which no other process uses. It has one thread, and holds no lock of the
parent's.

How a call flows through a worker::

    _worker_main(pipe, initializer, initargs)
      initializer(*initargs)   a failure -> pipe.send_bytes(_INIT_FAILED + traceback); exit
                               else      -> pipe.send_bytes(_READY)
      loop:
        _CallWatcher.call_arrives()   waits on the pipe and on the parent's sentinel
        call = pipe.recv_bytes()      _STOP (b"") -> exit
        [announce_start: pipe.send_bytes(_STARTED)]     configured pools only
        pipe.send_bytes(_run_call(call))
          _run_call: pickle.loads(call) -> fn(*args, **kwargs) -> _reply(_RESULT, value)
                     or _exception_reply(exc)

Guarantees / Assumptions
------------------------
* A worker runs one call at a time and writes only after it has read a
  call, so the traffic on its pipe is strict request/reply (see
  ``_dispatcher.py``). ``_READY`` and ``_STARTED`` are a few bytes: they
  always fit in the pipe's buffer, so they cannot block.
* A forked worker inherits copies of the parent's locks. It never takes
  them: it runs only this module on its own pipe, and leaves through the
  ``os._exit`` of multiprocessing's bootstrap.
* A forked worker inherits the parent's end of its own pipe too, so it
  would never see end-of-file there if the parent died: ``_CallWatcher``
  watches the parent's sentinel as well.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import selectors
import traceback
from multiprocessing.connection import Connection
from typing import Any, Callable, Optional

from ._naming import _describe_call, _short_repr
from ._wire import (
    _INIT_FAILED,
    _READY,
    _RESULT,
    _STARTED,
    _STOP,
    _exception_reply,
    _reason,
    _reply,
    _same_kind_of_error,
    _unpickling_error,
)


def _worker_main(pipe: Connection, initializer: Optional[Callable[..., object]],
                 initargs: tuple[Any, ...], announce_start: bool = False) -> None:
    """The body of every worker process: run calls from *pipe* until told to stop."""
    if initializer is not None:
        try:
            initializer(*initargs)
        except BaseException:
            pipe.send_bytes(_reply(_INIT_FAILED, traceback.format_exc()))
            return
        pipe.send_bytes(_READY)
    with _CallWatcher(pipe) as watcher:
        while watcher.call_arrives():
            call = pipe.recv_bytes()
            if call == _STOP:
                return
            if announce_start:
                pipe.send_bytes(_STARTED)
            pipe.send_bytes(_run_call(call))
            del call  # do not keep the finished call's arguments alive while idle


class _CallWatcher:
    """Waits for the next message on a worker's pipe, or its parent's death.

    One selector for the worker's life, not ``multiprocessing.connection.wait()``,
    which builds a new one per call (why: docs/performance.md, "One selector").
    """

    def __init__(self, pipe: Connection) -> None:
        self._selector = selectors.DefaultSelector()
        self._selector.register(pipe.fileno(), selectors.EVENT_READ, "call")
        parent = multiprocessing.parent_process()
        if parent is not None:
            self._selector.register(parent.sentinel, selectors.EVENT_READ, "parent died")

    def call_arrives(self) -> bool:
        """Wait for the next message; False if the parent process died first."""
        while True:
            ready = [key.data for key, _ in self._selector.select()]
            if ready:
                return "call" in ready

    def __enter__(self) -> _CallWatcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._selector.close()


def _run_call(call: bytes) -> memoryview:
    """Unpickle and run one call; return the reply."""
    try:
        fn, args, kwargs = pickle.loads(call)
    except BaseException as exc:  # even SystemExit from a __reduce__: see _unpickling_error
        return _exception_reply(_unpickling_error(
            exc, f"cannot unpickle the call in worker process {os.getpid()}: {_reason(exc)}"))
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:
        return _exception_reply(exc)
    try:
        return _reply(_RESULT, result)
    except Exception as exc:
        task = _describe_call(fn, args, kwargs)
        return _exception_reply(_same_kind_of_error(
            exc, f"cannot pickle the result of task {task}, {_short_repr(result)}: {exc}"))
    except BaseException as exc:  # SystemExit from a __reduce__: the outcome, as in the stdlib
        return _exception_reply(exc)
