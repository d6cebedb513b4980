"""survive_crashes=True: a dying worker fails only its own task; the pool goes on.

minipool only (the stdlib's pool always breaks). Each test states what a pool
that breaks, loses work, or hangs would get wrong.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from typing import Any

import extras_tasks
import pytest

import minipool
from minipool.conformance import process_tasks as tasks
from minipool.conformance.process_tasks import Gates
from minipool.process import BrokenProcessPool

pytestmark = pytest.mark.minipool_only

METHODS = ["fork", "spawn", "forkserver"]


@pytest.fixture(params=METHODS)
def method(request: pytest.FixtureRequest) -> str:
    start_method: str = request.param
    return start_method


def surviving_pool(method: str, gates: Gates | None = None, workers: int = 2,
                   **options: Any) -> minipool.MiniProcessPool:
    extra = gates.pool_arguments() if gates is not None else {}
    pool = minipool.MiniProcessPool(workers, mp_context=multiprocessing.get_context(method),
                                    **extra)
    return pool.configure(survive_crashes=True, **options)


def wait_until(condition: Any, what: str, seconds: float = 30.0) -> None:
    """Poll a state of the pool that has no event to wait on."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)  # polling a state, not guessing a duration


@pytest.mark.timeout(90)
def test_a_crash_fails_only_the_running_task_and_the_pool_goes_on(method: str) -> None:
    gates = Gates(multiprocessing.get_context(method))
    pool = surviving_pool(method, gates)
    try:
        bystander = pool.submit(tasks.block, "bystander")
        gates.wait_started()
        doomed = pool.submit(tasks.exit_abruptly, 3)
        doomed_pid = gates.wait_started()
        queued = [pool.submit(tasks.square, x) for x in range(5)]
        gates.let_die()
        error = doomed.exception(timeout=60)
        assert isinstance(error, minipool.WorkerCrashed)
        assert isinstance(error, BrokenProcessPool)  # code written for the stdlib still catches it
        assert (error.pid, error.exitcode, error.signal_name) == (doomed_pid, 3, None)
        assert error.task == f"{tasks.__name__}.exit_abruptly(3)"
        assert f"worker process {doomed_pid} exited with code 3" in str(error)
        gates.release()
        assert bystander.result(timeout=60) == "bystander"
        assert [f.result(timeout=60) for f in queued] == [x * x for x in range(5)]
        assert pool.submit(tasks.square, 9).result(timeout=60) == 81  # still serving
    finally:
        gates.close()
        pool.shutdown()


@pytest.mark.timeout(60)
def test_a_crash_by_a_signal_is_named_by_the_signal() -> None:
    gates = Gates(multiprocessing.get_context("fork"))
    pool = surviving_pool("fork", gates)
    try:
        doomed = pool.submit(tasks.block, "doomed")
        pid = gates.wait_started()
        os.kill(pid, signal.SIGKILL)
        error = doomed.exception(timeout=30)
        assert isinstance(error, minipool.WorkerCrashed)
        assert (error.pid, error.exitcode, error.signal_name) == (pid, -9, "SIGKILL")
        assert "was killed by signal SIGKILL" in str(error)
    finally:
        gates.close()
        pool.shutdown()


@pytest.mark.timeout(60)
def test_crash_retries_run_a_crashed_task_again(tmp_path: Any) -> None:
    with surviving_pool("fork", crash_retries=1, timeline=True) as pool:
        future = pool.submit(extras_tasks.crash_once, str(tmp_path / "crashed"))
        assert future.result(timeout=30) == "survived"
        assert future.timeline is not None and future.timeline.attempts == 2


@pytest.mark.timeout(60)
def test_crash_retries_are_bounded() -> None:
    with surviving_pool("fork", crash_retries=2) as pool:
        error = pool.submit(extras_tasks.always_crash).exception(timeout=30)
        assert isinstance(error, minipool.WorkerCrashed)
        assert error.attempts == 3  # the first run and two retries, then it fails
        assert "crash_retries used up" in str(error)
        assert pool.submit(tasks.square, 3).result(timeout=30) == 9


@pytest.mark.timeout(60)
def test_a_task_whose_worker_died_before_starting_it_runs_on_another_worker() -> None:
    # The only worker is stuck in its initializer (waiting for the gate), so
    # the task handed to it sits unread in its pipe when the test kills it.
    context = multiprocessing.get_context("fork")
    gates = Gates(context)
    pool = minipool.MiniProcessPool(1, mp_context=context, initializer=_report_then_wait,
                                    initargs=gates.pool_arguments()["initargs"])
    pool.configure(survive_crashes=True, timeline=True)
    try:
        future = pool.submit(tasks.square, 7)
        first_worker = gates.wait_started()
        wait_until(future.running, "the task to be handed to the worker")
        os.kill(first_worker, signal.SIGKILL)
        gates.release()  # the replacement's initializer goes straight through
        assert future.result(timeout=30) == 49  # re-dispatched, not failed, not lost
        assert future.timeline is not None and future.timeline.worker != first_worker
    finally:
        gates.close()
        pool.shutdown()


def test_unstarted_work_is_re_dispatched_even_after_shutdown_began() -> None:
    # shutdown(wait=True) promises that queued work still runs; a task whose
    # worker died before starting it is queued work, so it must not fail.
    context = multiprocessing.get_context("fork")
    gates = Gates(context)
    pool = minipool.MiniProcessPool(1, mp_context=context, initializer=_report_then_wait,
                                    initargs=gates.pool_arguments()["initargs"])
    pool.configure(survive_crashes=True)
    try:
        future = pool.submit(tasks.square, 7)
        first_worker = gates.wait_started()
        wait_until(future.running, "the task to be handed to the worker")
        pool.shutdown(wait=False)
        os.kill(first_worker, signal.SIGKILL)
        gates.release()
        assert future.result(timeout=30) == 49
    finally:
        gates.close()
        pool.shutdown()


