"""Timeouts as the waits underneath accept them: ``math.inf`` means no limit.

minipool lets any positive timeout through, ``math.inf`` included, but a
lock's wait refuses one above ``threading.TIMEOUT_MAX`` and ``select()``
one above ``SELECT_MAX`` (a C int of milliseconds: about 24.8 days), with
``OverflowError``. Every timed wait passes its timeout through ``lock_wait``
or ``select_wait`` first, so no caller and no background thread dies of a
value validation let through. No threads here.
"""

from __future__ import annotations

import math
import threading
from typing import Optional

# Longer than this is "no limit" for a lock: centuries, so nobody can tell
# the difference. Half of TIMEOUT_MAX leaves room for Condition.wait_for,
# which waits for (now + timeout) - later_now, rounded.
_LOCK_NO_LIMIT_ABOVE = threading.TIMEOUT_MAX / 2

SELECT_MAX = 2_147_483.0  # seconds: epoll_wait() and poll() take an int of ms


def lock_wait(timeout: Optional[float]) -> Optional[float]:
    """*timeout* for a lock's or condition's wait: None (no limit) when it is
    None, ``math.inf`` or longer than a lock can wait."""
    if timeout is None or timeout > _LOCK_NO_LIMIT_ABOVE:
        return None
    return timeout


def select_wait(timeout: Optional[float]) -> Optional[float]:
    """*timeout* for ``select()``: None for no limit, else at most ``SELECT_MAX``.

    The caller waits in a loop and checks its deadline each time it wakes,
    so a wait cut short only costs one more turn of that loop.
    """
    if timeout is None or timeout == math.inf:
        return None
    return min(timeout, SELECT_MAX)
