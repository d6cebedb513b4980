"""Task functions for the extras tests (crash survival, timeouts, timelines).

A module of their own, importable by ``spawn``/``forkserver`` workers, beside
the gated tasks of ``process_tasks``.
"""

from __future__ import annotations

import os
import threading
from typing import Any


def square_and_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def worker_name() -> str:
    """The thread pool's worker: its thread name."""
    return threading.current_thread().name


def crash_once(marker: str) -> str:
    """Die the first time (leaving *marker* behind); succeed when run again."""
    if not os.path.exists(marker):
        with open(marker, "w"):
            pass
        os._exit(7)
    return "survived"


def always_crash() -> None:
    os._exit(5)


def wait_for(event: Any) -> str:
    """Thread pool: block until the test sets *event* (at most 30 s)."""
    if not event.wait(30):
        raise TimeoutError("wait_for(): never set")
    return "finished late"
