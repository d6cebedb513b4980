"""The process pool's ``map``: calls travel in chunks, results come back one by one.

No threads of its own: ``_run_chunk`` and ``_run_chunk_outcomes`` run in a worker
process (inside ``_run_call``); the others run in the thread that calls
``map`` and iterates its results.

With ``chunksize=n`` > 1, a chunk of n calls is one work item::

    map(fn, xs, ys, chunksize=n) -> _map_in_chunks:
        Executor.map(partial(_run_chunk, fn), _column_chunks((xs, ys), n))
      a chunk: one list per iterable, n long -- ([x1 .. xn], [y1 .. yn])
      worker: _run_chunk -> list(map(fn, *chunk))   (the first exception fails all)
      caller: _flatten: chain.from_iterable(map(_popped_in_order, per-chunk lists))
              -> the values, in input order

With the default ``chunksize=1`` (and no ``buffersize``, no ``configure``),
the calls travel in automatic chunks anyway, as ``multiprocessing.Pool.map``
sends them (why: docs/performance.md, "map() with the default chunksize=1"),
yet each call's outcome comes back on its own::

    _map_in_automatic_chunks(pool.submit, pool._enqueue, ...)
      _automatic_chunksize(len(calls), workers): about 4 chunks per worker
      each chunk -> one work item: partial(_run_chunk_outcomes, fn)(chunk)
                    (a chunk that cannot be pickled: one work item per call)
      worker: _run_chunk_outcomes -> pickled (pid, [(True, value) | (False,
              _exception_body(exc)), ...]): one outcome per call
      caller: _results_of_parts(parts) -> _chunk_values(...): the values in
              input order; a failed call raises at its own position, with its
              RemoteTraceback (_remote_error)

What differs from one task per call: a chunk runs as a whole, so stopping
early (or a timeout) cancels only the chunks not yet handed to a worker
(docs/differences.md).
"""

from __future__ import annotations

import collections
import functools
import itertools
import os
import pickle
import time
from typing import Any, Callable, Iterable, Iterator, Optional, TypeVar

from ._executor import _result_or_cancel
from ._future import Future
from ._naming import _describe_call, _short_repr
from ._wire import (
    _dumps,
    _exception_body,
    _pickle_call,
    _reason,
    _remote_error,
    _same_kind_of_error,
    _unpickling_error,
)

T = TypeVar("T")
Submit = Callable[..., Future[Any]]  # MiniProcessPool.submit
Enqueue = Callable[..., Future[Any]]  # MiniProcessPool._enqueue: queue a call pickled here


def _map_in_chunks(executor_map: Callable[..., Iterator[list[T]]], fn: Callable[..., T],
                   iterables: tuple[Iterable[Any], ...], *, chunksize: int,
                   timeout: Optional[float], buffersize: Optional[int]) -> Iterator[T]:
    """map(chunksize=n): Executor.map over the chunks, flattened."""
    per_chunk = executor_map(functools.partial(_run_chunk, fn),
                             _column_chunks(iterables, chunksize),
                             timeout=timeout, buffersize=buffersize)
    return _flatten(per_chunk)


# ------------------------------------------------------ map(chunksize=n)
def _run_chunk(fn: Callable[..., T], chunk: tuple[list[Any], ...]) -> list[T]:
    """Run in a worker: one work item of map(chunksize=n)."""
    return list(map(fn, *chunk))


def _column_chunks(iterables: tuple[Iterable[Any], ...],
                   size: int) -> Iterator[tuple[list[Any], ...]]:
    """The calls, *size* at a time, as one list of arguments per iterable: for one
    iterable, no tuple per call to build, pickle and unpickle (why:
    docs/performance.md, "map(chunksize=n) sends columns")."""
    if len(iterables) == 1:
        arguments = iter(iterables[0])
        while column := list(itertools.islice(arguments, size)):
            yield (column,)
    else:
        calls = zip(*iterables)  # stops at the shortest iterable, as map does
        while rows := list(itertools.islice(calls, size)):
            yield tuple(map(list, zip(*rows)))


def _flatten(per_chunk: Iterator[list[T]]) -> Iterator[T]:
    """The values of every chunk, in input order. A generator, as the stdlib's map
    returns (callers may close() it); closing or dropping it drops per_chunk, whose
    own cleanup then cancels the chunks not yet started."""
    yield from itertools.chain.from_iterable(map(_popped_in_order, per_chunk))


def _popped_in_order(results: list[T]) -> Iterator[T]:
    """The values of *results*, in order, each taken out of the list as it is
    yielded: the list never keeps a value the caller has dropped."""
    results.reverse()
    return itertools.starmap(results.pop, itertools.repeat((), len(results)))


# -------------------------------------- map(chunksize=1): automatic chunks
_MAX_AUTOMATIC_CHUNK = 1024


