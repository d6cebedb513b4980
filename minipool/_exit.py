"""Interpreter exit and fork(): how a pool learns about either.

Both pools keep a non-daemon thread (thread.py: the workers; process.py: the
dispatcher) that waits for work. At interpreter exit nobody will submit more,
so each pool must be told to finish what it has and stop -- otherwise the
interpreter, which joins non-daemon threads, would wait for them forever::

    pool.__init__  --watch_until_exit(pool's channel)-->  _watched (a WeakSet)
    interpreter exit: threading's exit hooks run, then non-daemon threads are joined
        _close_all_at_exit(): _exiting = True; channel.close() for each watched
        -> the pool's threads finish the queued work and end -> the join returns
    submit() after that: interpreter_is_exiting() is True -> RuntimeError

Guarantees / Assumptions
------------------------
* ``threading._register_atexit`` (private, present in 3.9+ and used by the
  stdlib's own pools for the same purpose) runs its hooks *before* the
  interpreter joins non-daemon threads. ``atexit`` runs after: too late.
* A child made by ``fork()`` inherits ``_watched`` and ``_lock`` -- the
  parent's pools, and a lock some parent thread may have held at the moment
  of the fork. The child must not close the parent's pools at its own exit
  (it would take their locks, perhaps held forever in the child), so
  ``_forget_the_parents_pools`` empties the set and replaces the lock.
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


def watch_until_exit(channel: Closeable) -> None:
    """Have *channel* closed at interpreter exit (if it still exists then)."""
    with _lock:
        _watched.add(channel)


def interpreter_is_exiting() -> bool:
    return _exiting


def _close_all_at_exit() -> None:
    global _exiting
    with _lock:
        _exiting = True
        channels = list(_watched)
    for channel in channels:
        channel.close()


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
