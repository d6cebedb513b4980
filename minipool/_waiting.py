"""wait() and as_completed(): block on many futures at once.

Threads
-------
* The *waiting thread* calls ``wait`` or iterates ``as_completed``.
* The *finishing threads* are whichever threads make the futures done (pool
  workers, result-collector threads, a thread that calls ``cancel``).

How a completion reaches the waiting thread::

    finishing thread                              waiting thread
    ----------------                              --------------
    future.set_result(...)
      -> done callbacks run
         -> _Completions.__call__(future)  --->  _Completions.take(timeout)
            appends to _finished,                 sleeps on _changed until
            _changed.notify() once enough         _finished holds enough
            have finished                         (_Completions._wanted)

Each call of ``wait``/``as_completed`` makes one ``_Completions`` and registers
it on every unfinished future with the public ``add_done_callback``. That is
why any object with the Future API works here, stdlib futures included.
``as_completed`` registers while it holds every future's lock, so that a
future that ends meanwhile is still reported in completion order
(``_split_and_listen``).
On the way out the callback is removed again from every minipool future that
has not fired it, so nothing stays registered. (The stdlib Future has no way
to remove a callback; on a stdlib future, a fired-or-not no-op callback stays.)

Deliberate difference from the stdlib: a future that was cancelled counts as
done here as soon as ``cancel()`` succeeds, as ``future.done()`` says. The
stdlib's ``wait`` waits for the executor to acknowledge the cancellation, and
so waits forever on a future that no executor will ever look at again (for
example one cancelled by ``shutdown(cancel_futures=True)`` of the stdlib's
thread pool).
"""

from __future__ import annotations

import concurrent.futures  # AnyFuture, below: for annotations and isinstance (no code is borrowed)
import contextlib
import threading
import time
from typing import Any, Iterable, Iterator, NamedTuple, Optional, TypeVar

from ._errors import TimeoutError
from ._future import Future
from ._timeouts import lock_wait

FIRST_COMPLETED = "FIRST_COMPLETED"
FIRST_EXCEPTION = "FIRST_EXCEPTION"
ALL_COMPLETED = "ALL_COMPLETED"
_RETURN_WHEN = (FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED)

T = TypeVar("T")
# Annotations name the stdlib Future (minipool's Future is a subclass of it):
# both kinds are accepted, as is anything with the public Future API.
AnyFuture = concurrent.futures.Future


class DoneAndNotDoneFutures(NamedTuple):
    """What ``wait`` returns: the futures that are done, and the others."""

    done: set[AnyFuture[Any]]
    not_done: set[AnyFuture[Any]]


class _Completions:
    """The futures that finished while one wait()/as_completed() call waited.

    Written by finishing threads (through the done callback), read by the
    waiting thread.

    The waiting thread says how many completions it needs before it can
    return (``take``'s *wanted*), and is woken only then -- or at the first
    exception, with *wake_on_exception* -- not once per completion (why:
    docs/performance.md, "``wait()`` wakes the waiting thread once").
    """

    def __init__(self, wake_on_exception: bool = False) -> None:
        # _changed guards _finished and _wanted; notified when _finished
        # reaches _wanted, or when a future raised and wake_on_exception.
        self._changed = threading.Condition(threading.Lock())
        self._finished: list[Any] = []
        self._wanted = 1
        self._wake_on_exception = wake_on_exception

    def __call__(self, future: Any) -> None:
        raised = self._wake_on_exception and _raised(future)
        with self._changed:
            self._finished.append(future)
            if raised or len(self._finished) >= self._wanted:
                self._changed.notify()

    def take(self, timeout: Optional[float], wanted: int = 1) -> list[Any]:
        """Wait up to *timeout* for *wanted* completions; return those that came.

        Returns early (maybe with fewer) on timeout, or on an exception with
        *wake_on_exception*.
        """
        with self._changed:
            if len(self._finished) < wanted:
                self._wanted = wanted
                self._changed.wait(lock_wait(timeout))
            finished, self._finished = self._finished, []
            return finished


def _seconds_left(deadline: Optional[float]) -> Optional[float]:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _listen(futures: Iterable[Any], completions: _Completions) -> None:
    for future in futures:
        future.add_done_callback(completions)