def _map_in_automatic_chunks(submit: Submit, enqueue: Enqueue, fn: Callable[..., T],
                             iterables: tuple[Iterable[Any], ...], *, workers: int,
                             timeout: Optional[float]) -> Iterator[T]:
    deadline = None if timeout is None else time.monotonic() + timeout
    calls = list(zip(*iterables))  # read at once, as the stdlib's map does
    size = _automatic_chunksize(len(calls), workers)
    runner = functools.partial(_run_chunk_outcomes, fn)
    parts: collections.deque[_MapPart] = collections.deque()
    try:
        for start in range(0, len(calls), size):
            chunk = calls[start:start + size]
            if size == 1:
                parts.append((submit(fn, *chunk[0]), None))
                continue
            try:
                payload = _pickle_call(runner, (chunk,), {})
            except Exception:  # some call cannot be pickled: send them one by one
                parts.extend((submit(fn, *args), None) for args in chunk)
                continue
            parts.append((enqueue(runner, (chunk,), {}, payload, None), chunk))
    except BaseException:
        for future, _ in parts:  # submit refused (shutdown, broken): drop the rest
            future.cancel()
        raise
    return _results_of_parts(parts, fn, deadline)


def _automatic_chunksize(calls: int, workers: int) -> int:
    """Four chunks per worker (as multiprocessing.Pool), at most 1024 calls each.

    Several chunks per worker keep them all busy to the end when calls take
    unequal times; the cap bounds what an early stop leaves running. Fewer
    than 4 calls per worker: one call per task, as without chunking.
    """
    return max(1, min(_MAX_AUTOMATIC_CHUNK, -(-calls // (4 * workers))))


def _run_chunk_outcomes(fn: Callable[..., Any], chunk: list[tuple[Any, ...]]) -> bytes:
    """Run in a worker: one automatic chunk. Every call's outcome, pickled.

    An outcome is (True, value) or (False, _exception_body(exc)). If some
    value cannot be pickled, only its call fails, as it would on its own.
    """
    outcomes: list[tuple[bool, Any]] = []
    for args in chunk:
        try:
            outcomes.append((True, fn(*args)))
        except BaseException as exc:
            outcomes.append((False, _exception_body(exc)))
            del exc  # break the cycle exc -> traceback -> this frame -> exc
    try:
        return _dumps((os.getpid(), outcomes))
    except Exception:
        checked = [_picklable_outcome(fn, args, outcome) for args, outcome in zip(chunk, outcomes)]
        return _dumps((os.getpid(), checked))


def _picklable_outcome(fn: Callable[..., Any], args: tuple[Any, ...],
                       outcome: tuple[bool, Any]) -> tuple[bool, Any]:
    ok, value = outcome
    if not ok:
        return outcome
    try:
        _dumps(value)
    except Exception as exc:
        task = _describe_call(fn, args, {})
        error = _same_kind_of_error(
            exc, f"cannot pickle the result of task {task}, {_short_repr(value)}: {exc}")
        return (False, _exception_body(error))
    return outcome


# One entry of an automatic map: a future, and the calls it carries -- a
# chunk (its result is _run_chunk_outcomes's) or None (one call: its value).
_MapPart = tuple[Future[Any], Optional[list[tuple[Any, ...]]]]


def _results_of_parts(parts: collections.deque[_MapPart], fn: Callable[..., T],
                      deadline: Optional[float]) -> Iterator[T]:
    try:
        while parts:
            # No local names a yielded value (nor its future): once the caller
            # drops a result, it is freed, as with the stdlib's map.
            if parts[0][1] is None:  # one call: its future holds the value
                yield _result_or_cancel(parts.popleft()[0], deadline)
                continue
            future, chunk = parts.popleft()  # a chunk: its future holds bytes
            assert chunk is not None
            packed = _result_or_cancel(future, deadline)
            del future
            yield from _chunk_values(packed, fn, chunk)
    finally:
        for future, _ in parts:  # the caller stopped early, or a call failed
            future.cancel()


def _chunk_values(packed: bytes, fn: Callable[..., T],
                  chunk: list[tuple[Any, ...]]) -> Iterator[T]:
    """The chunk's values in order; a call's exception is raised at its position.

    No local names a yielded value: once the caller drops it, it is freed.
    """
    try:
        pid, outcomes = pickle.loads(packed)
    except BaseException as exc:  # even SystemExit: see _unpickling_error
        raise _unpickling_error(exc, f"cannot unpickle the results of a chunk of map calls "
                                     f"starting with {_describe_call(fn, chunk[0], {})}: "
                                     f"{_reason(exc)}") from exc
    outcomes.reverse()  # so that pop() takes them in order
    for args in chunk:
        if not outcomes[-1][0]:
            body, text = outcomes.pop()[1]
            raise _remote_error(body, text, pid, functools.partial(_describe_call, fn, args, {}))
        yield outcomes.pop()[1]
