"""configure(task_timeout=...): an overrunning task fails with TaskTimeout.

Process pool: the worker is killed and replaced. Thread pool: the thread
cannot be stopped; the future fails at the deadline, the call's eventual
outcome is discarded and the thread stays busy until the call returns.
"""

from __future__ import annotations

import multiprocessing
import os
import threading

import extras_tasks
import pytest

import minipool
from minipool.conformance import process_tasks as tasks
from minipool.conformance.process_tasks import Gates

pytestmark = pytest.mark.minipool_only


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_process_task_overrunning_its_timeout_fails_and_its_worker_is_replaced(
        method: str) -> None:
    gates = Gates(multiprocessing.get_context(method))
    pool = minipool.MiniProcessPool(2, mp_context=multiprocessing.get_context(method),
                                    **gates.pool_arguments())
    pool.configure(task_timeout=1.0)  # no survive_crashes: a timeout never breaks the pool
    try:
        stuck = pool.submit(tasks.block, "never released")
        stuck_pid = gates.wait_started()
        error = stuck.exception(timeout=50)
        assert isinstance(error, minipool.TaskTimeout)
        assert isinstance(error, minipool.TimeoutError)
        assert (error.task, error.limit, error.worker) == (
            f"{tasks.__name__}.block('never released')", 1.0, stuck_pid)
        assert "ran longer than its task_timeout of 1.0 s" in str(error)
        assert not _is_alive(stuck_pid)  # killed (and joined) before the future failed
        results = [pool.submit(tasks.square, x) for x in range(6)]
        assert [f.result(timeout=50) for f in results] == [x * x for x in range(6)]
    finally:
        gates.close()
        pool.shutdown()


@pytest.mark.timeout(60)
def test_process_tasks_within_their_timeout_are_untouched() -> None:
    with minipool.MiniProcessPool(2, mp_context=multiprocessing.get_context("fork")).configure(
            task_timeout=30.0, timeline=True) as pool:
        futures = [pool.submit(tasks.square, x) for x in range(50)]
        assert [f.result(timeout=50) for f in futures] == [x * x for x in range(50)]
        assert pool.stats().failed == 0


@pytest.mark.timeout(60)
def test_thread_task_overrunning_fails_at_the_deadline_and_its_result_is_discarded() -> None:
    release = threading.Event()
    pool = minipool.MiniThreadPool(1).configure(task_timeout=0.2, timeline=True)
    try:
        late = pool.submit(extras_tasks.wait_for, release)
        error = late.exception(timeout=50)  # fails while the call still runs
        assert isinstance(error, minipool.TaskTimeout)
        assert error.limit == 0.2 and error.task.startswith("extras_tasks.wait_for(")
        assert error.worker == pool.stats().workers[0].worker
        assert pool.stats().workers[0].busy  # the thread is still in the call
        release.set()
        follow_up = pool.submit(extras_tasks.worker_name)  # runs once the thread is free
        assert follow_up.result(timeout=50) == error.worker
        assert late.exception() is error  # "finished late" was discarded
    finally:
        release.set()
        pool.shutdown()


@pytest.mark.timeout(60)
def test_thread_tasks_within_their_timeout_are_untouched() -> None:
    with minipool.MiniThreadPool(4).configure(task_timeout=30.0) as pool:
        futures = [pool.submit(pow, 2, x) for x in range(200)]
        assert [f.result(timeout=50) for f in futures] == [2 ** x for x in range(200)]
