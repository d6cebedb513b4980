"""Task functions for the process-pool tests.

They live in a module of their own, inside the package, so that workers
started with ``spawn`` or ``forkserver`` can import them by name
(``minipool.conformance.process_tasks``).

Synchronisation with the test, without sleeps: ``install_gates`` (used as the
pool's *initializer*, so the objects are inherited, never pickled through the
pool) gives every worker

* ``reports``: the write end of a pipe; a task sends ``os.getpid()`` on it
  when it starts. Small writes to a pipe are atomic, so no lock is shared
  between workers (a worker killed mid-write can wedge nobody);
* ``doom``: a third pipe, the same kind of gate, for the tasks that kill
  their own worker: they die once the test opens it.
* ``release``: the read end of a second pipe, the gate. The test opens it
  by writing one message that nobody ever reads: the pipe then stays
  readable, so every blocked task sees it. (Not a multiprocessing Event:
  ``Event.set`` waits for every sleeper to acknowledge, and a sleeper killed
  by a test never does -- the very wedge the pool's design avoids.)
"""

from __future__ import annotations

import ctypes
import faulthandler
import os
import sys
import threading
from typing import Any, Optional

GATE_TIMEOUT = 30.0  # a task never waits longer than this for its gate

_reports: Any = None
_release: Any = None
_doom: Any = None


def install_gates(reports: Any, release: Any, doom: Any) -> None:
    global _reports, _release, _doom
    _reports, _release, _doom = reports, release, doom


def _wait_for_doom() -> None:
    """The dying tasks die only once the test has everything in place."""
    _doom.poll(GATE_TIMEOUT)


def _report_start() -> None:
    _reports.send(os.getpid())


# ------------------------------------------------------------- plain tasks
def square(x: int) -> int:
    return x * x


def add(a: int, b: int = 0) -> int:
    return a + b


def identity(x: Any) -> Any:
    return x


def pid(_: object = None) -> int:
    return os.getpid()


def size_of(data: bytes) -> int:
    return len(data)


def make_bytes(n: int) -> bytes:
    return b"x" * n


class CustomError(Exception):
    pass


def raise_value_error(*args: object) -> None:
    raise ValueError(*args)


def raise_custom(message: str) -> None:
    raise CustomError(message)


def raise_system_exit(code: int) -> None:
    raise SystemExit(code)


# ---------------------------------------------------------- gated tasks
def block(x: Any = None) -> Any:
    """Report the start, then wait for the release event; return x."""
    _report_start()
    if not _release.poll(GATE_TIMEOUT):
        raise TimeoutError("block(): never released")
    return x


def block_then_square(x: int) -> int:
    block()
    return x * x


# --------------------------------------------------------- unpicklable
def return_lock() -> Any:
    return threading.Lock()


class ErrorWithLock(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()


def raise_error_with_lock() -> None:
    raise ErrorWithLock("has a lock")


class ErrorNeedingTwoArgs(Exception):
    """Pickles fine, but cannot be unpickled: __init__ wants two arguments."""

    def __init__(self, a: str, b: str) -> None:
        super().__init__(f"{a}/{b}")


def raise_unloadable_error() -> None:
    raise ErrorNeedingTwoArgs("a", "b")


class Unloadable:
    """Pickles fine, but unpickling fails (in the parent too)."""

    def __reduce__(self) -> Any:
        return (_refuse, ())


def _refuse() -> None:
    raise ValueError("refusing to be unpickled")


def return_unloadable() -> Unloadable:
    return Unloadable()


class ExitsWhenUnpickled:
    """Pickles fine; unpickling it calls sys.exit(3) (CPython's suite's ExitAtUnpickle)."""

    def __reduce__(self) -> Any:
        return (sys.exit, (3,))


class ExitsWhenPickled:
    """Pickling it calls sys.exit(3) (CPython's suite's ExitAtPickle)."""

    def __reduce__(self) -> Any:
        raise SystemExit(3)


class ErrorExitingWhenUnpickled(Exception):
    """An exception whose unpickling calls sys.exit(3)."""

    def __reduce__(self) -> Any:
        return (sys.exit, (3,))


def return_instance(cls: type) -> Any:
    return cls()


def raise_error_exiting_when_unpickled() -> None:
    raise ErrorExitingWhenUnpickled()


def return_argument_count(*args: Any) -> int:
    return len(args)


# ----------------------------------------------------------- initializers
def failing_initializer() -> None:
    raise ValueError("initializer says no")


_initialized: Optional[int] = None


def remember_initialized(value: int) -> None:
    global _initialized
    _initialized = value


def initialized_value() -> Optional[int]:
    return _initialized


# ------------------------------------------------------------------ deaths
def kill_self_with(signum: int) -> None:
    _report_start()
    _wait_for_doom()
    os.kill(os.getpid(), signum)
    _release.poll(GATE_TIMEOUT)  # the signal arrives first


def exit_abruptly(code: int) -> None:
    _report_start()
    _wait_for_doom()
    os._exit(code)


def report_then_make_bytes(n: int) -> bytes:
    _report_start()
    return b"z" * n


def segfault() -> None:
    _report_start()
    _wait_for_doom()
    faulthandler.disable()  # inherited from pytest: would print a dump
    ctypes.string_at(0)  # reads address 0: SIGSEGV


# ------------------------------------------------- parent side (the tests)
class Gates:
    """The parent's side of install_gates: hear tasks start, release them."""

    def __init__(self, context: Any) -> None:
        self._reader, self._writer = context.Pipe(duplex=False)
        self._gate_reader, self._gate_writer = context.Pipe(duplex=False)
        self._doom_reader, self._doom_writer = context.Pipe(duplex=False)
        self._released = False

    def pool_arguments(self) -> dict[str, Any]:
        return {"initializer": install_gates, "initargs": (self._writer, self._gate_reader,
                                                        self._doom_reader)}

    def let_die(self) -> None:
        """Let the dying tasks (kill_self_with, exit_abruptly, segfault) die."""
        self._doom_writer.send_bytes(b"die")

    def release(self) -> None:
        """Let every blocked task (and every later one) go on."""
        if not self._released:
            self._released = True
            self._gate_writer.send_bytes(b"go")

    def wait_started(self) -> int:
        """The pid of the next task to start (fails after GATE_TIMEOUT)."""
        assert self._reader.poll(GATE_TIMEOUT), "no task started"
        started: int = self._reader.recv()
        return started

    def close(self) -> None:
        self.release()
        for end in (self._reader, self._writer, self._gate_reader, self._gate_writer,
                    self._doom_reader, self._doom_writer):
            end.close()


# ------------------------------------------- map's automatic chunks (perf)
def square_or_raise_if_negative(x: int) -> int:
    if x < 0:
        raise ValueError(f"negative: {x}")
    return x * x


def lock_if_negative(x: int) -> Any:
    return threading.Lock() if x < 0 else x
