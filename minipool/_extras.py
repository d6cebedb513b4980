"""What minipool adds beyond the stdlib, opt-in: the options and their errors.

Both pools keep the stdlib's constructor (the compat suite asserts
``ThreadPoolExecutor.__init__``'s signature is the stdlib's), so the extras
are switched on by a new method, ``pool.configure(...)``, called before the
first ``submit``. It validates its keywords into one ``_Options`` and
returns the pool, so ``with MiniThreadPool(4).configure(max_pending=100) as
pool:`` reads as one line. A pool that is never configured runs exactly the
stdlib-identical code it ran before: each extra is a ``None`` check away.

This module holds what both pools share:

* ``_Options``: the validated keywords;
* ``WorkerCrashed`` and ``TaskTimeout``: the errors a future gets;
* ``_PendingLimit``: back-pressure for ``submit`` (``max_pending``).

Threads: ``_PendingLimit`` is used by submitting threads (``reserve``) and by
whoever takes work off the queue (``release``: a worker thread, or the
process pool's dispatcher thread). It has no thread of its own.
"""

from __future__ import annotations

import threading

# Deliberate borrowing: the stdlib's class, so `except BrokenProcessPool` catches ours.
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

from ._errors import TimeoutError
from ._stats import WorkerId
from ._timeouts import lock_wait

if TYPE_CHECKING:
    from ._future import Future

__all__ = ["TaskTimeout", "WorkerCrashed"]

# ------------------------------------------------------------------ errors
class WorkerCrashed(BrokenProcessPool):
    """A worker process died while running this task; the pool lives on.

    Raised only by a pool configured with ``survive_crashes=True``. It is a
    ``BrokenProcessPool``, so code written for the stdlib's pool still
    catches it. Attributes: ``task`` (the call, as text), ``pid``,
    ``exitcode`` (negative: killed by a signal), ``signal_name`` (or None),
    ``attempts`` (how many times the task was started).
    """

    def __init__(self, message: str, *, task: str, pid: Optional[int],
                 exitcode: Optional[int], signal_name: Optional[str], attempts: int) -> None:
        super().__init__(message)
        self.task = task
        self.pid = pid
        self.exitcode = exitcode
        self.signal_name = signal_name
        self.attempts = attempts

    def __reduce__(self) -> Any:
        fields = {name: getattr(self, name)
                  for name in ("task", "pid", "exitcode", "signal_name", "attempts")}
        return (_rebuild, (type(self), self.args[0], fields))


class TaskTimeout(TimeoutError):
    """The task ran longer than the pool's ``task_timeout``.

    A ``TimeoutError`` (``minipool.TimeoutError``). Attributes: ``task`` (the
    call, as text), ``limit`` (seconds) and ``worker`` (the thread's name or
    the process's pid). In a process pool the worker was killed and replaced;
    in a thread pool the thread runs on and its result is discarded.
    """

    def __init__(self, message: str, *, task: str, limit: float,
                 worker: Optional[WorkerId]) -> None:
        super().__init__(message)
        self.task = task
        self.limit = limit
        self.worker = worker

    def __reduce__(self) -> Any:
        fields = {name: getattr(self, name) for name in ("task", "limit", "worker")}
        return (_rebuild, (type(self), self.args[0], fields))


def _rebuild(cls: Any, message: str, attributes: dict[str, Any]) -> BaseException:
    """Unpickle a WorkerCrashed or TaskTimeout (their attributes are keyword-only)."""
    error: BaseException = cls(message, **attributes)
    return error


# ----------------------------------------------------------------- options
@dataclass(frozen=True)
class _Options:
    """The validated keywords of ``configure`` (see each pool's docstring)."""

    max_pending: Optional[int] = None
    submit_timeout: Optional[float] = None
    task_timeout: Optional[float] = None
    timeline: bool = False
    on_task_done: Optional[Callable[[Future[Any]], object]] = None
    on_worker_exit: Optional[Callable[[WorkerId, Optional[int]], object]] = None
    copy_context: bool = False  # thread pool only
    survive_crashes: bool = False  # process pool only
    crash_retries: int = 0  # process pool only

    @property
    def tracks(self) -> bool:
        """True if the pool keeps timelines and counts (stats() works)."""
        return self.timeline or self.on_task_done is not None or self.on_worker_exit is not None


# configure()'s checks. The rule: a value of the wrong type is a TypeError,
# a value of the right type but out of range a ValueError, and every message
# names the keyword. bool is a subclass of int, so counts and timeouts refuse
# it by name (max_pending=True is a mistake, not 1).
_FLAGS = ("timeline", "copy_context", "survive_crashes")
_HOOKS = ("on_task_done", "on_worker_exit")


def _check_flag(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {value!r}")


def _check_count(name: str, value: object, smallest: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if value < smallest:
        raise ValueError(f"{name} must be >= {smallest}, not {value!r}")


def _check_seconds(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds or None, not {value!r}")
    if not value > 0:  # also refuses nan
        raise ValueError(f"{name} must be > 0, not {value!r}")


def _make_options(**keywords: Any) -> _Options:
    """Check ``configure``'s keywords; raise TypeError/ValueError naming the bad one."""
    options = _Options(**keywords)
    for name in _FLAGS:
        _check_flag(name, getattr(options, name))
    if options.max_pending is not None:
        _check_count("max_pending", options.max_pending, smallest=1)
    _check_count("crash_retries", options.crash_retries, smallest=0)
    for name in ("submit_timeout", "task_timeout"):
        if getattr(options, name) is not None:
            _check_seconds(name, getattr(options, name))
    for name in _HOOKS:
        hook = getattr(options, name)
        if hook is not None and not callable(hook):
            raise TypeError(f"{name} must be callable, not {hook!r}")
    if options.submit_timeout is not None and options.max_pending is None:
        raise ValueError("submit_timeout needs max_pending (submit only waits when it is set)")
    if options.crash_retries and not options.survive_crashes:
        raise ValueError("crash_retries needs survive_crashes=True")
    return options


# ------------------------------------------------------------ back-pressure
class _PendingLimit:
    """At most ``size`` tasks queued and not yet running; ``reserve`` waits for room.

    ``_condition`` guards ``_holders`` and ``_closed``; it is notified when
    a task leaves the queue (``release``) and when the pool closes or breaks
    (``close``), so a waiting ``submit`` then wakes up and raises the pool's
    error instead of waiting for room that will never come.

    ``_holders`` is the set of queued items holding a place. ``release`` is
    idempotent (an item leaves the set once), so a task may be released both
    when it is taken off the queue and when it is cancelled there, whichever
    comes first, without counting twice.
    """

    def __init__(self, size: int, timeout: Optional[float]) -> None:
        self.size = size
        self.timeout = timeout
        self._condition = threading.Condition()
        self._holders: set[int] = set()
        self._closed = False

    def reserve(self, token: object) -> None:
        """Wait for room and hold a place for *token*; TimeoutError after ``timeout``."""
        with self._condition:
            if not self._condition.wait_for(self._has_room, lock_wait(self.timeout)):
                raise TimeoutError(
                    f"submit() waited {self.timeout} s for room: {self.size} tasks "
                    f"(max_pending) are already queued and not yet running")
            self._holders.add(id(token))

    def release(self, token: object) -> None:
        """*token* left the queue (it started, or was cancelled, or was dropped)."""
        with self._condition:
            if id(token) in self._holders:
                self._holders.discard(id(token))
                self._condition.notify()

    def close(self) -> None:
        """The pool stops accepting work: wake every waiting ``submit``."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    def _has_room(self) -> bool:
        return self._closed or len(self._holders) < self.size
