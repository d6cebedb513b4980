"""Task functions and initializers for tests/test_hardening.py (issue 12).

A module of their own, importable by ``spawn``/``forkserver`` workers, beside
``process_tasks`` and ``extras_tasks``. Pipes reach the workers as
initializer arguments (inherited under fork, never pickled through the pool).
"""

from __future__ import annotations

import multiprocessing.context
import os
import subprocess
import threading
from typing import Any, Optional

GATE_TIMEOUT = 30.0  # an initializer or task never waits longer than this for its gate


def fail_once_the_gate_opens(gate: Any) -> None:
    """An initializer that fails, but only once the test has its futures in place."""
    gate.poll(GATE_TIMEOUT)
    raise ValueError("initializer fails on purpose")


def exit_in_initializer(code: int) -> None:
    """An initializer that kills its worker process: the task never starts."""
    os._exit(code)


_report: Any = None


def install_report(report: Any) -> None:
    """Initializer: keep the write end of the test's pipe."""
    global _report
    _report = report


def start_a_child_and_wait_for_it() -> int:
    """Start ``sleep 25``, tell the test its pid, wait for it (the task must be slow)."""
    child = subprocess.Popen(["sleep", "25"])
    _report.send(child.pid)
    return child.wait()


# ------------------------------------------ holding a worker's start (race 8b)
class StartGate:
    """Holds every worker process's ``start()`` until the test opens it (parent side)."""

    def __init__(self) -> None:
        self.starting = threading.Event()  # set when a start() reached the gate
        self.go_on = threading.Event()  # set by the test: the start() goes on


start_gate: Optional[StartGate] = None  # set by the test; None: no gate


class GatedSpawnProcess(multiprocessing.context.SpawnProcess):
    """A spawn process whose ``start()`` waits at ``start_gate`` first.

    Its class travels to the child (spawn pickles the process object), so it
    lives here, in a module the child can import.
    """

    def start(self) -> None:
        gate = start_gate
        if gate is not None:
            gate.starting.set()
            assert gate.go_on.wait(GATE_TIMEOUT), "the test never opened the start gate"
        super().start()


class GatedSpawnContext(multiprocessing.context.SpawnContext):
    """The spawn context, making GatedSpawnProcess workers."""

    Process = GatedSpawnProcess
