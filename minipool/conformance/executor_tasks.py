"""Task functions and a gate for test_executor.py: tasks that may run anywhere.

The executors under test may run a task in a thread, in a child process or
on a dask worker (another process, in principle another machine). So these
tasks share nothing with the test but a loopback TCP connection:
``SocketGate`` listens; ``gated`` connects to it, reports its pid (the
connection itself says "I started"), and blocks on ``recv`` until the test
sends ``b"go"``. No polling, no sleeps; every wait has GATE_TIMEOUT.
They live in a module of their own, inside the package, so that worker
processes import them by name (``minipool.conformance.executor_tasks``).
"""

from __future__ import annotations

import os
import socket
from typing import Any

GATE_TIMEOUT = 30.0  # a task or a test never waits longer than this for the other side


def gated(address: tuple[str, int], value: Any = None) -> Any:
    """Tell the gate this task started, wait until it says go, return *value*."""
    with socket.create_connection(address, timeout=GATE_TIMEOUT) as conn:
        conn.sendall(b"%d\n" % os.getpid())
        if conn.recv(2) != b"go":
            raise RuntimeError("gated(): the gate closed without letting the task go")
    return value


def keywords(**kwargs: Any) -> dict[str, Any]:
    return kwargs


def square(x: int) -> int:
    return x * x


class SocketGate:
    """The test's side: hears ``gated`` tasks start, lets them go."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.address: tuple[str, int] = self._server.getsockname()[:2]
        self._started: list[socket.socket] = []  # one connection per started task

    def wait_started(self) -> int:
        """The pid that runs the next task to start (fails after GATE_TIMEOUT)."""
        self._server.settimeout(GATE_TIMEOUT)
        conn, _ = self._server.accept()
        conn.settimeout(GATE_TIMEOUT)
        self._started.append(conn)
        return int(conn.makefile("rb").readline())

    def release(self) -> None:
        """Let every task that has started so far go on."""
        for conn in self._started:
            conn.sendall(b"go")

    def close(self) -> None:
        """Let everything go (late starters too), then close every connection."""
        self._server.setblocking(False)
        try:
            while True:
                self._started.append(self._server.accept()[0])
        except BlockingIOError:
            pass  # no task is knocking any more
        for conn in self._started:
            try:
                conn.setblocking(True)
                conn.sendall(b"go")
            except OSError:
                pass  # that task is gone already
            conn.close()
        self._server.close()
