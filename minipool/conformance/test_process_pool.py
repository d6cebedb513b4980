"""The process pool: every behaviour against the stdlib and minipool.

Every test that starts a worker runs under each start method (fork, spawn,
forkserver): it takes the ``method`` fixture, and ``gates`` when it needs to
hold tasks. The few exceptions say why. Tests marked ``minipool_only`` check
what minipool adds. Deaths of workers are in test_process_faults.py.
"""

from __future__ import annotations

import inspect
import multiprocessing
import os
import pickle
import sys
import textwrap
import threading
from typing import Any, Iterator

import pytest

import minipool
from minipool.conformance import process_tasks as tasks
from minipool.conformance.plugin import run_python
from minipool.conformance.process_tasks import Gates

METHODS = ["fork", "spawn", "forkserver"]
STDLIB_HAS_MAX_TASKS = sys.version_info >= (3, 11)
# The stdlib has map(buffersize=) from Python 3.14 on; before that only minipool
# does, and an executor under test is held to this Python's concurrent.futures.
buffersize_test = (pytest.mark.minipool_only if sys.version_info < (3, 14)
                   else pytest.mark.usefixtures())


def make_pool(impl: Any, method: str, workers: int = 2, gates: Gates | None = None,
              **kwargs: Any) -> Any:
    if gates is not None:
        kwargs.update(gates.pool_arguments())
    return impl.ProcessPool(workers, mp_context=multiprocessing.get_context(method), **kwargs)


@pytest.fixture(params=METHODS)
def method(request: pytest.FixtureRequest) -> str:
    """The start method of the test's pools: the test runs under each."""
    start_method: str = request.param
    return start_method


@pytest.fixture
def gates(method: str) -> Iterator[Gates]:
    """Gates for tasks in pools of ``method`` (see process_tasks.Gates)."""
    gates = Gates(multiprocessing.get_context(method))
    yield gates
    gates.close()


# ============================================================ the basics
@pytest.mark.timeout(30)
def test_submit_and_map_return_results_in_order(impl: Any, method: str) -> None:
    with make_pool(impl, method) as pool:
        assert pool.submit(tasks.add, 2, b=3).result() == 5
        assert list(pool.map(tasks.square, range(8))) == [x * x for x in range(8)]
        assert list(pool.map(tasks.add, range(7), range(7), chunksize=3)) == [
            2 * x for x in range(7)]


@pytest.mark.timeout(30)
def test_exception_keeps_type_and_args_with_worker_traceback_as_cause(
        impl: Any, method: str) -> None:
    with make_pool(impl, method) as pool:
        error = pool.submit(tasks.raise_value_error, "bad", 7).exception()
        custom = pool.submit(tasks.raise_custom, "custom").exception()
    assert type(error) is ValueError
    assert error.args == ("bad", 7)
    assert "raise_value_error" in str(error.__cause__)  # the worker's traceback
    assert "ValueError: ('bad', 7)" in str(error.__cause__)
    assert type(custom) is tasks.CustomError and custom.args == ("custom",)


@pytest.mark.timeout(30)
def test_callbacks_run_in_the_submitting_process(impl: Any, method: str, gates: Gates) -> None:
    seen: list[int] = []
    with make_pool(impl, method, 1, gates) as pool:
        future = pool.submit(tasks.block, "x")
        gates.wait_started()
        future.add_done_callback(lambda f: seen.append(os.getpid()))
        gates.release()
        assert future.result() == "x"
    assert seen == [os.getpid()]


@pytest.mark.timeout(30)
def test_unpicklable_argument_fails_only_its_future(impl: Any, method: str) -> None:
    with make_pool(impl, method) as pool:
        bad = pool.submit(tasks.identity, threading.Lock())
        good = pool.submit(tasks.square, 3)
        assert isinstance(bad.exception(), TypeError)
        assert good.result() == 9
        assert pool.submit(tasks.square, 4).result() == 16  # still usable


@pytest.mark.timeout(30)
def test_raising_initializer_breaks_the_pool(impl: Any, method: str) -> None:
    with make_pool(impl, method, 1, initializer=tasks.failing_initializer) as pool:
        future = pool.submit(tasks.square, 2)
        assert isinstance(future.exception(), impl.BrokenProcessPool)
        with pytest.raises(impl.BrokenProcessPool):
            pool.submit(tasks.square, 3)


