"""Workers that die mid-task: the pool breaks, names the culprit, and nothing hangs.

Each way of dying runs under every start method (fork, spawn, forkserver),
in a loop of ROUNDS fresh pools. Every round checks:
the dying task's future fails with BrokenProcessPool whose message names the
task, the worker's pid and its exit code or signal; every other unfinished
future (a running bystander, queued work) fails with it; a later submit
raises it; shutdown returns; no child process is left.

An out-of-memory kill is simulated with SIGKILL from the test (the signal the
Linux OOM killer sends): really exhausting memory is not safe on a shared
machine.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import textwrap
from typing import Any, Callable, NamedTuple

import pytest

from minipool.conformance import process_tasks as tasks
from minipool.conformance.plugin import run_python
from minipool.conformance.process_tasks import Gates

METHODS = ["fork", "spawn", "forkserver"]
ROUNDS = 3

pytestmark = pytest.mark.minipool_only


@pytest.fixture(params=METHODS)
def method(request: pytest.FixtureRequest) -> str:
    """The start method of the test's pools: the test runs under each."""
    start_method: str = request.param
    return start_method


class Death(NamedTuple):
    task: Callable[..., Any]
    args: tuple[Any, ...]
    killed_by_test: bool  # the test sends SIGKILL once the task has started
    expected: str  # how the message describes the exit


DEATHS = {
    "sigkill-by-itself": Death(tasks.kill_self_with, (signal.SIGKILL,), False,
                               "was killed by signal SIGKILL (exit code -9)"),
    "os._exit(3)": Death(tasks.exit_abruptly, (3,), False, "exited with code 3"),
    "segfault": Death(tasks.segfault, (), False, "was killed by signal SIGSEGV (exit code -11)"),
    "sigkill-by-the-test": Death(tasks.block, ("doomed",), True,
                                 "was killed by signal SIGKILL (exit code -9)"),
    "oom-kill-simulated": Death(tasks.block, (b"\0" * 1024,), True,
                                "was killed by signal SIGKILL (exit code -9)"),
}


def make_pool(impl: Any, method: str, gates: Gates, workers: int = 2) -> Any:
    return impl.ProcessPool(workers, mp_context=multiprocessing.get_context(method),
                            **gates.pool_arguments())


def one_death(impl: Any, method: str, death: Death) -> None:
    gates = Gates(multiprocessing.get_context(method))
    pool = make_pool(impl, method, gates)
    try:
        bystander = pool.submit(tasks.block, "bystander")
        gates.wait_started()
        doomed = pool.submit(death.task, *death.args)
        worker_pid = gates.wait_started()
        queued = [pool.submit(tasks.square, x) for x in range(3)]
        if death.killed_by_test:
            os.kill(worker_pid, signal.SIGKILL)
        else:
            gates.let_die()

        error = doomed.exception(timeout=20)
        assert isinstance(error, impl.BrokenProcessPool)
        message = str(error)
        assert f"worker process {worker_pid} {death.expected}" in message
        assert f"while running task {tasks.__name__}.{death.task.__name__}(" in message
        for other in [bystander, *queued]:
            other_error = other.exception(timeout=20)
            assert isinstance(other_error, impl.BrokenProcessPool)
            assert str(other_error) == message
        with pytest.raises(impl.BrokenProcessPool, match=f"worker process {worker_pid} "):
            pool.submit(tasks.square, 1)
    finally:
        pool.shutdown(wait=True)
        gates.close()
    assert multiprocessing.active_children() == []


@pytest.mark.timeout(60)
@pytest.mark.parametrize("death", DEATHS.values(), ids=DEATHS.keys())
def test_a_worker_dying_mid_task_is_named_and_breaks_the_pool(
        impl: Any, method: str, death: Death) -> None:
    # Under spawn and forkserver the doomed task's worker is started on
    # demand, while the dispatcher already waits: its death must be seen too.
    # (The stdlib of Python 3.11 can miss that one's death and hang forever.)
    for _ in range(ROUNDS):
        one_death(impl, method, death)


@pytest.mark.timeout(60)
def test_an_idle_worker_dying_breaks_the_pool(impl: Any, method: str) -> None:
    for _ in range(ROUNDS):
        pool = impl.ProcessPool(1, mp_context=multiprocessing.get_context(method))
        worker_pid = pool.submit(tasks.pid).result()
        os.kill(worker_pid, signal.SIGKILL)
        try:  # whether the dispatcher saw the death before this submit or after
            error = pool.submit(tasks.square, 2).exception(timeout=20)
        except impl.BrokenProcessPool as raised:
            error = raised
        assert isinstance(error, impl.BrokenProcessPool)
        assert f"worker process {worker_pid} was killed by signal SIGKILL" in str(error)
        with pytest.raises(impl.BrokenProcessPool):
            pool.submit(tasks.square, 3)
        pool.shutdown(wait=True)
        assert multiprocessing.active_children() == []


@pytest.mark.timeout(60)
def test_a_kill_racing_a_large_reply_never_hangs(impl: Any, method: str) -> None:
    # The worker may be killed before, during or after writing its reply:
    # either the result arrives whole or the pool breaks; nothing hangs.
    size = 32 * 1024 * 1024
    for _ in range(ROUNDS):
        gates = Gates(multiprocessing.get_context(method))
        pool = make_pool(impl, method, gates, workers=1)
        future = pool.submit(tasks.report_then_make_bytes, size)
        os.kill(gates.wait_started(), signal.SIGKILL)
        error = future.exception(timeout=20)
        if error is None:
            assert len(future.result()) == size
        else:
            assert isinstance(error, impl.BrokenProcessPool)
        pool.shutdown(wait=True)
        gates.close()
        assert multiprocessing.active_children() == []


DEATH_THEN_EXIT = """
import multiprocessing, os, minipool
from minipool.conformance import process_tasks
pool = minipool.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("{method}"))
dying = pool.submit(os._exit, 3)
try:  # the worker may already be dead, or not yet
    queued = type(pool.submit(process_tasks.square, 2).exception()).__name__
except minipool.process.BrokenProcessPool:
    queued = "BrokenProcessPool"
print(type(dying.exception()).__name__, queued)
print(dying.exception())
"""


@pytest.mark.timeout(60)
def test_interpreter_exit_after_a_death_does_not_hang(impl: Any, method: str) -> None:
    done = run_python(textwrap.dedent(DEATH_THEN_EXIT.format(method=method)))
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first == "BrokenProcessPool BrokenProcessPool"
    assert "exited with code 3 while running task posix._exit(3)" in second
