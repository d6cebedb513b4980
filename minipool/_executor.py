"""The Executor base class: what every pool shares (map, the context manager).

A pool subclass provides ``submit`` and ``shutdown``. ``map`` is built on
``submit`` alone, in the calling thread::

    map(fn, xs, ys)  --zip-->  submit(fn, x, y) for each pair  --> in_flight (a deque)
                                                                     |
    caller's for-loop  <--  _results_in_order() pops the oldest,  <---+
                            waits for its result, submits the next
                            pair (if buffersize is set), yields
"""

from __future__ import annotations

import collections
import concurrent.futures  # identity only: the base class of Executor (see there)
import itertools
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Optional, TypeVar

from ._future import Future

if TYPE_CHECKING:
    from typing_extensions import ParamSpec, Self

    P = ParamSpec("P")

T = TypeVar("T")


def _result_or_cancel(future: Future[T], deadline: Optional[float]) -> T:
    """The future's result by *deadline*; on any way out, the future is cancelled."""
    try:
        timeout = None if deadline is None else deadline - time.monotonic()
        return future.result(timeout)
    finally:
        future.cancel()  # a no-op if it finished; stops it if we gave up on it


def _take_oldest(in_flight: collections.deque[Future[T]], submit_next: Callable[[], None],
                 deadline: Optional[float]) -> T:
    """The oldest call's result (then the next call is submitted, if buffered)."""
    result = _result_or_cancel(in_flight.popleft(), deadline)
    submit_next()
    return result


def _check_buffersize(buffersize: Optional[int]) -> None:
    if buffersize is None:
        return
    if not isinstance(buffersize, int):
        raise TypeError("buffersize must be an integer or None")
    if buffersize < 1:
        raise ValueError("buffersize must be None or > 0")


# Subclassing the stdlib's Executor is a deliberate borrowing, for identity
# only (isinstance checks: dask, asyncio). Every method it defines is defined
# again below (tests/test_identity.py checks that nothing of the stdlib's runs).
class Executor(concurrent.futures.Executor):
    """Runs calls asynchronously. Subclasses implement submit() and shutdown()."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Schedule ``fn(*args, **kwargs)`` and return a Future for its result."""
        raise NotImplementedError()

    def map(
        self,
        fn: Callable[..., T],
        *iterables: Iterable[Any],
        timeout: Optional[float] = None,
        chunksize: int = 1,
        buffersize: Optional[int] = None,
    ) -> Iterator[T]:
        """Like ``map(fn, *iterables)``, run by this executor; results in input order.

        A call's exception is raised at its position; *timeout* counts from
        this call; with *buffersize*, at most that many calls are submitted
        and not yet yielded. Stopping early cancels the calls not yet started.
        """
        _check_buffersize(buffersize)
        deadline = None if timeout is None else time.monotonic() + timeout
        calls = zip(*iterables)
        first_batch = calls if buffersize is None else itertools.islice(calls, buffersize)
        in_flight = collections.deque(self.submit(fn, *args) for args in first_batch)

        def submit_next() -> None:
            if buffersize is not None:
                for args in itertools.islice(calls, 1):
                    in_flight.append(self.submit(fn, *args))

        return self._results_in_order(in_flight, submit_next, deadline)

    @staticmethod
    def _results_in_order(
        in_flight: collections.deque[Future[T]],
        submit_next: Callable[[], None],
        deadline: Optional[float],
    ) -> Iterator[T]:
        try:
            while in_flight:
                # No local names the yielded value: a dropped result is freed.
                yield _take_oldest(in_flight, submit_next, deadline)
        finally:
            for future in in_flight:
                future.cancel()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Release the executor's resources; with *wait*, after the work is done."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc_val: Optional[BaseException],
        exc_tb: Optional[TracebackType],
    ) -> None:
        self.shutdown(wait=True)
