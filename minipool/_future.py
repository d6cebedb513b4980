"""The Future: a box that one thread fills and any number of threads read.

Threads: the *producer* (a pool's worker thread, or the process pool's
dispatcher thread) calls the setters ``set_running_or_notify_cancel``,
``set_result``, ``set_exception``; *consumers* (any thread) read it.

Life of a Future::

                 cancel()                      set_running_or_notify_cancel()
    PENDING ----------------> CANCELLED ----------------------------------> CANCELLED_AND_NOTIFIED
       |                                      (the producer learns the work
       | set_running_or_notify_cancel()        was cancelled and skips it)
       v
    RUNNING ----------------> FINISHED   (set_result / set_exception; these are
                                          also allowed straight from PENDING)

Every setter goes through ``_TRANSITIONS`` (below): the one table that says
which move is legal. A move that is not in the table is refused, and each
setter turns the refusal into the error the stdlib raises for it.

Callbacks run exactly once, in order of addition, in the thread that made
the future done (a worker, or the thread that called ``cancel``).

Guarantees / Assumptions
------------------------
* ``_condition`` (an ``RLock``, despite the stdlib's name) is the only lock:
  every read-modify-write of ``_state``, ``_result``, ``_exception``,
  ``_callbacks``, ``_waiters`` and ``_sleepers`` happens under it. A thread
  that must sleep until the future is done puts a locked lock of its own in
  ``_sleepers`` and blocks on it; the step that makes the future done
  releases them all, under ``_condition``. Done is never undone, so one
  release per sleeper is all the waking it needs.
* Callbacks are taken out of ``_callbacks`` in the step that makes the
  future done and run after the lock is released: a callback may call any
  method of its future, and one added concurrently is run exactly once,
  either by the finishing thread or at once by the adding thread.
"""

from __future__ import annotations

import concurrent.futures  # only the base class asyncio requires (see class Future)
import enum
import logging
import threading
from typing import Any, Callable, Optional, TypeVar

from ._errors import CancelledError, InvalidStateError, TimeoutError
from ._timeouts import lock_wait

T = TypeVar("T")

LOGGER = logging.getLogger("minipool")


