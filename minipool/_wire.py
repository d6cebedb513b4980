"""The process pool's wire format: what travels to a worker, and back.

No threads of its own: the submitting thread pickles calls (``_pickle_call``),
a worker process builds replies (``_reply``, ``_exception_reply``) and writes
them as frames (``_send_frame``), and the dispatcher thread reads them
(``_FrameReader``, ``_settle``).

The messages::

    parent -> workers  (the shared channel, _channel.py) _SEQ + _pickle_call(...):
                       a call's number and the pickled (fn, args, kwargs);
                       _SEQ alone: a call too large for the channel (a ticket)
    parent -> worker   (its own pipe) _STOP: b"", exit now; the payload it
                       asked for; a configured pool's call, _pickle_call(...)
    worker -> parent   (its own pipe, each a frame: _FRAME length, then bytes)
                       _RESULT + _SEQ + the pickled value
                       _EXCEPTION + _SEQ + a pickled (pickled exception, its traceback)
                       _FETCH + _SEQ: "send me the payload of this ticket"
                       _INIT_FAILED + the pickled traceback text of the initializer
                       _READY, and (configured pools, whose replies have no _SEQ)
                       _STARTED: b"s", "I start the call now"

    _settle(future, reply): reads the kind byte first, then unpickles
      _RESULT    -> future.set_result(value)
      _EXCEPTION -> future.set_exception(_remote_error(...)),
                    its __cause__ a RemoteTraceback (the worker's traceback)

A reply is one kind byte and then one pickle, in one buffer: the value is
pickled once and unpickled from a memoryview of the message (why:
docs/performance.md, "Replies are a kind byte and one pickle"). The kind byte
is read before anything is unpickled, so a value or an exception the parent
cannot unpickle fails only its future.

Errors keep their type, reworded to name the task (``_same_kind_of_error``);
whatever an unpickling raises -- even ``SystemExit`` -- fails one future and
never the dispatcher thread (``_unpickling_error``).
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import traceback
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any, Callable, Optional, Union

from ._future import Future
from ._naming import _describe_call, _short_repr

_STOP = b""  # the stop message: a worker that receives it exits
# Configured pools only (survive_crashes, task_timeout): a worker says it is
# about to run the call it received. Not a pickle: every pickle starts with b"\x80".
_STARTED = b"s"
# Pools with an initializer only: a worker says its initializer returned, so
# that a worker dying before this message is known to have died in it, not in
# its task. Once per worker; the default pool (no initializer) never sends it.
_READY = b"r"
_RESULT = b"R"
_EXCEPTION = b"E"
_INIT_FAILED = b"I"
# Default pools only (the shared channel, _channel.py): a worker that took a
# call too large for the channel asks for its payload, which comes down its pipe.
_FETCH = b"F"
# A call's number on the shared channel, as it travels: in the channel's
# message, in the worker's journal, and in its reply after the kind byte.
_SEQ = struct.Struct("<Q")


def _dumps(obj: object) -> bytes:
    """Pickle as multiprocessing does (its reducers know pipes, sockets ...)."""
    return bytes(ForkingPickler.dumps(obj))


def _same_kind_of_error(original: Exception, message: str) -> Exception:
    """An exception of *original*'s type (TypeError, PicklingError ...) saying *message*."""
    try:
        error = type(original)(message)
    except Exception:  # a type that wants other arguments
        error = pickle.PicklingError(message)
    error.__cause__ = original
    return error


def _unpickling_error(original: BaseException, message: str) -> Exception:
    """The error a future gets when what a worker sent cannot be unpickled.

    An Exception keeps its type (see _same_kind_of_error). Anything else that
    a ``__reduce__`` raised -- ``SystemExit``, ``KeyboardInterrupt`` -- becomes
    an ``UnpicklingError``: a bad payload fails one future; it must never end
    the dispatcher thread (every pending future would then wait forever) or
    the program of the thread that reads the result.
    """
    if isinstance(original, Exception):
        return _same_kind_of_error(original, message)
    error = pickle.UnpicklingError(message)
    error.__cause__ = original
    return error


def _reason(exc: BaseException) -> str:
    """What went wrong, for a message: an error's text; else (SystemExit(3)) its repr."""
    if isinstance(exc, Exception) and str(exc):
        return str(exc)
    return repr(exc)


# ------------------------------------------------------- parent -> worker
def _first_unpicklable_part(fn: Callable[..., Any], args: tuple[Any, ...],
                            kwargs: dict[str, Any]) -> str:
    parts: list[tuple[str, object]] = [("the function", fn)]
    parts += [(f"argument {i}", value) for i, value in enumerate(args)]
    parts += [(f"keyword argument {key!r}", value) for key, value in kwargs.items()]
    for name, value in parts:
        try:
            _dumps(value)
        except Exception:
            return name
    return "the call"


def _pickle_call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    """The call, pickled; if it cannot be, an error naming the part that could not."""
    try:
        return _dumps((fn, args, kwargs))
    except Exception as exc:
        part = _first_unpicklable_part(fn, args, kwargs)
        raise _same_kind_of_error(
            exc, f"cannot pickle {part} of task {_describe_call(fn, args, kwargs)}: {exc}"
        ) from exc