@pytest.mark.timeout(30)
def test_killed_worker_breaks_the_pool(impl: Any, method: str, gates: Gates) -> None:
    with make_pool(impl, method, 2, gates) as pool:
        victim = pool.submit(tasks.block, 1)
        worker_pid = gates.wait_started()
        other = pool.submit(tasks.block, 2)
        gates.wait_started()
        # The first worker: the stdlib (3.11) under spawn/forkserver may not
        # watch a worker started on demand yet, and then never sees it die
        # (test_process_faults.py kills that one, for minipool).
        os.kill(worker_pid, 9)
        assert isinstance(other.exception(), impl.BrokenProcessPool)
        assert isinstance(victim.exception(), impl.BrokenProcessPool)
        with pytest.raises(impl.BrokenProcessPool):
            pool.submit(tasks.square, 1)


@pytest.mark.timeout(40)
# minipool under fork: the replacement is forked by the dispatcher thread, and
# Python 3.12+ warns about any fork from a multi-threaded process.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_max_tasks_per_child_replaces_workers(impl: Any, method: str) -> None:
    if impl.is_stdlib and (not STDLIB_HAS_MAX_TASKS or method == "fork"):
        pytest.skip("the stdlib has no max_tasks_per_child (< 3.11) or refuses it with fork")
    with make_pool(impl, method, 1, max_tasks_per_child=2) as pool:
        pids = [pool.submit(tasks.pid).result() for _ in range(6)]
    assert [pids[0]] * 2 == pids[0:2] and [pids[2]] * 2 == pids[2:4]
    assert [pids[4]] * 2 == pids[4:6]
    assert len(set(pids)) == 3


# ====================================== construction and argument errors
@pytest.mark.timeout(10)
@pytest.mark.parametrize("workers", [0, -1])
def test_max_workers_must_be_positive(impl: Any, workers: int) -> None:
    # Argument validation, no worker: default context only.
    with pytest.raises(ValueError, match="max_workers must be greater than 0"):
        impl.ProcessPool(workers)


@pytest.mark.timeout(10)
def test_default_max_workers_is_the_cpu_count(impl: Any) -> None:
    # About the defaults; the pool starts no worker: default context only.
    if sys.version_info >= (3, 13):
        expected = os.process_cpu_count()
    else:
        expected = os.cpu_count()
    pool = impl.ProcessPool()
    assert pool._max_workers == (expected or 1)
    pool.shutdown()


@pytest.mark.timeout(10)
def test_initializer_must_be_callable(impl: Any) -> None:
    # Argument validation, no worker: default context only.
    with pytest.raises(TypeError, match="initializer must be a callable"):
        impl.ProcessPool(1, initializer=42)


@pytest.mark.timeout(10)
def test_max_tasks_per_child_is_checked(impl: Any) -> None:
    # Argument validation, no worker: default context only.
    if impl.is_stdlib and not STDLIB_HAS_MAX_TASKS:
        pytest.skip("the stdlib has no max_tasks_per_child before 3.11")
    with pytest.raises(ValueError, match="max_tasks_per_child must be >= 1"):
        impl.ProcessPool(1, max_tasks_per_child=0)
    with pytest.raises(TypeError, match="max_tasks_per_child must be an integer"):
        impl.ProcessPool(1, max_tasks_per_child="3")


@pytest.mark.timeout(10)
def test_default_context_with_max_tasks_per_child_is_spawn(impl: Any) -> None:
    # About the default start method itself: no method to vary.
    if impl.is_stdlib and not STDLIB_HAS_MAX_TASKS:
        pytest.skip("the stdlib has no max_tasks_per_child before 3.11")
    pool = impl.ProcessPool(1, max_tasks_per_child=3)
    assert pool._mp_context.get_start_method() == "spawn"
    pool.shutdown()
    plain = impl.ProcessPool(1)
    assert plain._mp_context.get_start_method() == multiprocessing.get_start_method()
    plain.shutdown()


@pytest.mark.timeout(10)
@pytest.mark.parametrize("chunksize", [0, -2])
def test_map_chunksize_must_be_positive(impl: Any, chunksize: int) -> None:
    # Argument validation: map raises before any submit, so no worker starts.
    with impl.ProcessPool(1) as pool:
        with pytest.raises(ValueError, match="chunksize must be >= 1."):
            pool.map(tasks.square, [1], chunksize=chunksize)


