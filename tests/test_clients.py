"""Real clients: widely used libraries that take an executor object, run on minipool's pools.

A drop-in is proven by code nobody here wrote. Each library below takes an
executor *object* from its user and either checks its type or leans on the
``concurrent.futures`` API in a way that only a faithful drop-in survives:

* **asyncio** (the standard library): ``loop.set_default_executor(pool)``
  refuses anything but a ``concurrent.futures.ThreadPoolExecutor`` (3.11+; a
  DeprecationWarning on 3.9 and 3.10); ``asyncio.to_thread`` and
  ``run_in_executor`` chain the pool's futures into the loop's, both ways
  (a cancelled task cancels the pool's future); ``asyncio.run`` shuts the
  default executor down and joins it.
* **dask**'s local scheduler: ``dask.compute(..., scheduler=pool)`` checks
  ``isinstance(pool, concurrent.futures.Executor)``, reads ``_max_workers``
  for its batching and drives ``pool.submit`` with done callbacks; with a
  process pool the pool's own pickle ships dask's task objects.
* **grpcio** (gRPC's Python server, in most microservice stacks): the server
  runs every call through ``pool.submit``, stops with a grace period while
  calls still run in the pool, and takes a per-method pool only after
  checking ``isinstance(pool, concurrent.futures.ThreadPoolExecutor)``.
* **tornado** (under Jupyter and many web apps): ``@run_on_executor`` submits
  a method to ``self.executor`` and chains the future; ``IOLoop.add_future``
  asserts ``isinstance(future, concurrent.futures.Future)``.

(Picked over tqdm.contrib.concurrent and s3transfer, which take an executor
*class* and make the pool themselves, and joblib and anyio, which take none.)

How each hands a call to the pool (the names are the libraries' own)::

    asyncio  loop.run_in_executor(pool, fn) -> pool.submit(fn) -> wrap_future -> await
    dask     compute(scheduler=pool) -> local.get_async(pool.submit, pool._max_workers)
               -> pool.submit(batch_execute_tasks, tasks) -> done callback -> its queue
    grpc     server(pool) -> (a call arrives) pool.submit(handler) -> reply on the wire
    tornado  @run_on_executor -> self.executor.submit(method, self) -> chain_future
               -> IOLoop.add_future -> the loop's future

Tests take ``impl``: the stdlib's pools pass them too, which proves each test
sound. Tests about the pool's own threads or pids, or whose calls share
objects with the test, are listed in conftest's tables for executors under
test. A library that is not installed skips its tests (setup.cfg's ``test``
extra pins each one, per Python).
"""

from __future__ import annotations

import asyncio
import contextlib
import operator
import os
import pathlib
import subprocess
import sys
import threading
import time
import warnings
from types import ModuleType
from typing import Any, Callable, Iterator

import pytest

from minipool.conformance.executor_tasks import SocketGate, gated

LONG = 10.0  # seconds: the most any wait in a passing test should need
ROOT = pathlib.Path(__file__).resolve().parent.parent
KINDS = ["thread", "process"]

pytestmark = pytest.mark.timeout(60)  # an event loop or a server waiting on a lost call hangs


def pool_of(impl: Any, kind: str, workers: int = 2) -> Any:
    return impl.ThreadPool(workers) if kind == "thread" else impl.ProcessPool(workers)


def current_thread_name() -> str:
    return threading.current_thread().name


def hold(started: threading.Event, gate: threading.Event) -> None:
    started.set()
    gate.wait(LONG)


@pytest.fixture
def gate() -> Iterator[SocketGate]:
    gate = SocketGate()
    yield gate
    gate.close()


# ------------------------------------------------------------------ asyncio
def test_to_thread_runs_in_the_pool_set_as_the_loops_default_executor(impl: Any) -> None:
    async def main(pool: Any) -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # 3.9, 3.10 only warn about a foreign executor
            asyncio.get_running_loop().set_default_executor(pool)
        return await asyncio.to_thread(current_thread_name)

    with impl.ThreadPool(2, thread_name_prefix="to-thread") as pool:
        assert asyncio.run(main(pool)).startswith("to-thread_")


