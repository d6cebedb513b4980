"""shutdown(cancel_futures=True) on a process pool right after many submits.

The stdlib's process pool moves up to ``max_workers + 1`` calls ahead to its
workers' queue as they are submitted, so such a shutdown still runs a few of
them (CPython's ProcessPoolShutdownTest.test_cancel_futures counts on it).
minipool's shared channel takes as many: those, and the calls the workers
are running, still run; the rest are cancelled. The calls wait on a gate
that opens as the shutdown cancels the last call, so no call can finish
early and make room for more (CPython's test sleeps in each call instead).
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
    gates = tasks.Gates(context)
    pool = impl.ProcessPool(WORKERS, mp_context=context, **gates.pool_arguments())
    try:
        futures = [pool.submit(tasks.block, x) for x in range(CALLS)]
        # The gate opens as the shutdown cancels the last call (its callback runs then).
        futures[-1].add_done_callback(lambda _: gates.release())
        pool.shutdown(wait=True, cancel_futures=True)
    finally:
        gates.close()
    return futures


def test_shutdown_cancel_futures_right_after_submits_runs_some_and_cancels_most(impl, context):
    futures = _submit_then_cancel(impl, context)
    ran = [x for x, future in enumerate(futures) if not future.cancelled()]
    assert 1 <= len(ran) <= 2 * WORKERS + 1  # running, and max_workers + 1 waiting
    assert all(futures[x].result() == x for x in ran)


@pytest.mark.minipool_only
def test_the_calls_kept_by_shutdown_cancel_futures_are_the_oldest(impl, context):
    futures = _submit_then_cancel(impl, context)
    ran = [x for x, future in enumerate(futures) if not future.cancelled()]
    assert ran == list(range(len(ran)))