# =================================================== map, submit, shutdown
@pytest.mark.timeout(30)
def test_map_many_items_with_chunks_keeps_order(impl: Any, method: str) -> None:
    with make_pool(impl, method) as pool:
        assert list(pool.map(tasks.square, range(500), chunksize=7)) == [
            x * x for x in range(500)]
        assert list(pool.map(tasks.square, [], chunksize=3)) == []


@pytest.mark.timeout(30)
def test_map_in_chunks_passes_each_calls_arguments_and_stops_at_the_shortest(
        impl: Any, method: str) -> None:
    # pow's arguments are not interchangeable, and the shortest iterable ends inside
    # a chunk: a chunk that mixed up calls and arguments, or went on past the
    # shortest iterable, gives other values or more of them.
    with make_pool(impl, method) as pool:
        assert list(pool.map(pow, [2, 3, 4, 5], [3, 2, 1], [5] * 9, chunksize=2)) == [3, 4, 4]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("chunksize", [1, 3])
def test_map_returns_a_generator_that_can_be_closed_early(
        impl: Any, method: str, chunksize: int) -> None:
    # The stdlib's map returns a generator; code that stops early calls close().
    with make_pool(impl, method) as pool:
        results = pool.map(tasks.square, range(10), chunksize=chunksize)
        assert inspect.isgenerator(results)
        assert next(results) == 0
        results.close()
        assert list(results) == []


@pytest.mark.timeout(30)
def test_map_raises_a_calls_exception_at_its_position(impl: Any, method: str) -> None:
    with make_pool(impl, method) as pool:
        results = pool.map(tasks.identity, [1, 2, ValueError("not raised")], chunksize=2)
        assert next(results) == 1 and next(results) == 2
        assert isinstance(next(results), ValueError)  # returned, not raised
        failing = pool.map(tasks.raise_value_error, ["a", "b"])
        with pytest.raises(ValueError, match="a"):
            next(failing)


# map() with the default chunksize sends minipool's calls in automatic chunks
# (over 4 calls per worker): what a caller sees must not change. 100 calls on
# 2 workers make chunks of 13 calls; the bad one is in the middle of one.
@pytest.mark.timeout(60)
def test_map_default_chunksize_raises_a_calls_exception_at_its_position(
        impl: Any, method: str) -> None:
    inputs = [-x if x == 37 else x for x in range(100)]
    with make_pool(impl, method) as pool:
        results = pool.map(tasks.square_or_raise_if_negative, inputs)
        assert [next(results) for _ in range(37)] == [x * x for x in range(37)]
        with pytest.raises(ValueError, match="negative: -37") as raised:
            next(results)
        assert "RemoteTraceback" in type(raised.value.__cause__).__name__
        assert "square_or_raise_if_negative" in str(raised.value.__cause__)


@pytest.mark.timeout(60)
def test_map_default_chunksize_fails_an_unpicklable_argument_at_its_position(
        impl: Any, method: str) -> None:
    inputs: list[Any] = list(range(100))
    inputs[50] = threading.Lock()
    with make_pool(impl, method) as pool:
        results = pool.map(tasks.identity, inputs)
        assert [next(results) for _ in range(50)] == list(range(50))
        with pytest.raises((TypeError, pickle.PicklingError)):
            next(results)


@pytest.mark.timeout(60)
def test_map_default_chunksize_fails_an_unpicklable_result_at_its_position(
        impl: Any, method: str) -> None:
    inputs = [-x if x == 20 else x for x in range(100)]
    with make_pool(impl, method) as pool:
        results = pool.map(tasks.lock_if_negative, inputs)
        assert [next(results) for _ in range(20)] == list(range(20))
        with pytest.raises((TypeError, pickle.PicklingError)):
            next(results)


@pytest.mark.timeout(30)
def test_map_timeout(impl: Any, method: str, gates: Gates) -> None:
    with make_pool(impl, method, 1, gates) as pool:
        results = pool.map(tasks.block, [1], timeout=0.05)
        with pytest.raises(impl.futures.TimeoutError):
            next(results)
        gates.release()


