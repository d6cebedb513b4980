"""minipool beside the stdlib: asyncio, shared exception classes, names, signatures."""

from __future__ import annotations

import asyncio
import concurrent.futures
import concurrent.futures.thread
import inspect
import sys
import threading

import pytest

import minipool
import minipool.thread

LONG = 10.0  # seconds: the most any wait in a passing test should need

pytestmark = pytest.mark.timeout(15)  # an event loop waiting on a lost future hangs

# concurrent.futures.__all__ on Python 3.13, the largest of 3.9-3.13 (3.13 adds
# InvalidStateError), written out so the check does not depend on the running Python.
STDLIB_ALL_313 = [
    "FIRST_COMPLETED", "FIRST_EXCEPTION", "ALL_COMPLETED",
    "CancelledError", "TimeoutError", "InvalidStateError", "BrokenExecutor",
    "Future", "Executor", "wait", "as_completed",
    "ProcessPoolExecutor", "ThreadPoolExecutor",
]


# ------------------------------------------------------------------ asyncio
def test_run_in_executor_runs_the_call_in_the_pool(impl):
    async def main(pool):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool, lambda: (threading.current_thread(), 2 ** 5))

    with impl.ThreadPool(1) as pool:
        thread, value = asyncio.run(main(pool))
    assert value == 32 and thread is not threading.current_thread()


def test_run_in_executor_propagates_the_exception(impl):
    async def main(pool):
        return await asyncio.get_running_loop().run_in_executor(pool, int, "x")

    with impl.ThreadPool(1) as pool:
        with pytest.raises(ValueError):
            asyncio.run(main(pool))


def test_wrap_future_awaits_a_pool_future(impl):
    async def main(f):
        return await asyncio.wrap_future(f)

    with impl.ThreadPool(1) as pool:
        assert asyncio.run(main(pool.submit(pow, 3, 3))) == 27


@pytest.mark.no_executor
def test_wrap_future_accepts_a_bare_future_finished_by_another_thread(impl):
    f = impl.futures.Future()

    async def main():
        wrapped = asyncio.wrap_future(f)
        threading.Thread(target=f.set_result, args=("late",)).start()
        return await wrapped

    assert asyncio.run(main()) == "late"


def test_cancelling_the_asyncio_future_cancels_the_pending_pool_future(impl):
    started = threading.Event()
    gate = threading.Event()

    async def main(pool):
        pool.submit(lambda: (started.set(), gate.wait(LONG)))
        queued = pool.submit(int)  # pending behind the blocked call
        assert started.wait(LONG)  # (blocks the loop briefly: nothing else runs on it)
        wrapped = asyncio.wrap_future(queued)
        relayed = asyncio.Event()
        # Done callbacks run in order of addition: asyncio's own (which
        # cancels the source) first, then this one.
        wrapped.add_done_callback(lambda _: relayed.set())
        wrapped.cancel()
        await relayed.wait()
        return queued

    with impl.ThreadPool(1) as pool:
        try:
            queued = asyncio.run(main(pool))
            assert queued.cancelled()
        finally:
            gate.set()


@pytest.mark.no_executor
def test_cancelling_the_concurrent_future_cancels_the_asyncio_future(impl):
    f = impl.futures.Future()

    async def main():
        wrapped = asyncio.wrap_future(f)
        assert f.cancel()
        with pytest.raises(asyncio.CancelledError):
            await wrapped
        return wrapped.cancelled()

    assert asyncio.run(main()) is True


def test_a_thread_pool_is_accepted_as_the_loops_default_executor(impl):
    # asyncio checks isinstance(pool, concurrent.futures.ThreadPoolExecutor):
    # a TypeError from Python 3.11 on, a DeprecationWarning on 3.9 and 3.10.
    async def main(pool):
        loop = asyncio.get_running_loop()
        loop.set_default_executor(pool)
        return await loop.run_in_executor(None, threading.current_thread)

    with impl.ThreadPool(1, thread_name_prefix="default-executor") as pool:
        thread = asyncio.run(main(pool))
    assert thread.name.startswith("default-executor")


# ------------------------------------------------------------------ shared exception classes
def test_stdlib_except_cancelled_error_catches_minipool_cancel():
    f = minipool.Future()
    f.cancel()
    with pytest.raises(concurrent.futures.CancelledError):
        f.result()


def test_stdlib_except_timeout_error_catches_minipool_timeout():
    with pytest.raises(concurrent.futures.TimeoutError):
        minipool.Future().result(timeout=0)
    with pytest.raises(concurrent.futures.TimeoutError):
        list(minipool.as_completed([minipool.Future()], timeout=0))


