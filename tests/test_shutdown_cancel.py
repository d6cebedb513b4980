"""shutdown(cancel_futures=True) on a process pool right after many submits.

The stdlib's process pool moves up to ``max_workers + 1`` calls ahead to its
workers' queue as they are submitted, so such a shutdown still runs a few of
them (CPython's ProcessPoolShutdownTest.test_cancel_futures counts on it).
minipool lets run the oldest calls that free workers are about to take, and
cancels the rest; with every worker busy it cancels every queued call
(test_process_pool.py::test_shutdown_cancel_futures_cancels_the_queued_work).
"""

from __future__ import annotations

import multiprocessing

import pytest

from minipool.conformance import process_tasks as tasks

pytestmark = pytest.mark.timeout(60)

CALLS = 50
WORKERS = 2


@pytest.fixture(params=["fork", "spawn"])
def context(request):
    return multiprocessing.get_context(request.param)


def _submit_then_cancel(impl, context):
    pool = impl.ProcessPool(WORKERS, mp_context=context)
    futures = [pool.submit(tasks.square, x) for x in range(CALLS)]
    pool.shutdown(wait=True, cancel_futures=True)
    return futures


def test_shutdown_cancel_futures_right_after_submits_runs_some_and_cancels_most(impl, context):
    futures = _submit_then_cancel(impl, context)
    ran = [x for x, future in enumerate(futures) if not future.cancelled()]
    assert len(ran) >= 1
    assert CALLS - len(ran) > CALLS // 2
    assert all(futures[x].result() == x * x for x in ran)


@pytest.mark.minipool_only
def test_the_calls_kept_by_shutdown_cancel_futures_are_the_oldest(impl, context):
    futures = _submit_then_cancel(impl, context)
    ran = [x for x, future in enumerate(futures) if not future.cancelled()]
    assert ran == list(range(len(ran)))
