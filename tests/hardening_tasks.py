"""Task functions and initializers for tests/test_hardening.py (issue 12).

A module of their own, importable by ``spawn``/``forkserver`` workers, beside
``process_tasks`` and ``extras_tasks``. Pipes reach the workers as
initializer arguments (inherited under fork, never pickled through the pool).
"""

from __future__ import annotations

import os
import subprocess
from typing import Any

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