def test_stdlib_except_invalid_state_error_catches_minipool_refusal():
    f = minipool.Future()
    f.set_result(1)
    with pytest.raises(concurrent.futures.InvalidStateError):
        f.set_result(2)


def test_stdlib_except_broken_executor_catches_minipool_broken_thread_pool():
    def init():
        raise RuntimeError("init failed")

    pool = minipool.MiniThreadPool(1, initializer=init)
    try:
        f = pool.submit(int)
        with pytest.raises(concurrent.futures.BrokenExecutor):
            f.result(timeout=LONG)
        with pytest.raises(concurrent.futures.thread.BrokenThreadPool):
            pool.submit(int)
    finally:
        pool.shutdown()


def test_broken_thread_pool_is_a_broken_executor():
    assert issubclass(minipool.thread.BrokenThreadPool, minipool.BrokenExecutor)
    assert issubclass(minipool.thread.BrokenThreadPool, concurrent.futures.BrokenExecutor)


def test_minipool_except_clauses_catch_the_stdlib_errors():
    f = concurrent.futures.Future()
    f.cancel()
    with pytest.raises(minipool.CancelledError):
        f.result()
    with pytest.raises(minipool.TimeoutError):
        concurrent.futures.Future().result(timeout=0)


# ------------------------------------------------------------------ names and signatures
EXTRAS = ["WorkerCrashed", "TaskTimeout", "Timeline", "PoolStats", "WorkerStats",
          "write_trace", "write_report"]


def test_all_is_the_stdlib_list_plus_the_two_pools_the_extras_and_make_executor():
    assert sorted(minipool.__all__) == sorted([*STDLIB_ALL_313, "MiniThreadPool",
                                               "MiniProcessPool", *EXTRAS, "make_executor"])
    assert len(set(minipool.__all__)) == len(minipool.__all__)


def test_every_name_in_the_running_stdlib_all_exists_in_minipool():
    missing = [name for name in concurrent.futures.__all__ if not hasattr(minipool, name)]
    assert missing == []


def test_every_name_in_minipool_all_exists():
    assert [name for name in minipool.__all__ if not hasattr(minipool, name)] == []


def test_the_constants_have_the_stdlib_values():
    for name in ("FIRST_COMPLETED", "FIRST_EXCEPTION", "ALL_COMPLETED"):
        assert getattr(minipool, name) == getattr(concurrent.futures, name)


def test_stdlib_pool_names_are_the_mini_pools():
    assert minipool.ThreadPoolExecutor is minipool.MiniThreadPool
    assert minipool.ProcessPoolExecutor is minipool.MiniProcessPool


def _shape(function):
    """A signature without annotations: names, kinds and defaults."""
    return [(p.name, p.kind, p.default)
            for p in inspect.signature(function).parameters.values()]


FUTURE_METHODS = ["cancel", "cancelled", "running", "done", "result", "exception",
                  "add_done_callback", "set_running_or_notify_cancel", "set_result",
                  "set_exception"]


@pytest.mark.parametrize("method", FUTURE_METHODS)
def test_future_method_signature_matches_the_stdlib(method):
    assert _shape(getattr(minipool.Future, method)) == _shape(
        getattr(concurrent.futures.Future, method))


@pytest.mark.parametrize("name", ["wait", "as_completed"])
def test_waiting_function_signature_matches_the_stdlib(name):
    assert _shape(getattr(minipool, name)) == _shape(getattr(concurrent.futures, name))


@pytest.mark.parametrize("path", ["ThreadPoolExecutor.__init__", "ThreadPoolExecutor.submit",
                                  "ThreadPoolExecutor.shutdown", "Executor.submit",
                                  "Executor.shutdown"])
def test_executor_signature_matches_the_stdlib(path):
    def lookup(module):
        cls, method = path.split(".")
        return getattr(getattr(module, cls), method)

    assert _shape(lookup(minipool)) == _shape(lookup(concurrent.futures))


@pytest.mark.parametrize("cls", ["Executor", "ThreadPoolExecutor"])
def test_map_signature_is_the_stdlib_one_with_buffersize(cls):
    ours = _shape(getattr(minipool, cls).map)
    theirs = _shape(getattr(concurrent.futures, cls).map)
    if sys.version_info < (3, 14):  # the stdlib has buffersize from 3.14 on
        theirs.append(("buffersize", inspect.Parameter.KEYWORD_ONLY, None))
    assert ours == theirs