def test_to_thread_on_the_pool_propagates_the_calls_exception(impl: Any) -> None:
    async def main(pool: Any) -> int:
        asyncio.get_running_loop().set_default_executor(pool)
        return await asyncio.to_thread(int, "not a number")

    with impl.ThreadPool(2) as pool:
        with pytest.raises(ValueError, match="not a number"):
            asyncio.run(main(pool))


def test_asyncio_run_shuts_the_default_executor_down_and_joins_its_threads(impl: Any) -> None:
    finished: list[str] = []

    def slow_call() -> None:
        # Slow on purpose, so that it still runs when asyncio.run shuts the executor
        # down: a shutdown that does not wait returns before it ends.
        time.sleep(0.2)  # a task that must be slow (see above)
        finished.append("done")

    async def main(pool: Any) -> None:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(pool)
        loop.run_in_executor(None, slow_call)  # not awaited: asyncio.run must wait for it

    pool = impl.ThreadPool(2, thread_name_prefix="run-ends")
    try:
        asyncio.run(main(pool))
        # No grace: asyncio.run returned after shutdown(wait=True) returned.
        assert finished == ["done"]
        assert [t.name for t in threading.enumerate() if t.name.startswith("run-ends")] == []
        with pytest.raises(RuntimeError):
            pool.submit(int)
    finally:
        pool.shutdown()


def test_run_in_executor_on_a_process_pool_runs_the_call_in_a_worker_process(impl: Any) -> None:
    async def main(pool: Any) -> list[int]:
        loop = asyncio.get_running_loop()
        return list(await asyncio.gather(loop.run_in_executor(pool, os.getpid),
                                         loop.run_in_executor(pool, pow, 3, 4)))

    with impl.ProcessPool(2) as pool:
        pid, value = asyncio.run(main(pool))
    assert value == 81 and pid != os.getpid()


def test_run_in_executor_on_a_process_pool_propagates_the_calls_exception(impl: Any) -> None:
    async def main(pool: Any) -> int:
        return await asyncio.get_running_loop().run_in_executor(pool, int, "not a number")

    with impl.ProcessPool(2) as pool:
        with pytest.raises(ValueError, match="not a number"):
            asyncio.run(main(pool))


def test_cancelling_the_task_awaiting_a_queued_call_cancels_the_call(impl: Any) -> None:
    # A thread pool only: the stdlib's process pool moves queued calls ahead
    # to its workers, so whether one can still be cancelled is timing there.
    started, release = threading.Event(), threading.Event()
    ran: list[str] = []

    async def main(pool: Any) -> None:
        loop = asyncio.get_running_loop()
        blocker = loop.run_in_executor(pool, hold, started, release)
        queued = loop.run_in_executor(pool, ran.append, "ran")
        relayed = asyncio.Event()
        # Done callbacks run in order of addition: asyncio's own (which
        # cancels the pool's future) first, then this one.
        queued.add_done_callback(lambda _: relayed.set())
        awaiting = asyncio.ensure_future(wait_for(queued))
        await asyncio.sleep(0)  # one turn of the loop: the task now awaits `queued`
        assert started.wait(LONG)  # (blocks the loop briefly: nothing else runs on it)
        awaiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await awaiting
        await relayed.wait()
        release.set()
        await blocker

    with impl.ThreadPool(1) as pool:
        try:
            asyncio.run(main(pool))
        finally:
            release.set()
    assert ran == []


async def wait_for(future: Any) -> Any:
    return await future


@pytest.mark.parametrize("kind", KINDS)
def test_cancelling_the_task_awaiting_a_running_call_leaves_the_pool_working(
        impl: Any, kind: str, gate: SocketGate) -> None:
    reported: list[dict[str, Any]] = []  # what the loop's exception handler got

    async def main(pool: Any) -> int:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _, context: reported.append(context))
        running = loop.run_in_executor(pool, gated, gate.address, "dropped")
        awaiting = asyncio.ensure_future(wait_for(running))
        await asyncio.sleep(0)  # one turn of the loop: the task now awaits `running`
        gate.wait_started()  # (blocks the loop briefly: nothing else runs on it)
        awaiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await awaiting
        gate.release()
        # One worker: this call runs after the cancelled one has returned.
        after: int = await loop.run_in_executor(pool, pow, 2, 8)
        return after

    with pool_of(impl, kind, workers=1) as pool:
        assert asyncio.run(main(pool)) == 256
    assert reported == []


