"""configure(max_pending=N): submit waits while N tasks are queued and not yet running."""

from __future__ import annotations

import multiprocessing
import threading
from typing import Any

import extras_tasks
import pytest

import minipool
from minipool.conformance import process_tasks as tasks
from minipool.conformance.process_tasks import Gates

pytestmark = pytest.mark.minipool_only

QUEUE_FULL_CHECK = 0.3  # how long a blocked submit is given to (wrongly) return


def _submit_in_thread(pool: Any, *call: Any) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def submit() -> None:
        try:
            outcome.append(pool.submit(*call))
        except BaseException as exc:  # handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=submit)
    thread.start()
    return thread, outcome


# ---------------------------------------------------------------- thread pool
@pytest.mark.timeout(60)
def test_thread_submit_waits_for_room_then_goes_on() -> None:
    release = threading.Event()
    with minipool.MiniThreadPool(1).configure(max_pending=2) as pool:
        running = pool.submit(extras_tasks.wait_for, release)
        queued = [pool.submit(pow, 2, x) for x in range(2)]  # the queue is now full
        thread, outcome = _submit_in_thread(pool, pow, 3, 3)
        thread.join(QUEUE_FULL_CHECK)
        assert thread.is_alive() and not outcome  # still waiting for room
        release.set()  # the worker frees the queue
        thread.join(50)
        assert outcome[0].result(timeout=50) == 27
        assert running.result() == "finished late" and [f.result() for f in queued] == [1, 2]


@pytest.mark.timeout(60)
def test_thread_submit_timeout_raises_and_loses_nothing() -> None:
    release = threading.Event()
    with minipool.MiniThreadPool(1).configure(max_pending=1, submit_timeout=0.1) as pool:
        running = pool.submit(extras_tasks.wait_for, release)
        queued = pool.submit(pow, 2, 5)
        with pytest.raises(minipool.TimeoutError, match="max_pending"):
            pool.submit(pow, 2, 6)
        release.set()
        assert running.result(timeout=50) == "finished late" and queued.result(timeout=50) == 32


@pytest.mark.timeout(60)
def test_cancelling_a_queued_task_makes_room() -> None:
    release = threading.Event()
    with minipool.MiniThreadPool(1).configure(max_pending=1, submit_timeout=5.0) as pool:
        pool.submit(extras_tasks.wait_for, release)
        queued = pool.submit(pow, 2, 5)
        assert queued.cancel()
        replacement = pool.submit(pow, 2, 6)  # would time out if the cancelled task held its place
        release.set()
        assert replacement.result(timeout=50) == 64


@pytest.mark.timeout(60)
def test_shutdown_wakes_a_waiting_submit() -> None:
    release = threading.Event()
    pool = minipool.MiniThreadPool(1).configure(max_pending=1)
    try:
        pool.submit(extras_tasks.wait_for, release)
        pool.submit(pow, 2, 5)
        thread, outcome = _submit_in_thread(pool, pow, 2, 6)
        thread.join(QUEUE_FULL_CHECK)
        pool.shutdown(wait=False, cancel_futures=True)
        thread.join(50)
        assert isinstance(outcome[0], RuntimeError)  # not left waiting forever
    finally:
        release.set()
        pool.shutdown()


@pytest.mark.timeout(60)
def test_thread_map_without_buffersize_respects_max_pending() -> None:
    release = threading.Event()
    with minipool.MiniThreadPool(1).configure(max_pending=3, timeline=True) as pool:
        pool.submit(extras_tasks.wait_for, release)
        results: list[Any] = []
        mapper = threading.Thread(target=lambda: results.extend(pool.map(abs, range(-20, 0))))
        mapper.start()
        mapper.join(QUEUE_FULL_CHECK)
        assert mapper.is_alive()  # map waits in submit: the queue holds at most 3
        assert pool.stats().queued <= 3
        release.set()
        mapper.join(50)
        assert results == list(range(20, 0, -1))


# --------------------------------------------------------------- process pool
@pytest.mark.timeout(60)
def test_process_submit_timeout_raises_while_the_queue_is_full() -> None:
    context = multiprocessing.get_context("fork")
    gates = Gates(context)
    pool = minipool.MiniProcessPool(1, mp_context=context, **gates.pool_arguments())
    pool.configure(max_pending=2, submit_timeout=0.1)
    try:
        running = pool.submit(tasks.block, "running")
        gates.wait_started()
        queued = [pool.submit(tasks.square, x) for x in range(2)]
        with pytest.raises(minipool.TimeoutError, match="max_pending"):
            pool.submit(tasks.square, 3)
        gates.release()
        assert running.result(timeout=50) == "running"
        assert [f.result(timeout=50) for f in queued] == [0, 1]
        assert pool.submit(tasks.square, 3).result(timeout=50) == 9  # room again
    finally:
        gates.close()
        pool.shutdown()


@pytest.mark.timeout(60)
def test_process_submit_from_a_done_callback_never_waits_for_room() -> None:
    # Callbacks run in the dispatcher thread, the one that makes room: waiting
    # there would wait for itself, and nothing would ever run again.
    context = multiprocessing.get_context("fork")
    gates = Gates(context)
    chained: list[Any] = []
    done = threading.Event()
    pool = minipool.MiniProcessPool(1, mp_context=context, **gates.pool_arguments())
    pool.configure(max_pending=1)
    try:
        def chain(_: Any) -> None:
            chained.extend(pool.submit(tasks.square, x) for x in range(3))
            done.set()

        first = pool.submit(tasks.block, "first")
        gates.wait_started()
        first.add_done_callback(chain)  # it will run in the dispatcher thread
        queued = pool.submit(tasks.square, 5)  # the queue is full
        gates.release()
        assert done.wait(50)
        assert queued.result(timeout=50) == 25
        assert [f.result(timeout=50) for f in chained] == [0, 1, 4]
    finally:
        gates.close()
        pool.shutdown()
