"""No result outlives the caller's last reference: map and as_completed hold none.

A loop over ``pool.map`` of large results must not keep the result it last
yielded alive until it asks for the next one (a generator local would); nor
may ``as_completed`` keep the future it last yielded. The stdlib holds none
(CPython's own suite checks both: test_free_reference and
test_free_reference_yielded_future).
"""

from __future__ import annotations

import gc
import threading
import weakref

import pytest

pytestmark = pytest.mark.timeout(60)


class Payload:
    """A result that can be pickled (by name) and weakly referenced."""


def make_payload(_: int) -> Payload:
    return Payload()


def _assert_each_result_is_freed_once_dropped(results) -> None:
    for obj in results:
        ref = weakref.ref(obj)
        del obj
        gc.collect()
        assert ref() is None


@pytest.mark.parametrize("chunksize", [1, 3])
def test_thread_map_keeps_no_reference_to_a_yielded_result(impl, chunksize):
    with impl.ThreadPool(4) as pool:
        _assert_each_result_is_freed_once_dropped(
            pool.map(make_payload, range(10), chunksize=chunksize))


# 10 calls on 5 workers: one task per call; 40 calls on 2 workers: minipool's
# automatic chunks; chunksize=3: the caller's chunks.
@pytest.mark.parametrize("calls, workers, chunksize", [(10, 5, 1), (40, 2, 1), (10, 2, 3)])
def test_process_map_keeps_no_reference_to_a_yielded_result(impl, calls, workers, chunksize):
    with impl.ProcessPool(workers) as pool:
        _assert_each_result_is_freed_once_dropped(
            pool.map(make_payload, range(calls), chunksize=chunksize))


@pytest.mark.minipool_only  # buffersize: the stdlib has it from 3.14 on
def test_buffered_map_keeps_no_reference_to_a_yielded_result(impl):
    with impl.ThreadPool(2) as pool:
        _assert_each_result_is_freed_once_dropped(
            pool.map(make_payload, range(10), buffersize=2))


@pytest.mark.no_executor
def test_as_completed_keeps_no_reference_to_a_future_already_done(impl):
    futures = [impl.futures.Future() for _ in range(3)]
    for future in futures:
        future.set_result(Payload())
    for future in impl.futures.as_completed(futures):
        futures.remove(future)
        ref = weakref.ref(future)
        del future
        gc.collect()
        assert ref() is None


@pytest.mark.no_executor
def test_as_completed_keeps_no_reference_to_a_future_that_finished_while_it_waited(impl):
    pending = [impl.futures.Future() for _ in range(3)]
    futures = [impl.futures.Future(), *pending]
    futures[0].set_result(None)  # yielded first, while the others are pending

    def finish_pending():
        for future in pending:
            future.set_result(Payload())

    first = True  # (not enumerate(): its reused result tuple would hold the future)
    for future in impl.futures.as_completed(futures):
        futures.remove(future)
        if first:
            first = False
            # as_completed is past its setup (it yielded the done one): the
            # others finish now, in another thread, and reach it as completions.
            finisher = threading.Thread(target=finish_pending)
            finisher.start()
            finisher.join()
            pending.clear()
        ref = weakref.ref(future)
        del future
        gc.collect()
        assert ref() is None