@buffersize_test
@pytest.mark.timeout(30)
def test_map_buffersize_limits_submissions(impl: Any, method: str) -> None:
    read = []

    def inputs() -> Iterator[int]:
        for x in range(10):
            read.append(x)
            yield x

    with make_pool(impl, method) as pool:
        results = pool.map(tasks.square, inputs(), buffersize=2, chunksize=2)
        assert len(read) <= 4  # two chunks of two
        assert list(results) == [x * x for x in range(10)]


@pytest.mark.timeout(30)
def test_large_arguments_and_results_travel_whole(impl: Any, method: str) -> None:
    big = b"y" * (8 * 1024 * 1024)
    with make_pool(impl, method) as pool:
        sizes = pool.submit(tasks.size_of, big)
        data = pool.submit(tasks.make_bytes, 8 * 1024 * 1024)
        assert sizes.result() == len(big)
        assert data.result() == b"x" * (8 * 1024 * 1024)


@pytest.mark.timeout(30)
def test_system_exit_in_a_task_is_just_an_exception(impl: Any, method: str) -> None:
    with make_pool(impl, method, 1) as pool:
        future = pool.submit(tasks.raise_system_exit, 3)
        try:
            outcome = future.exception()
        except BaseException as exc:  # an executor whose worker died of it may raise
            outcome = exc
        if not isinstance(outcome, SystemExit):
            # pytrace=False: no traceback to render. After dask's worker restarts,
            # rendering one has crashed pytest on Python 3.11 ("SystemError: AST
            # constructor recursion depth mismatch", in ast.parse: CPython's bug).
            pytest.fail(f"the future's outcome is {outcome!r}, not SystemExit", pytrace=False)
        assert pool.submit(tasks.square, 5).result() == 25


@pytest.mark.timeout(30)
def test_initializer_runs_in_every_worker(impl: Any, method: str) -> None:
    with make_pool(impl, method, 2, initializer=tasks.remember_initialized,
                   initargs=(41,)) as pool:
        assert {f.result() for f in [pool.submit(tasks.initialized_value) for _ in range(6)]} \
            == {41}


@pytest.mark.timeout(30)
def test_wait_and_as_completed_work_with_pool_futures(impl: Any, method: str) -> None:
    with make_pool(impl, method) as pool:
        futures = [pool.submit(tasks.square, x) for x in range(6)]
        done, not_done = impl.futures.wait(futures)
        assert not not_done
        assert sorted(f.result() for f in impl.futures.as_completed(futures)) == [
            x * x for x in range(6)]


@pytest.mark.timeout(30)
def test_submit_after_shutdown_raises(impl: Any, method: str) -> None:
    pool = make_pool(impl, method)
    pool.submit(tasks.square, 1).result()
    pool.shutdown()
    pool.shutdown()  # idempotent
    with pytest.raises(RuntimeError, match="cannot schedule new futures after shutdown"):
        pool.submit(tasks.square, 2)


@pytest.mark.timeout(10)
def test_shutdown_of_an_unused_pool(impl: Any, method: str) -> None:
    with make_pool(impl, method):
        pass
    make_pool(impl, method).shutdown(wait=False)


@pytest.mark.timeout(30)
def test_shutdown_wait_leaves_no_process_and_no_thread(impl: Any, method: str) -> None:
    threads_before = set(threading.enumerate())
    with make_pool(impl, method) as pool:
        assert list(pool.map(tasks.square, range(4))) == [0, 1, 4, 9]
    assert multiprocessing.active_children() == []
    assert set(threading.enumerate()) == threads_before


@pytest.mark.timeout(30)
def test_shutdown_without_wait_returns_at_once_and_the_work_completes(
        impl: Any, method: str, gates: Gates) -> None:
    pool = make_pool(impl, method, 1, gates)
    running = pool.submit(tasks.block, "first")
    gates.wait_started()
    queued = pool.submit(tasks.square, 6)
    pool.shutdown(wait=False)
    assert not running.done() and not queued.done()  # shutdown did not wait
    gates.release()
    assert running.result() == "first"
    assert queued.result() == 36