class FutureState(str, enum.Enum):
    """The five states of a Future: the stdlib's strings, which its ``wait`` reads."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    CANCELLED = "CANCELLED"
    CANCELLED_AND_NOTIFIED = "CANCELLED_AND_NOTIFIED"
    FINISHED = "FINISHED"


_S = FutureState

# The transition table: for each state, the states a Future may move to next.
# Every state change in this module goes through _move_to(), which checks it.
_TRANSITIONS: dict[FutureState, frozenset[FutureState]] = {
    _S.PENDING: frozenset({_S.RUNNING, _S.CANCELLED, _S.FINISHED}),
    _S.RUNNING: frozenset({_S.FINISHED}),
    _S.CANCELLED: frozenset({_S.CANCELLED_AND_NOTIFIED}),
    _S.CANCELLED_AND_NOTIFIED: frozenset(),
    _S.FINISHED: frozenset(),
}

_CANCELLED_STATES = frozenset({_S.CANCELLED, _S.CANCELLED_AND_NOTIFIED})
_DONE_STATES = _CANCELLED_STATES | {_S.FINISHED}


# Subclassing the stdlib Future is a deliberate borrowing: asyncio's
# wrap_future() and run_in_executor() accept only instances of
# concurrent.futures.Future. We inherit nothing else: every public method is
# written below, and the base class's __init__ is never called.
class Future(concurrent.futures.Future[T]):
    """The result of a call that may not have happened yet."""

    # The stdlib declares _state as str; ours is the (str-valued) enum.
    _state: FutureState

    def __init__(self) -> None:
        # _condition guards every attribute below. It keeps the stdlib's name
        # because both wait()/as_completed() pairs acquire `future._condition`
        # of whatever futures they are given. An RLock: re-entrant as the stdlib's
        # (its wait() calls f.exception() holding it), not a Condition (dearer to
        # make and to collect: docs/performance.md, "The Future locks with an RLock").
        # (typeshed declares the stdlib's as a Condition: the ignore below.)
        self._condition = threading.RLock()  # type: ignore[assignment]
        # One locked lock per thread sleeping in result()/exception(), each
        # released in the step that makes the future done (see _move_to).
        # None until some thread has to sleep.
        self._sleepers: Optional[list[threading.Lock]] = None
        self._state = FutureState.PENDING
        self._result: Optional[T] = None
        self._exception: Optional[BaseException] = None
        self._callbacks: list[Callable[[Future[T]], object]] = []
        # Interop only: concurrent.futures.wait()/as_completed() append their
        # waiters here and expect add_result/add_exception/add_cancelled calls.
        self._waiters: list[Any] = []

    # ------------------------------------------------------------------ state
    def _move_to(self, new_state: FutureState) -> bool:
        """Change state if the table allows it. Call with _condition held."""
        if new_state not in _TRANSITIONS[self._state]:
            return False
        self._state = new_state
        if new_state in _DONE_STATES and self._sleepers:
            for sleeper in self._sleepers:  # wake every thread in _wait_until_done
                sleeper.release()
            self._sleepers = None
        return True

    def _take_callbacks(self) -> list[Callable[[Future[T]], object]]:
        """Empty the callback list. Call with _condition held, when done."""
        callbacks, self._callbacks = self._callbacks, []
        return callbacks

    def _run_callbacks(self, callbacks: list[Callable[[Future[T]], object]]) -> None:
        for callback in callbacks:
            self._run_one_callback(callback)

    def _run_one_callback(self, callback: Callable[[Future[T]], object]) -> None:
        try:
            callback(self)
        except Exception:
            LOGGER.exception("exception calling callback for %r", self)

    # ------------------------------------------------------------ inspection
    def cancelled(self) -> bool:
        """True if the future was cancelled before it ran."""
        with self._condition:
            return self._state in _CANCELLED_STATES

    def running(self) -> bool:
        """True while the call is executing and cannot be cancelled."""
        with self._condition:
            return self._state is FutureState.RUNNING

    def done(self) -> bool:
        """True once the future finished or was cancelled."""
        with self._condition:
            return self._state in _DONE_STATES

    def __repr__(self) -> str:
        with self._condition:
            state = self._state.value.lower()
            if self._state is FutureState.CANCELLED_AND_NOTIFIED:
                state = "cancelled"
            if self._state is not FutureState.FINISHED:
                return f"<{type(self).__name__} at {id(self):#x} state={state}>"
            if self._exception is not None:
                outcome = f"raised {type(self._exception).__name__}"
            else:
                outcome = f"returned {type(self._result).__name__}"
            return f"<{type(self).__name__} at {id(self):#x} state={state} {outcome}>"

    # ------------------------------------------------------------- consumers
    def cancel(self) -> bool:
        """Cancel the call if it has not started; True if it is (now) cancelled."""
        with self._condition:
            if self._state in _CANCELLED_STATES:
                return True
            if not self._move_to(FutureState.CANCELLED):
                return False  # running or finished: too late
            callbacks = self._take_callbacks()
        self._run_callbacks(callbacks)
        return True

    def _wait_until_done(self, timeout: Optional[float]) -> None:
        """Block until done or until timeout (then TimeoutError). Call with _condition held.

        It is released while sleeping. The sleeper joins ``_sleepers`` under
        the lock, so a completion cannot slip between the check and the sleep.
        """
        if self._state in _DONE_STATES:
            return
        if timeout is not None and timeout <= 0:
            raise TimeoutError()
        sleeper = threading.Lock()
        sleeper.acquire()
        if self._sleepers is None:
            self._sleepers = []
        self._sleepers.append(sleeper)
        self._condition.release()
        try:
            limit = lock_wait(timeout)
            woken = sleeper.acquire(timeout=-1 if limit is None else limit)
        finally:
            self._condition.acquire()
        if not woken:
            # The race this check handles:
            #   1. our sleeper.acquire() times out;
            #   2. before we take _condition back, another thread makes the
            #      future done: _move_to releases our sleeper and drops the list;
            #   3. we take _condition back.
            # The future is done, so we return its outcome (as a Condition-based
            # future would); removing our sleeper from the dropped list would fail.
            if self._state in _DONE_STATES:
                return
            self._sleepers.remove(sleeper)
            raise TimeoutError()

    def result(self, timeout: Optional[float] = None) -> T:
        """Wait up to *timeout* seconds and return the call's value.

        Raises CancelledError if cancelled, TimeoutError if not done in time,
        or the exception the call raised.
        """
        with self._condition:
            self._wait_until_done(timeout)
            if self._state in _CANCELLED_STATES:
                raise CancelledError()
            if self._exception is not None:
                try:
                    raise self._exception
                finally:
                    # Break the cycle frame -> self -> exception -> traceback -> frame.
                    self = None  # type: ignore[assignment]  # noqa: PLW0642
            return self._result  # type: ignore[return-value]

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        """Wait up to *timeout* seconds and return the call's exception (or None)."""
        with self._condition:
            self._wait_until_done(timeout)
            if self._state in _CANCELLED_STATES:
                raise CancelledError()
            return self._exception

    def add_done_callback(self, fn: Callable[[Future[T]], object]) -> None:
        """Call fn(future) once the future is done; at once if it already is."""
        with self._condition:
            if self._state not in _DONE_STATES:
                self._callbacks.append(fn)
                return
        self._run_one_callback(fn)

    # ------------------------------------------------------------- producers
    def set_running_or_notify_cancel(self) -> bool:
        """Mark the future running (True), or learn it was cancelled (False).

        Called by an executor right before it runs the call.
        """
        with self._condition:
            if self._move_to(FutureState.CANCELLED_AND_NOTIFIED):
                for waiter in self._waiters:
                    waiter.add_cancelled(self)
                return False
            if self._move_to(FutureState.RUNNING):
                return True
            state = self._state.value
        raise RuntimeError(f"Future in unexpected state {state}: {self!r}")

    def set_result(self, result: T) -> None:
        """Store the call's return value and wake everyone waiting."""
        with self._condition:
            if not self._move_to(FutureState.FINISHED):
                raise InvalidStateError(f"{self._state.value}: {self!r}")
            self._result = result
            for waiter in self._waiters:
                waiter.add_result(self)
            callbacks = self._take_callbacks()
        self._run_callbacks(callbacks)

    def set_exception(self, exception: Optional[BaseException]) -> None:
        """Store the exception the call raised and wake everyone waiting."""
        with self._condition:
            if not self._move_to(FutureState.FINISHED):
                raise InvalidStateError(f"{self._state.value}: {self!r}")
            self._exception = exception
            for waiter in self._waiters:
                waiter.add_exception(self)
            callbacks = self._take_callbacks()
        self._run_callbacks(callbacks)

    # --------------------------------------------------- used by minipool.wait
    def _discard_done_callback(self, fn: Callable[[Future[T]], object]) -> None:
        """Forget a callback that has not run yet (no-op if it is not there)."""
        with self._condition:
            try:
                self._callbacks.remove(fn)
            except ValueError:
                pass
