"""Interpreter exit and fork(): how a pool learns about either.

Both pools keep non-daemon threads (the workers; the dispatcher) that wait
for work; the interpreter joins them at exit, so each pool must be told to
finish what it has and stop, or the join would wait forever::

    pool.__init__  --watch_until_exit(_Shared or _Inbox)-->  _watched (a WeakSet)
    interpreter exit: threading's exit hooks run, then non-daemon threads are joined
        _close_all_at_exit(): _exiting = True; closeable.close() for each watched
        -> the pool's threads finish the queued work and end -> the join returns
    submit() after that: interpreter_is_exiting() is True -> RuntimeError

Guarantees / Assumptions
------------------------
* ``threading._register_atexit`` (private, present in 3.9+ and used by the
  stdlib's own pools for the same purpose) runs its hooks *before* the
  interpreter joins non-daemon threads. ``atexit`` runs after: too late.
* A forked child inherits ``_watched`` and ``_lock`` (maybe held by a parent
  thread at the fork); closing the parent's pools at its exit could take a
  lock held forever, so ``_forget_the_parents_pools`` empties both.
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from typing import Protocol


class Closeable(Protocol):
    def close(self) -> None: ...


# _lock guards _watched and _exiting. _exiting is set once, at exit.
_lock = threading.Lock()
_watched: weakref.WeakSet[Closeable] = weakref.WeakSet()
_exiting = False


def watch_until_exit(closeable: Closeable) -> None:
    """Have *closeable* closed at interpreter exit (if it still exists then)."""
    with _lock:
        _watched.add(closeable)


def interpreter_is_exiting() -> bool:
    return _exiting


def _close_all_at_exit() -> None:
    global _exiting
    with _lock:
        _exiting = True
        closeables = list(_watched)
    for closeable in closeables:
        closeable.close()


def _forget_the_parents_pools() -> None:
    global _lock, _watched, _exiting
    _lock = threading.Lock()
    _watched = weakref.WeakSet()
    _exiting = False


if hasattr(threading, "_register_atexit"):
    threading._register_atexit(_close_all_at_exit)
else:  # pragma: no cover - every supported Python has it
    atexit.register(_close_all_at_exit)
os.register_at_fork(after_in_child=_forget_the_parents_pools)


def usable_cpu_count() -> int:
    """The CPU count the running Python's stdlib bases its pool sizes on."""
    count = os.process_cpu_count() if hasattr(os, "process_cpu_count") else os.cpu_count()
    return count or 1