@pytest.mark.timeout(30)
def test_shutdown_cancel_futures_cancels_the_queued_work(
        impl: Any, method: str, gates: Gates) -> None:
    pool = make_pool(impl, method, 1, gates)
    running = pool.submit(tasks.block, "kept")
    gates.wait_started()
    queued = [pool.submit(tasks.square, x) for x in range(6)]
    pool.shutdown(wait=False, cancel_futures=True)
    gates.release()
    assert running.result() == "kept"
    # The stdlib moves up to max_workers + 1 queued calls to its workers' queue
    # as they are submitted, marking them running: those run. minipool's
    # shared channel takes as many. Six is far beyond that: the rest are cancelled.
    assert queued[-1].cancelled()
    assert all(f.cancelled() or f.result() == x * x for x, f in enumerate(queued))
    assert sum(not f.cancelled() for f in queued) <= 2
    pool.shutdown(wait=True)


@pytest.mark.timeout(30)
def test_a_cancelled_future_never_runs(impl: Any, method: str, gates: Gates) -> None:
    with make_pool(impl, method, 1, gates) as pool:
        running = pool.submit(tasks.block, 1)
        gates.wait_started()
        # The stdlib hands up to max_workers + 1 calls to its workers' queue
        # early (they can no longer be cancelled): cancel the third one.
        queued = [pool.submit(tasks.square, x) for x in range(3)]
        try:
            assert queued[2].cancel()
        finally:
            gates.release()
        assert running.result() == 1
        assert [f.result() for f in queued[:2]] == [0, 1]
    assert queued[2].cancelled()


# ========================================================== bad input
@pytest.mark.timeout(30)
def test_unpicklable_function_fails_only_its_future(impl: Any, method: str) -> None:
    with make_pool(impl, method) as pool:
        bad = pool.submit(lambda: 1)
        assert isinstance(bad.exception(), (pickle.PicklingError, AttributeError))
        assert pool.submit(tasks.square, 3).result() == 9


@pytest.mark.timeout(30)
def test_unpicklable_result_fails_only_its_future(impl: Any, method: str) -> None:
    with make_pool(impl, method) as pool:
        bad = pool.submit(tasks.return_lock)
        others = [pool.submit(tasks.square, x) for x in range(4)]
        assert isinstance(bad.exception(), TypeError)
        assert [f.result() for f in others] == [0, 1, 4, 9]
        assert pool.submit(tasks.square, 5).result() == 25


@pytest.mark.timeout(30)
def test_unpicklable_exception_fails_only_its_future(impl: Any, method: str) -> None:
    with make_pool(impl, method) as pool:
        bad = pool.submit(tasks.raise_error_with_lock)
        assert isinstance(bad.exception(), TypeError)
        assert pool.submit(tasks.square, 5).result() == 25


# ===================================================== minipool's additions
@pytest.mark.minipool_only
@pytest.mark.timeout(30)
def test_unpicklable_call_fails_at_submit_naming_the_culprit(impl: Any, method: str) -> None:
    with make_pool(impl, method) as pool:
        bad_function = pool.submit(lambda: 1)
        bad_argument = pool.submit(tasks.add, 1, b=threading.Lock())
        assert bad_function.done() and bad_argument.done()  # at once, in the caller
        function_error = str(bad_function.exception())
        argument_error = str(bad_argument.exception())
    assert function_error.startswith("cannot pickle the function of task ")
    assert "<lambda>" in function_error
    assert argument_error.startswith(
        f"cannot pickle keyword argument 'b' of task {tasks.__name__}.add(1, b=")
    assert "cannot pickle '_thread.lock' object" in argument_error


@pytest.mark.minipool_only
@pytest.mark.timeout(30)
def test_unpicklable_result_and_exception_are_named(impl: Any, method: str) -> None:
    with make_pool(impl, method) as pool:
        result_error = str(pool.submit(tasks.return_lock).exception())
        exception_error = str(pool.submit(tasks.raise_error_with_lock).exception())
    assert result_error.startswith(
        f"cannot pickle the result of task {tasks.__name__}.return_lock()")
    assert "'_thread.lock'" in result_error
    assert exception_error.startswith("cannot pickle the exception ErrorWithLock(")


@pytest.mark.minipool_only
@pytest.mark.timeout(30)
def test_what_the_parent_cannot_unpickle_fails_only_its_future(impl: Any, method: str) -> None:
    # The stdlib breaks the whole pool here.
    with make_pool(impl, method) as pool:
        result_error = pool.submit(tasks.return_unloadable).exception()
        exception_error = pool.submit(tasks.raise_unloadable_error).exception()
        assert pool.submit(tasks.square, 5).result() == 25
    assert isinstance(result_error, ValueError)
    assert f"cannot unpickle the result of task {tasks.__name__}.return_unloadable()" in str(
        result_error)
    assert isinstance(exception_error, TypeError)
    assert "cannot unpickle the exception raised by task" in str(exception_error)
    assert "ErrorNeedingTwoArgs" in str(exception_error.__cause__)