@pytest.mark.minipool_only
@pytest.mark.timeout(60)
def test_asyncio_run_with_a_minipool_default_executor_works_in_a_fresh_interpreter() -> None:
    # issue 11's "done means": python3.11 -c "import asyncio, minipool; asyncio.run(...)"
    code = ("import asyncio, minipool\n"
            "async def main():\n"
            "    asyncio.get_running_loop().set_default_executor(minipool.ThreadPoolExecutor(2))\n"
            "    return await asyncio.to_thread(sum, [1, 2, 3])\n"
            "print(asyncio.run(main()))\n")
    run = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True,
                         text=True, timeout=50, cwd=ROOT)
    assert (run.returncode, run.stdout, run.stderr) == (0, "6\n", "")


# ------------------------------------------------------------------ dask's local scheduler
def delayed_graph(dask: ModuleType) -> Any:
    """sum(n**2 for n < 20) + 3*4: independent tasks, then tasks that wait on them."""
    squares = [dask.delayed(pow)(n, 2) for n in range(20)]
    return dask.delayed(operator.add)(dask.delayed(sum)(squares),
                                      dask.delayed(operator.mul)(3, 4))


@pytest.mark.parametrize("kind", KINDS)
def test_dask_delayed_graph_gives_the_sync_schedulers_result(
        impl: Any, kind: str, dask_library: ModuleType) -> None:
    graph = delayed_graph(dask_library)
    with pool_of(impl, kind) as pool:
        (value,) = dask_library.compute(graph, scheduler=pool)
    assert value == dask_library.compute(graph, scheduler="sync")[0] == 2470 + 12


@pytest.mark.parametrize("kind", KINDS)
def test_dask_bag_map_and_fold_give_the_sync_schedulers_result(
        impl: Any, kind: str, dask_library: ModuleType) -> None:
    bag = dask_library.bag.from_sequence(range(100), npartitions=8)
    total = bag.map(operator.mul, 3).fold(operator.add)
    counts = bag.map(operator.mod, 7).frequencies(sort=True)
    with pool_of(impl, kind) as pool:
        got = dask_library.compute(total, counts, scheduler=pool)
    assert got == dask_library.compute(total, counts, scheduler="sync")
    assert got[0] == 3 * sum(range(100)) and sum(n for _, n in got[1]) == 100


@pytest.mark.parametrize("kind", KINDS)
def test_dask_task_exception_propagates_from_compute(
        impl: Any, kind: str, dask_library: ModuleType) -> None:
    graph = dask_library.delayed(operator.add)(1, dask_library.delayed(int)("not a number"))
    with pool_of(impl, kind) as pool:
        with pytest.raises(ValueError, match="not a number"):
            dask_library.compute(graph, scheduler=pool)


def test_dask_runs_its_tasks_in_the_thread_pools_own_threads(
        impl: Any, dask_library: ModuleType) -> None:
    names = [dask_library.delayed(current_thread_name, pure=False)() for _ in range(8)]
    with impl.ThreadPool(2, thread_name_prefix="dask-pool") as pool:
        (got,) = dask_library.compute(names, scheduler=pool)
    assert all(name.startswith("dask-pool_") for name in got) and len(set(got)) <= 2


def test_dask_runs_its_tasks_in_the_process_pools_worker_processes(
        impl: Any, dask_library: ModuleType) -> None:
    delayed = dask_library.delayed
    pids = [delayed(os.getpid, pure=False)() for _ in range(8)]
    parents = [delayed(os.getppid, pure=False)() for _ in range(8)]
    with impl.ProcessPool(2) as pool:
        got_pids, got_parents = dask_library.compute(pids, parents, scheduler=pool)
    assert os.getpid() not in got_pids and len(set(got_pids)) <= 2
    assert set(got_parents) == {os.getpid()}  # children of this process: the pool's workers


