"""The thread pool's watchdog: one thread that fails futures whose deadline passed.

Used only by a ``MiniThreadPool`` configured with ``task_timeout``. (The
process pool needs no extra thread: its dispatcher already waits with a
timeout and kills the overrunning worker itself.)

Threads
-------
* *Worker threads* call ``add`` when they start a task and ``discard`` when
  it ends.
* *The watchdog thread* (``<prefix>_watchdog``), running ``_Watchdog._run``.
  It exists only while some deadline is live: ``add`` starts it if it is not
  running, and it exits as soon as no deadline is left, so an idle pool has
  no watchdog and ``shutdown(wait=True)`` can join it.

How a deadline flows::

    worker: key = add(delay, action)    -> _heap (deadline, key, action), _live
    watchdog: _condition.wait(until the earliest live deadline)
      deadline passed -> action()   (outside the lock: fails the future)
    worker: discard(key)            -> removed from _live; the heap entry is
                                       skipped when it reaches the top

``_condition`` guards ``_heap``, ``_live`` and ``_thread``; it is notified by
``add`` when the new deadline is the earliest, and by ``discard`` when no
live deadline is left (so the thread exits). Other changes need no wake-up:
the thread re-checks the heap whenever its wait ends.
``_thread`` is None exactly when no watchdog thread is running or about to
exit; the thread clears it, under the lock, in the same step in which it
decides to exit, so an ``add`` never relies on a thread that is leaving.

Guarantees / Assumptions
------------------------
* ``threading.Condition.wait(timeout)`` is used, never a timed
  ``SimpleQueue.get`` (which can hang on Python 3.9/3.10).
* The thread never dies of a huge *task_timeout* (``math.inf``, ``1e10``):
  its wait goes through ``_timeouts.lock_wait``, and a deadline of ``inf``
  simply never comes.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from typing import Callable, Optional

from ._timeouts import lock_wait


class _Watchdog:
    def __init__(self, name: str) -> None:
        self.name = name
        self._condition = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._live: set[int] = set()
        self._keys = itertools.count()
        self._thread: Optional[threading.Thread] = None

    def add(self, delay: float, action: Callable[[], None]) -> int:
        """Run *action* in the watchdog thread after *delay* s, unless discarded first."""
        with self._condition:
            key = next(self._keys)
            deadline = time.monotonic() + delay
            earliest = not self._heap or deadline < self._heap[0][0]
            heapq.heappush(self._heap, (deadline, key, action))
            self._live.add(key)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            elif earliest:
                self._condition.notify()  # it sleeps until a later deadline: wake it
            return key

    def discard(self, key: int) -> None:
        with self._condition:
            self._live.discard(key)
            self._drop_discarded_heads()  # keeps the heap small on a busy pool
            if not self._live:
                self._condition.notify()  # nothing left: let the thread exit now

    def join(self) -> None:
        """Wait for the watchdog thread, if any, to exit (it does once nothing is live)."""
        with self._condition:
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while True:
            action = self._next_due_action()
            if action is None:
                return
            action()

    def _next_due_action(self) -> Optional[Callable[[], None]]:
        """Block until a live deadline passes (its action) or none is left (None)."""
        with self._condition:
            while True:
                self._drop_discarded_heads()
                if not self._heap:
                    self._thread = None
                    return None
                deadline, key, action = self._heap[0]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    heapq.heappop(self._heap)
                    self._live.discard(key)
                    return action
                self._condition.wait(lock_wait(remaining))

    def _drop_discarded_heads(self) -> None:
        """Pop the earliest entries whose task ended in time. Call with the lock held."""
        while self._heap and self._heap[0][1] not in self._live:
            heapq.heappop(self._heap)
