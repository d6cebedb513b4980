"""The process pool's shared channel (``_channel.py``), through the public API.

Free workers take calls from one shared channel, as the stdlib's take theirs
from one queue: a call never waits behind a blocked one while a worker is
free; a worker's death is blamed on its own call only, never on the calls
waiting in the channel; a call too large for the channel, or one that the
full channel cannot take yet, still runs, in its turn.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import signal
import time
from typing import Any, Iterator

import pytest

from minipool.conformance import process_tasks as tasks
from minipool.conformance.process_tasks import Gates

FORK = multiprocessing.get_context("fork")
METHODS = ["fork", "spawn", "forkserver"]


@pytest.fixture(params=METHODS)
def method(request: pytest.FixtureRequest) -> str:
    start_method: str = request.param
    return start_method


@pytest.fixture
def gate() -> Iterator[tuple[int, int]]:
    """A pipe that forked workers inherit: its read end waits, its write end opens it."""
    read_end, write_end = os.pipe()
    yield read_end, write_end
    os.close(read_end)
    os.close(write_end)


def wait_until_readable(fd: int) -> str:
    ready, _, _ = select.select([fd], [], [], 30)
    return "released" if ready else "timed out"


def write_to(fd: int) -> str:
    os.write(fd, b"!")
    return "wrote"


def exit_before_noting_the_call(journal: int, seq: bytes) -> None:
    os._exit(7)


def wait_until_running(futures: list[Any]) -> None:
    """Until each future is running: handed to the workers (no event tells it)."""
    deadline = time.monotonic() + 20
    while not all(future.running() for future in futures):
        assert time.monotonic() < deadline, "the calls were never handed to the workers"
        time.sleep(0.01)  # polls a state no event announces; the deadline bounds it


@pytest.mark.timeout(60)
def test_a_call_an_earlier_blocked_call_waits_for_starts_before_any_later_call(
        impl: Any, gate: tuple[int, int]) -> None:
    # `waiter` blocks until `opener` runs; `late`, submitted after `opener`,
    # blocks too. The stdlib's workers take calls from one queue, in order: the
    # free worker takes `opener` before `late`. Queues of calls per worker
    # could leave `opener` behind `waiter` while the other worker takes
    # `late`: no worker would ever be free again, and both would time out.
    read_end, write_end = gate
    with impl.ProcessPool(2, mp_context=FORK) as pool:
        warm_up = [pool.submit(tasks.square, x) for x in range(20)]
        waiter = pool.submit(wait_until_readable, read_end)
        quick = [pool.submit(tasks.square, x) for x in range(3)]
        opener = pool.submit(write_to, write_end)
        late = pool.submit(wait_until_readable, read_end)
        assert waiter.result(timeout=40) == "released"
        assert late.result(timeout=40) == "released"
        assert opener.result(timeout=10) == "wrote"
        assert [future.result(timeout=10) for future in warm_up + quick] == [
            x * x for x in [*range(20), *range(3)]]


@pytest.mark.minipool_only
@pytest.mark.timeout(60)
def test_a_worker_killed_while_calls_wait_in_the_channel_is_blamed_for_its_own_call_only(
        impl: Any, method: str) -> None:
    context = multiprocessing.get_context(method)
    gates = Gates(context)
    pool = impl.ProcessPool(2, mp_context=context, **gates.pool_arguments())
    try:
        doomed = pool.submit(tasks.kill_self_with, signal.SIGKILL)
        doomed_pid = gates.wait_started()
        bystander = pool.submit(tasks.block, "bystander")
        gates.wait_started()
        waiting = [pool.submit(tasks.block, f"waiting {i}") for i in range(3)]
        wait_until_running(waiting)  # in the channel: both workers are busy
        gates.let_die()
        message = str(doomed.exception(timeout=20))
        assert (f"worker process {doomed_pid} was killed by signal SIGKILL (exit code -9) "
                f"while running task {tasks.__name__}.kill_self_with(") in message
        for other in [bystander, *waiting]:
            error = other.exception(timeout=20)
            assert isinstance(error, impl.BrokenProcessPool)
            assert str(error) == message  # the pool's error: it names the doomed call only
    finally:
        pool.shutdown(wait=True)
        gates.close()
    assert multiprocessing.active_children() == []


@pytest.mark.minipool_only
@pytest.mark.timeout(60)
def test_a_worker_dying_between_taking_a_call_and_noting_it_is_blamed_for_no_call(
        impl: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # _channel.py: a worker writes a call's number to its journal before it runs
    # the call. Dying just before that, it has started nothing: the call fails
    # with the broken pool, and the message blames no call. Forced under fork,
    # whose workers inherit the patched module.
    from minipool import _process_worker

    monkeypatch.setattr(_process_worker, "_note_taken", exit_before_noting_the_call)
    pool = impl.ProcessPool(1, mp_context=FORK)
    try:
        error = pool.submit(tasks.square, 3).exception(timeout=20)
        assert isinstance(error, impl.BrokenProcessPool)
        assert "exited with code 7 while idle" in str(error)
        assert "square" not in str(error)
    finally:
        pool.shutdown(wait=True)
    assert multiprocessing.active_children() == []


@pytest.mark.timeout(60)
def test_a_call_too_large_for_the_channel_runs_in_its_turn(impl: Any, method: str) -> None:
    # 200 kB of arguments: more than one message of the channel may carry
    # (_CHANNEL_LIMIT), so its payload goes down the pipe of the worker that takes it.
    with impl.ProcessPool(1, mp_context=multiprocessing.get_context(method)) as pool:
        futures = [pool.submit(tasks.square, 3), pool.submit(tasks.size_of, b"x" * 200_000),
                   pool.submit(tasks.square, 4)]
        assert [future.result(timeout=30) for future in futures] == [9, 200_000, 16]


@pytest.mark.timeout(60)
def test_calls_the_full_channel_cannot_take_yet_run_in_their_turn(impl: Any) -> None:
    # Four blocked workers: as the stdlib's call queue, the channel takes five
    # more calls (max_workers + 1). Of calls of 65 kB, its buffer holds only
    # about four; minipool keeps the fifth in _Inbox.unsent until there is room.
    gates = Gates(FORK)
    pool = impl.ProcessPool(4, mp_context=FORK, **gates.pool_arguments())
    try:
        blocked = [pool.submit(tasks.block, i) for i in range(4)]
        for _ in blocked:
            gates.wait_started()
        sizes = [65_000 + i for i in range(8)]
        futures = [pool.submit(tasks.size_of, b"x" * size) for size in sizes]
        wait_until_running(futures[:5])
        gates.release()
        assert [future.result(timeout=30) for future in futures] == sizes
        assert [future.result(timeout=10) for future in blocked] == [0, 1, 2, 3]
    finally:
        gates.close()
        pool.shutdown(wait=True)


@pytest.mark.minipool_only
@pytest.mark.timeout(60)
def test_without_the_channel_a_pool_gives_each_call_to_an_idle_workers_pipe(
        impl: Any, method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Where AF_UNIX SOCK_SEQPACKET does not exist (macOS), an unconfigured pool
    # falls back to the configured pools' dispatch. Forced here.
    import minipool.process

    monkeypatch.setattr(minipool.process, "_channel_supported", lambda: False)
    context = multiprocessing.get_context(method)
    gates = Gates(context)
    pool = impl.ProcessPool(2, mp_context=context, **gates.pool_arguments())
    try:
        assert list(pool.map(tasks.square, range(50))) == [x * x for x in range(50)]
        assert pool.submit(tasks.size_of, b"x" * 200_000).result(timeout=30) == 200_000
        doomed = pool.submit(tasks.kill_self_with, signal.SIGKILL)
        doomed_pid = gates.wait_started()
        gates.let_die()
        message = str(doomed.exception(timeout=20))
        assert (f"worker process {doomed_pid} was killed by signal SIGKILL (exit code -9) "
                f"while running task {tasks.__name__}.kill_self_with(") in message
    finally:
        pool.shutdown(wait=True)
        gates.close()
    assert multiprocessing.active_children() == []