def test_dask_config_pool_runs_the_threaded_scheduler_on_the_pools_threads(
        impl: Any, dask_library: ModuleType) -> None:
    names = [dask_library.delayed(current_thread_name, pure=False)() for _ in range(8)]
    with impl.ThreadPool(2, thread_name_prefix="dask-config") as pool, \
            dask_library.config.set(pool=pool):
        (got,) = dask_library.compute(names, scheduler="threads")
    assert all(name.startswith("dask-config_") for name in got)


def test_dask_config_pool_runs_the_processes_scheduler_on_the_pool(
        impl: Any, dask_library: ModuleType) -> None:
    # The processes scheduler cloudpickles each task itself and hands the pool
    # bytes: a lambda travels, which the pool's own pickle could not ship.
    graph = dask_library.delayed(lambda x: x * 2)(delayed_graph(dask_library))
    with impl.ProcessPool(2) as pool, dask_library.config.set(pool=pool):
        (value,) = dask_library.compute(graph, scheduler="processes")
    assert value == 2 * (2470 + 12)


@pytest.mark.minipool_only
@pytest.mark.timeout(60)
def test_dask_compute_on_a_minipool_process_pool_works_in_a_fresh_interpreter(
        dask_library: ModuleType) -> None:
    # issue 11's "done means": dask.compute(..., scheduler=minipool.ProcessPoolExecutor(2)),
    # the pool left open as a one-off script would: the interpreter still exits.
    code = ("import operator, dask.bag, minipool\n"
            "total = dask.bag.from_sequence(range(100), npartitions=4)"
            ".map(operator.mul, 2).fold(operator.add)\n"
            "print(dask.compute(total, scheduler=minipool.ProcessPoolExecutor(2))[0])\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=50, cwd=ROOT)
    assert (run.returncode, run.stdout, run.stderr) == (0, "9900\n", "")


# ------------------------------------------------------------------ grpcio
SERVICE = "minipool.test.Echo"


@pytest.fixture
def grpc() -> ModuleType:
    return pytest.importorskip(
        "grpc", reason="grpcio is not installed (setup.cfg's test extra installs it)")


@contextlib.contextmanager
def serving(grpc: ModuleType, pool: Any, behaviour: Callable[[bytes, Any], bytes]) -> Iterator[
        tuple[Any, Any]]:
    """A gRPC server on loopback whose one method (bytes in, bytes out) is *behaviour*.

    Yields the server and a callable for the method, on a fresh channel.
    """
    handler = grpc.method_handlers_generic_handler(
        SERVICE, {"Echo": grpc.unary_unary_rpc_method_handler(behaviour)})
    server = grpc.server(pool, handlers=[handler])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield server, channel.unary_unary(f"/{SERVICE}/Echo")
    finally:
        server.stop(None).wait(LONG)


def test_grpc_server_runs_concurrent_calls_in_the_pools_threads(
        impl: Any, grpc: ModuleType) -> None:
    all_in = threading.Barrier(3, timeout=LONG)  # each call waits for the other two

    def echo(request: bytes, context: Any) -> bytes:
        all_in.wait()
        return request + b":" + current_thread_name().encode()

    with impl.ThreadPool(4, thread_name_prefix="grpc-pool") as pool, \
            serving(grpc, pool, echo) as (_, call):
        replies = [future.result() for future in
                   [call.future(b"%d" % n, timeout=LONG) for n in range(3)]]
    requests, names = zip(*(reply.split(b":") for reply in replies))
    assert requests == (b"0", b"1", b"2")
    assert len(set(names)) == 3 and all(name.startswith(b"grpc-pool_") for name in names)


def test_grpc_server_stop_with_grace_lets_the_call_running_in_the_pool_finish(
        impl: Any, grpc: ModuleType) -> None:
    started, release = threading.Event(), threading.Event()

    def slow_echo(request: bytes, context: Any) -> bytes:
        hold(started, release)
        return request

    with impl.ThreadPool(2) as pool, serving(grpc, pool, slow_echo) as (server, call):
        try:
            reply = call.future(b"late", timeout=LONG)
            assert started.wait(LONG)
            stopped = server.stop(grace=LONG)
            assert not stopped.is_set()  # the call still runs in the pool
            release.set()
            assert reply.result() == b"late"
            assert stopped.wait(LONG)
        finally:
            release.set()


def test_grpc_takes_the_pool_as_a_methods_own_thread_pool(impl: Any, grpc: ModuleType) -> None:
    # grpc uses a handler's experimental_thread_pool only if it is a
    # concurrent.futures.ThreadPoolExecutor; otherwise the server's pool runs it.
    def where(request: bytes, context: Any) -> bytes:
        return current_thread_name().encode()

    with impl.ThreadPool(1, thread_name_prefix="server-pool") as server_pool, \
            impl.ThreadPool(1, thread_name_prefix="method-pool") as method_pool:
        where.experimental_thread_pool = method_pool  # type: ignore[attr-defined]
        with serving(grpc, server_pool, where) as (_, call):
            assert call(b"", timeout=LONG).startswith(b"method-pool_")


# ------------------------------------------------------------------ tornado
@pytest.fixture
def tornado() -> ModuleType:
    reason = "tornado is not installed (setup.cfg's test extra installs it)"
    pytest.importorskip("tornado.concurrent", reason=reason)
    pytest.importorskip("tornado.ioloop", reason=reason)
    return pytest.importorskip("tornado", reason=reason)


def blocking_service(tornado: ModuleType, executor: Any) -> Any:
    """An object whose methods tornado's @run_on_executor sends to ``self.executor``."""
    run_on_executor = tornado.concurrent.run_on_executor

    class BlockingService:
        def __init__(self) -> None:
            self.executor = executor

        @run_on_executor
        def double(self, x: int) -> tuple[int, str]:
            return 2 * x, current_thread_name()

        @run_on_executor
        def parse(self, text: str) -> int:
            return int(text)

    return BlockingService()


def test_tornado_run_on_executor_runs_the_method_in_the_pools_threads(
        impl: Any, tornado: ModuleType) -> None:
    async def main(pool: Any) -> tuple[int, str]:
        result: tuple[int, str] = await blocking_service(tornado, pool).double(21)
        return result

    with impl.ThreadPool(2, thread_name_prefix="tornado-pool") as pool:
        value, name = asyncio.run(main(pool))
    assert value == 42 and name.startswith("tornado-pool_")


def test_tornado_run_on_executor_propagates_the_methods_exception(
        impl: Any, tornado: ModuleType) -> None:
    async def main(pool: Any) -> int:
        result: int = await blocking_service(tornado, pool).parse("not a number")
        return result

    with impl.ThreadPool(2) as pool:
        with pytest.raises(ValueError, match="not a number"):
            asyncio.run(main(pool))


def test_tornado_run_in_executor_on_a_process_pool_runs_in_a_worker_process(
        impl: Any, tornado: ModuleType) -> None:
    async def main(pool: Any) -> list[int]:
        loop = tornado.ioloop.IOLoop.current()
        return list(await asyncio.gather(loop.run_in_executor(pool, os.getpid),
                                         loop.run_in_executor(pool, pow, 2, 10)))

    with impl.ProcessPool(2) as pool:
        pid, value = asyncio.run(main(pool))
    assert value == 1024 and pid != os.getpid()


def test_tornado_add_future_calls_back_on_the_loops_thread(
        impl: Any, tornado: ModuleType) -> None:
    seen: list[tuple[int, threading.Thread]] = []

    async def main(pool: Any) -> None:
        called = asyncio.Event()

        def callback(future: Any) -> None:
            seen.append((future.result(), threading.current_thread()))
            called.set()

        # add_future asserts the future is a concurrent.futures.Future.
        tornado.ioloop.IOLoop.current().add_future(pool.submit(pow, 2, 5), callback)
        await asyncio.wait_for(called.wait(), LONG)

    with impl.ThreadPool(2) as pool:
        asyncio.run(main(pool))
    assert seen == [(32, threading.current_thread())]