@pytest.mark.minipool_only
@pytest.mark.timeout(30)
def test_remote_traceback_names_the_worker(impl: Any, method: str) -> None:
    with make_pool(impl, method, 1) as pool:
        worker_pid = pool.submit(tasks.pid).result()
        error = pool.submit(tasks.raise_value_error, "x").exception()
    assert isinstance(error.__cause__, minipool.process.RemoteTraceback)
    assert error.__cause__.pid == worker_pid
    assert f"(in worker process {worker_pid})" in str(error.__cause__)


@pytest.mark.minipool_only
@pytest.mark.timeout(30)
def test_initializer_failure_is_named_with_its_traceback(impl: Any, method: str) -> None:
    with make_pool(impl, method, 1, initializer=tasks.failing_initializer) as pool:
        error = pool.submit(tasks.square, 2).exception()
    assert f"The initializer {tasks.__name__}.failing_initializer failed" in str(error)
    assert "ValueError: initializer says no" in str(error)
    assert "failing_initializer" in str(error.__cause__)


@pytest.mark.minipool_only
@pytest.mark.timeout(30)
@pytest.mark.parametrize("how", ["terminate_workers", "kill_workers"])
def test_terminate_and_kill_workers(impl: Any, method: str, how: str, gates: Gates) -> None:
    pool = make_pool(impl, method, 1, gates)
    running = pool.submit(tasks.block, 1)
    worker_pid = gates.wait_started()
    queued = pool.submit(tasks.square, 2)
    getattr(pool, how)()
    error = running.exception()
    assert isinstance(error, impl.BrokenProcessPool)
    signal_name = "SIGTERM" if how == "terminate_workers" else "SIGKILL"
    assert f"worker process {worker_pid} was killed by signal {signal_name}" in str(error)
    # Never run: cancelled, or, if it was already handed to the workers'
    # queue, failed with the pool (as the stdlib's call queue does).
    assert queued.cancelled() or isinstance(queued.exception(), impl.BrokenProcessPool)
    with pytest.raises(RuntimeError):
        pool.submit(tasks.square, 3)
    pool.shutdown()


@pytest.mark.minipool_only
@pytest.mark.timeout(30)
def test_shutdown_from_a_callback_does_not_deadlock(impl: Any, method: str) -> None:
    pool = make_pool(impl, method, 1)
    future = pool.submit(tasks.square, 3)
    future.add_done_callback(lambda f: pool.shutdown(wait=True))
    assert future.result() == 9
    pool.shutdown()


@pytest.mark.minipool_only
@pytest.mark.timeout(30)
def test_a_callback_may_submit_more_work(impl: Any, method: str) -> None:
    with make_pool(impl, method, 1) as pool:
        chained: list[Any] = []
        submitted = threading.Event()

        def submit_next(f: Any) -> None:
            chained.append(pool.submit(tasks.square, f.result()))
            submitted.set()

        pool.submit(tasks.square, 3).add_done_callback(submit_next)
        assert submitted.wait(20)
        assert chained[0].result() == 81


# ====================================================== interpreter exit
EXIT_SCRIPT = """
import multiprocessing, {module} as futures
from minipool.conformance import process_tasks
pool = futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("{method}"))
futures_ = [pool.submit(process_tasks.square, i) for i in range(6)]
for f in futures_:
    f.add_done_callback(lambda f: print("result", f.result(), flush=True))
{ending}
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("ending", ["", "pool.shutdown(wait=False)", "del pool"],
                         ids=["no-shutdown", "shutdown-no-wait", "dropped"])
def test_interpreter_exit_completes_the_submitted_work(
        impl: Any, method: str, ending: str) -> None:
    module = "concurrent.futures" if impl.is_stdlib else "minipool"
    done = run_python(textwrap.dedent(
        EXIT_SCRIPT.format(module=module, method=method, ending=ending)))
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.split("\n")) == sorted(
        ["", *(f"result {i * i}" for i in range(6))]), done.stderr
