"""An executor's contract seen from outside, with tasks that may run anywhere.

These compat tests hold the executor's side of ``concurrent.futures`` (a
started task is running and cannot be cancelled, shutdown keeps started work,
submit hands every keyword to the task, a dead worker breaks the pool) with
tasks that share nothing with the test but a loopback socket
(``executor_tasks.SocketGate``): so they run unchanged on a process pool, on
dask's executor, or on any executor given to ``python -m minipool
conformance``. The stdlib and minipool run them on their process pools.
"""

from __future__ import annotations

import concurrent.futures
import os
from typing import Any, Iterator

import pytest

from minipool.conformance import executor_tasks as tasks
from minipool.conformance.executor_tasks import SocketGate

LONG = 10.0  # seconds: the most any wait in a passing test should need
WORKERS = 2  # the dask leg's LocalCluster has two workers too
QUEUED = 10  # more queued calls than any pool here moves ahead to its workers

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def gate() -> Iterator[SocketGate]:
    gate = SocketGate()
    yield gate
    gate.close()


def test_a_started_task_is_running(impl: Any, gate: SocketGate) -> None:
    with impl.ProcessPool(WORKERS) as pool:
        future = pool.submit(tasks.gated, gate.address, "done")
        gate.wait_started()
        try:
            assert future.running() and not future.done()
        finally:
            gate.release()
        assert future.result(timeout=LONG) == "done"


def test_cancel_of_a_started_task_fails_and_the_task_completes(
        impl: Any, gate: SocketGate) -> None:
    with impl.ProcessPool(WORKERS) as pool:
        future = pool.submit(tasks.gated, gate.address, "done")
        gate.wait_started()
        try:
            assert future.cancel() is False
        finally:
            gate.release()
        assert future.result(timeout=LONG) == "done"


def test_shutdown_without_wait_lets_started_work_finish(impl: Any, gate: SocketGate) -> None:
    pool = impl.ProcessPool(WORKERS)
    try:
        future = pool.submit(tasks.gated, gate.address, "done")
        gate.wait_started()
        pool.shutdown(wait=False)
        gate.release()
        assert future.result(timeout=LONG) == "done"
    finally:
        gate.release()
        pool.shutdown(wait=True)


def test_shutdown_cancel_futures_cancels_work_not_started(impl: Any, gate: SocketGate) -> None:
    pool = impl.ProcessPool(WORKERS)
    try:
        started = [pool.submit(tasks.gated, gate.address, i) for i in range(WORKERS)]
        for _ in started:
            gate.wait_started()
        queued = [pool.submit(tasks.square, x) for x in range(QUEUED)]
        pool.shutdown(wait=False, cancel_futures=True)
        gate.release()
        assert [f.result(timeout=LONG) for f in started] == list(range(WORKERS))
        # The stdlib's process pool moves up to max_workers + 1 queued calls to
        # its workers' queue as soon as they are submitted, marking them running:
        # those run. (A test that expected the third of three queued calls to be
        # cancelled failed for the stdlib whenever its manager thread ran before
        # shutdown.) QUEUED is far beyond that, so the last one is never moved.
        assert queued[-1].cancelled()
        assert all(f.cancelled() or f.result(timeout=LONG) == x * x
                   for x, f in enumerate(queued))
    finally:
        gate.release()
        pool.shutdown(wait=True)


# Client.submit's own keyword arguments, which dask's executor passes to it.
DASK_SUBMIT_KEYWORDS = ["key", "priority", "retries", "workers", "resources",
                        "allow_other_workers", "fifo_timeout", "pure", "actor", "actors"]


@pytest.mark.parametrize("name", DASK_SUBMIT_KEYWORDS)
def test_submit_hands_every_keyword_to_the_task(impl: Any, name: str) -> None:
    pool = impl.ProcessPool(WORKERS)
    future = pool.submit(tasks.keywords, **{name: "value"})
    try:
        assert future.result(timeout=LONG) == {name: "value"}
    finally:
        future.cancel()  # dask may hold it forever (workers="value" names no worker)
        pool.shutdown(wait=True)


@pytest.mark.timeout(120)
def test_a_task_that_kills_its_worker_fails_with_broken_executor(impl: Any) -> None:
    with impl.ProcessPool(WORKERS) as pool:
        future = pool.submit(os._exit, 3)
        error = future.exception(timeout=60)
    assert isinstance(error, concurrent.futures.BrokenExecutor), repr(error)