# ------------------------------------------------------- worker -> parent
# Every message a worker sends is a frame: its length, then its bytes. The
# dispatcher reads whatever a pipe holds at once (_FrameReader), so that replies
# that piled up while it was busy cost it one read, not two each.
_FRAME = struct.Struct("<Q")
_READ_SIZE = 64 * 1024  # one read of a worker's pipe: what the pipe's buffer can hold


def _send_frame(pipe: Connection, data: Union[bytes, memoryview]) -> None:
    """Write one frame to the parent (small ones in one write)."""
    header = _FRAME.pack(len(data))
    if len(data) <= _READ_SIZE:
        _write_all(pipe.fileno(), header + data)
    else:
        _write_all(pipe.fileno(), header)
        _write_all(pipe.fileno(), data)


def _write_all(fd: int, data: Union[bytes, memoryview]) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class _FrameReader:
    """The dispatcher's reader of one worker's frames (its pipe's fd stays blocking)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = b""  # the start of a frame whose rest is not there yet

    def read_frames(self) -> list[bytes]:
        """The frames the pipe holds now: one read, which the caller knows will not
        block (the pipe is readable). A frame larger than a read is read whole now.
        EOFError: the worker's end is closed (it died, or exited)."""
        chunk = os.read(self._fd, _READ_SIZE)
        if not chunk:
            raise EOFError
        data = self._buffer + chunk if self._buffer else chunk
        frames, start = [], 0
        while len(data) - start >= _FRAME.size:
            (size,) = _FRAME.unpack_from(data, start)
            end = start + _FRAME.size + size
            if end <= len(data):
                frames.append(data[start + _FRAME.size:end])  # one copy: data is bytes
                start = end
            elif size > _READ_SIZE:  # a large reply: its worker is writing the rest now
                frames.append(self._read_rest(data[start + _FRAME.size:], size))
                start = len(data)
            else:
                break  # a small frame's rest comes with the next read
        self._buffer = data[start:]
        return frames

    def _read_rest(self, first: bytes, size: int) -> bytes:
        body = bytearray(size)
        body[:len(first)] = first
        view, got = memoryview(body), len(first)
        while got < size:
            read = os.readv(self._fd, [view[got:]])
            if not read:
                raise EOFError
            got += read
        return bytes(body)  # one copy, as Connection.recv_bytes makes
def _reply(kind: bytes, obj: object, seq: bytes = b"") -> memoryview:
    """*kind*, the call's *seq* (channel calls), then *obj* pickled as
    multiprocessing does, in one buffer (no copy)."""
    buffer = io.BytesIO()
    buffer.write(kind)
    buffer.write(seq)
    ForkingPickler(buffer).dump(obj)
    return buffer.getbuffer()


def _exception_reply(exc: BaseException, seq: bytes = b"") -> memoryview:
    return _reply(_EXCEPTION, _exception_body(exc), seq)


def _exception_body(exc: BaseException) -> tuple[bytes, str]:
    """(the pickled exception, its formatted traceback): what _remote_error undoes."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        body = _dumps(exc)
    except Exception as error:
        message = f"cannot pickle the exception {_short_repr(exc)} raised by the task: {error}"
        body = _dumps_error(_same_kind_of_error(error, message))
    return body, text


def _dumps_error(error: Exception) -> bytes:
    try:
        return _dumps(error)
    except Exception:
        return _dumps(pickle.PicklingError(str(error)))


# ----------------------------------------------- the parent reads a reply
class RemoteTraceback(Exception):
    """The ``__cause__`` of an exception raised in a worker: its traceback, as text."""

    def __init__(self, pid: Optional[int], traceback_text: str) -> None:
        super().__init__(pid, traceback_text)
        self.pid = pid
        self.traceback_text = traceback_text

    def __str__(self) -> str:
        return f'\n"""\n(in worker process {self.pid})\n{self.traceback_text}"""'


def _settle(future: Future[Any], reply: bytes, pid: Optional[int],
            describe_task: Callable[[], str], seq_size: int = 0) -> None:
    """Set *future* from a worker's reply (its callbacks run here); *seq_size*:
    the bytes of the call's number after the kind byte (channel calls)."""
    kind, body = reply[:1], memoryview(reply)[1 + seq_size:]
    if kind == _RESULT:
        try:
            value = pickle.loads(body)
        except BaseException as exc:  # even SystemExit: see _unpickling_error
            future.set_exception(_unpickling_error(
                exc, f"cannot unpickle the result of task {describe_task()}: {_reason(exc)}"))
            return
        future.set_result(value)
        return
    exception_body, text = pickle.loads(body)  # bytes and str: always unpickle
    future.set_exception(_remote_error(exception_body, text, pid, describe_task))


def _remote_error(body: bytes, text: str, pid: Optional[int],
                  describe_task: Callable[[], str]) -> BaseException:
    """The exception a task raised in a worker, its traceback as its ``__cause__``."""
    try:
        error = pickle.loads(body)
    except BaseException as exc:  # even SystemExit: see _unpickling_error
        error = _unpickling_error(
            exc, f"cannot unpickle the exception raised by task {describe_task()}: {_reason(exc)}")
    error.__cause__ = RemoteTraceback(pid, text)
    assert isinstance(error, BaseException)
    return error