def _report_then_wait(reports: Any, release: Any, doom: Any) -> None:
    """Initializer: report the worker's pid, then wait for the gate."""
    tasks.install_gates(reports, release, doom)
    reports.send(os.getpid())
    release.poll(tasks.GATE_TIMEOUT)


@pytest.mark.timeout(60)
def test_an_idle_worker_dying_loses_nothing() -> None:
    with surviving_pool("fork", workers=1) as pool:
        pid = pool.submit(os.getpid).result(timeout=30)
        os.kill(pid, signal.SIGKILL)
        results = [pool.submit(tasks.square, x) for x in range(10)]
        assert [f.result(timeout=30) for f in results] == [x * x for x in range(10)]


@pytest.mark.timeout(60)
def test_a_failing_initializer_still_breaks_the_pool() -> None:
    # Replacing such a worker would fail again, forever: the stdlib's answer stands.
    pool = minipool.MiniProcessPool(1, mp_context=multiprocessing.get_context("fork"),
                                    initializer=tasks.failing_initializer)
    pool.configure(survive_crashes=True)
    try:
        future = pool.submit(tasks.square, 2)
        error = future.exception(timeout=30)
        assert type(error) is BrokenProcessPool
    finally:
        pool.shutdown()


@pytest.mark.timeout(60)
def test_without_survive_crashes_a_crash_still_breaks_the_pool() -> None:
    pool = minipool.MiniProcessPool(1, mp_context=multiprocessing.get_context("fork"))
    pool.configure(timeline=True)
    try:
        error = pool.submit(extras_tasks.always_crash).exception(timeout=30)
        assert type(error) is BrokenProcessPool
        with pytest.raises(BrokenProcessPool):
            pool.submit(tasks.square, 2)
    finally:
        pool.shutdown()


def _kill_now_and_then(futures: list[Any], every: int, rng: random.Random) -> set[int]:
    """Go through the results as they come; now and then SIGKILL a worker just seen."""
    killed: set[int] = set()
    countdown = rng.randint(1, every)
    for future in minipool.as_completed(futures, timeout=120):
        if future.exception() is not None:
            continue
        countdown -= 1
        if countdown == 0:
            countdown = rng.randint(1, every)
            pid = future.result()[1]
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue  # already gone
            killed.add(pid)
    return killed


def _check_only_killed_tasks_failed(futures: list[Any], killed: set[int]) -> int:
    crashed_pids: list[int] = []
    for x, future in enumerate(futures):
        error = future.exception()
        if error is None:
            assert future.result()[0] == x * x
            continue
        assert isinstance(error, minipool.WorkerCrashed), repr(error)
        assert error.signal_name == "SIGKILL" and error.pid in killed, str(error)
        crashed_pids.append(error.pid)
    assert len(crashed_pids) == len(set(crashed_pids))  # one task at most per kill
    return len(crashed_pids)


@pytest.mark.timeout(120)
def test_soak_random_kills_during_10000_tasks_fail_exactly_the_killed_tasks() -> None:
    rng = random.Random(20240605)
    pool = surviving_pool("fork", workers=4)
    try:
        futures = [pool.submit(extras_tasks.square_and_pid, x) for x in range(10_000)]
        killed = _kill_now_and_then(futures, every=300, rng=rng)
        assert len(killed) >= 10  # the soak did kill workers
        failed = _check_only_killed_tasks_failed(futures, killed)
        assert failed <= len(killed)
        assert pool.submit(tasks.square, 12).result(timeout=30) == 144
    finally:
        pool.shutdown()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_soak_random_kills_under_spawn_and_forkserver(method: str) -> None:
    rng = random.Random(7)
    pool = surviving_pool(method, workers=2)
    try:
        futures = [pool.submit(extras_tasks.square_and_pid, x) for x in range(400)]
        killed = _kill_now_and_then(futures, every=60, rng=rng)
        assert killed
        _check_only_killed_tasks_failed(futures, killed)
        assert pool.submit(tasks.square, 12).result(timeout=60) == 144
    finally:
        pool.shutdown()


@pytest.mark.timeout(120)
def test_soak_with_retries_every_task_succeeds_or_was_killed_each_time() -> None:
    rng = random.Random(99)
    pool = surviving_pool("fork", workers=4, crash_retries=3)
    try:
        futures = [pool.submit(extras_tasks.square_and_pid, x) for x in range(3000)]
        killed = _kill_now_and_then(futures, every=100, rng=rng)
        assert killed
        for x, future in enumerate(futures):
            error = future.exception()
            if error is not None:  # only if all four of its runs were killed
                assert isinstance(error, minipool.WorkerCrashed) and error.attempts > 3
            else:
                assert future.result()[0] == x * x
    finally:
        pool.shutdown()


@pytest.mark.timeout(60)
def test_kill_workers_does_not_run_the_killed_tasks_again() -> None:
    # The deaths are wanted: retrying would keep running work the caller stopped.
    gates = Gates(multiprocessing.get_context("fork"))
    pool = surviving_pool("fork", gates, workers=1, crash_retries=5)
    try:
        future = pool.submit(tasks.block, "killed")
        gates.wait_started()
        pool.kill_workers()
        with pytest.raises(BrokenProcessPool):
            future.result(timeout=30)
    finally:
        gates.close()
        pool.shutdown()