def _split_and_listen(futures: set[Any], completions: _Completions) -> tuple[list[Any], set[Any]]:
    """Return ``(done, pending)``, and register *completions* on every pending
    future, in one step: while holding every future's ``_condition``.

    The race this avoids (``as_completed`` would yield out of completion order):
      1. as_completed finds f0 and f2 unfinished, and registers on f0;
      2. another thread ends f2, then f0: f0's callback reports f0;
      3. as_completed registers on f2, which is done: its callback runs at
         once, and reports f2 after f0, though f2 ended first.
    With the locks held, step 2 waits until step 3 is over. The locks are
    taken in one fixed order (by ``id``), as the stdlib's wait/as_completed
    take them, so two such calls on the same futures cannot deadlock. Only
    Future instances (ours and the stdlib's) are locked; any other object with
    the Future API is registered on as before, without this guarantee.
    """
    lockable = sorted((f for f in futures if isinstance(f, AnyFuture)), key=id)
    with contextlib.ExitStack() as holding:
        for future in lockable:
            holding.enter_context(future._condition)
        done = [f for f in futures if f.done()]
        pending = futures.difference(done)
        _listen(pending, completions)  # none is done: no callback runs under the locks
    return done, pending


def _stop_listening(futures: Iterable[Any], completions: _Completions) -> None:
    for future in futures:
        if isinstance(future, Future):
            future._discard_done_callback(completions)


def _raised(future: Any) -> bool:
    return not future.cancelled() and future.exception() is not None


def _can_return(done: set[Any], not_done: set[Any], return_when: str) -> bool:
    if not not_done:
        return True
    if return_when == FIRST_COMPLETED:
        return bool(done)
    if return_when == FIRST_EXCEPTION:
        return any(_raised(f) for f in done)
    return False


def wait(
    fs: Iterable[AnyFuture[T]],
    timeout: Optional[float] = None,
    return_when: str = ALL_COMPLETED,
) -> DoneAndNotDoneFutures:
    """Wait until *return_when* holds for the futures *fs*, or *timeout* passes.

    Returns ``(done, not_done)``, two sets. Duplicates in *fs* count once.
    Unlike ``as_completed``, running out of time is not an error.
    """
    if return_when not in _RETURN_WHEN:
        raise ValueError(f"Invalid return condition: {return_when!r}")
    deadline = None if timeout is None else time.monotonic() + timeout
    fs = set(fs)
    done = {f for f in fs if f.done()}
    not_done = fs - done
    if _can_return(done, not_done, return_when):
        return DoneAndNotDoneFutures(done, not_done)

    completions = _Completions(wake_on_exception=return_when == FIRST_EXCEPTION)
    _listen(not_done, completions)
    try:
        while not _can_return(done, not_done, return_when):
            wanted = 1 if return_when == FIRST_COMPLETED else len(not_done)
            finished = completions.take(_seconds_left(deadline), wanted)
            if not finished and deadline is not None and time.monotonic() >= deadline:
                break
            done.update(finished)
            not_done.difference_update(finished)
    finally:
        # The futures in `done` have fired (and so dropped) our callback.
        _stop_listening(not_done, completions)
    return DoneAndNotDoneFutures(done, not_done)


def as_completed(
    fs: Iterable[AnyFuture[T]], timeout: Optional[float] = None
) -> Iterator[AnyFuture[T]]:
    """Yield the futures *fs* as they complete: those already done first.

    Duplicates in *fs* are yielded once. Raises TimeoutError if some are
    still unfinished *timeout* seconds after iteration started.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    fs = set(fs)
    total = len(fs)
    completions = _Completions()
    already_done, pending = _split_and_listen(fs, completions)
    del fs
    try:
        while already_done:
            yield already_done.pop()
        while pending:
            left = _seconds_left(deadline)
            if left == 0.0:
                raise TimeoutError(f"{len(pending)} (of {total}) futures unfinished")
            finished = completions.take(left)
            finished.reverse()  # so that pop() gives them in completion order
            while finished:
                # No local names the yielded future: once the caller drops
                # it, it is freed (CPython's suite checks).
                pending.discard(finished[-1])
                yield finished.pop()
    finally:
        # Those no longer pending have fired (and so dropped) our callback.
        _stop_listening(pending, completions)
