"""The thread pool: construction, workers, initializers, shutdown, callbacks, exit."""

from __future__ import annotations

import concurrent.futures
import gc
import os
import sys
import textwrap
import threading
import time

import pytest

from minipool.conformance.plugin import run_python

LONG = 10.0  # seconds: the most any wait in a passing test should need

pytestmark = pytest.mark.timeout(15)  # a stuck worker or a lost sentinel hangs shutdown

def stdlib_default_max_workers():
    if sys.version_info >= (3, 13):
        cpus = os.process_cpu_count()
    else:
        cpus = os.cpu_count()
    return min(32, (cpus or 1) + 4)


def new_threads(before):
    return [t for t in threading.enumerate() if t not in before]


def peak_concurrency(pool, expected, tasks):
    """Run *tasks* calls (a multiple of *expected*) that meet at a Barrier(expected).

    Returns (the most calls ever running at once, the names of their threads).

    The barrier proves `expected` calls run at once (it breaks otherwise);
    the peak counter proves no more than that ever do.
    """
    barrier = threading.Barrier(expected, timeout=LONG)
    lock = threading.Lock()
    running = peak = 0
    names = set()

    def task():
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            names.add(threading.current_thread().name)
        try:
            barrier.wait()
        finally:
            with lock:
                running -= 1

    futures = [pool.submit(task) for _ in range(tasks)]
    for f in futures:
        f.result(timeout=LONG)
    return peak, names


# ------------------------------------------------------------------ constructor
def test_default_max_workers_matches_the_stdlib_formula(impl):
    expected = stdlib_default_max_workers()
    with impl.ThreadPool() as pool:
        peak, names = peak_concurrency(pool, expected, tasks=2 * expected)
    assert peak == expected and len(names) == expected


@pytest.mark.parametrize("bad", [0, -1])
def test_max_workers_must_be_positive(impl, bad):
    with pytest.raises(ValueError):
        impl.ThreadPool(max_workers=bad)


def test_initializer_must_be_callable(impl):
    with pytest.raises(TypeError):
        impl.ThreadPool(1, initializer="not callable")


def test_no_worker_thread_starts_before_the_first_submit(impl):
    before = threading.enumerate()
    pool = impl.ThreadPool(4)
    try:
        assert new_threads(before) == []
        pool.submit(int).result(timeout=LONG)
        assert len(new_threads(before)) == 1
    finally:
        pool.shutdown()


def test_idle_worker_is_reused_before_a_new_one_starts(impl):
    with impl.ThreadPool(4) as pool:
        names = {pool.submit(lambda: threading.current_thread().name).result(timeout=LONG)
                 for _ in range(10)}
    assert len(names) == 1


def test_never_more_than_max_workers_threads(impl):
    with impl.ThreadPool(3) as pool:
        peak, names = peak_concurrency(pool, 3, tasks=9)
    assert peak == 3 and len(names) == 3


def test_thread_name_prefix_names_the_workers(impl):
    with impl.ThreadPool(2, thread_name_prefix="crunch") as pool:
        _, names = peak_concurrency(pool, 2, tasks=2)
    assert len(names) == 2 and all(name.startswith("crunch") for name in names)


# ------------------------------------------------------------------ initializer
def test_initializer_runs_once_in_each_worker_with_initargs(impl):
    lock = threading.Lock()
    inits = []

    def init(a, b):
        with lock:
            inits.append((threading.current_thread().name, a, b))

    with impl.ThreadPool(2, initializer=init, initargs=(1, "two")) as pool:
        _, names = peak_concurrency(pool, 2, tasks=6)
    assert sorted(inits) == sorted((name, 1, "two") for name in names)


def test_raising_initializer_fails_pending_futures_with_broken_thread_pool(impl):
    may_fail = threading.Event()

    def init():
        assert may_fail.wait(LONG)
        raise RuntimeError("init failed")

    pool = impl.ThreadPool(1, initializer=init)
    try:
        futures = [pool.submit(int, i) for i in range(3)]
        may_fail.set()
        for f in futures:
            assert isinstance(f.exception(timeout=LONG), impl.BrokenThreadPool)
    finally:
        may_fail.set()
        pool.shutdown()


def test_submit_to_a_pool_broken_by_its_initializer_raises_broken_thread_pool(impl):
    def init():
        raise RuntimeError("init failed")

    pool = impl.ThreadPool(1, initializer=init)
    try:
        first = pool.submit(int)
        with pytest.raises(impl.BrokenThreadPool):
            first.result(timeout=LONG)
        with pytest.raises(impl.BrokenThreadPool):
            pool.submit(int)
    finally:
        pool.shutdown()


@pytest.mark.minipool_only
def test_broken_pool_fails_queued_futures_behind_a_cancelled_one(impl):
    # The stdlib's pool calls set_exception on the cancelled future, which
    # raises InvalidStateError in its worker: the futures queued after it
    # stay pending forever. minipool notifies the cancelled one and goes on.
    may_fail = threading.Event()

    def init():
        assert may_fail.wait(LONG)
        raise RuntimeError("init failed")

    pool = impl.ThreadPool(1, initializer=init)
    try:
        first, second, third = (pool.submit(int) for _ in range(3))
        assert second.cancel()
        may_fail.set()
        assert isinstance(third.exception(timeout=LONG), impl.BrokenThreadPool)
        assert isinstance(first.exception(timeout=LONG), impl.BrokenThreadPool)
        assert second.cancelled()
        done, _ = concurrent.futures.wait([second], timeout=LONG)  # notified, not just cancelled
        assert done == {second}
    finally:
        may_fail.set()
        pool.shutdown()


# ------------------------------------------------------------------ shutdown
def test_shutdown_wait_true_waits_for_running_and_queued_work(impl):
    def slow(i):
        time.sleep(0.05)  # slow on purpose: shutdown must wait for it
        return i

    pool = impl.ThreadPool(1)
    futures = [pool.submit(slow, i) for i in range(4)]
    pool.shutdown(wait=True)
    assert [f.done() for f in futures] == [True] * 4
    assert [f.result(timeout=0) for f in futures] == [0, 1, 2, 3]


def test_shutdown_wait_false_returns_while_a_task_is_blocked(impl):
    gate = threading.Event()
    pool = impl.ThreadPool(1)
    try:
        blocked = pool.submit(gate.wait, LONG)
        queued = pool.submit(lambda: "queued")
        pool.shutdown(wait=False)
        assert not blocked.done()  # shutdown did not wait for it
    finally:
        gate.set()
    assert blocked.result(timeout=LONG) is True
    assert queued.result(timeout=LONG) == "queued"  # queued work still runs
    pool.shutdown(wait=True)


def test_shutdown_cancel_futures_cancels_queued_but_not_running(impl):
    started = threading.Event()
    gate = threading.Event()
    pool = impl.ThreadPool(1)
    try:
        running = pool.submit(lambda: (started.set(), gate.wait(LONG))[1])
        queued = [pool.submit(int, i) for i in range(3)]
        assert started.wait(LONG)
        pool.shutdown(wait=False, cancel_futures=True)
        assert [f.cancelled() for f in queued] == [True] * 3
        assert not running.cancelled()
    finally:
        gate.set()
        pool.shutdown(wait=True)
    assert running.result(timeout=0) is True


def test_submit_after_shutdown_raises_runtime_error(impl):
    pool = impl.ThreadPool(1)
    pool.shutdown()
    with pytest.raises(RuntimeError):
        pool.submit(int)


def test_shutdown_twice_is_harmless(impl):
    pool = impl.ThreadPool(1)
    pool.submit(int).result(timeout=LONG)
    pool.shutdown()
    pool.shutdown()
    pool.shutdown(wait=False, cancel_futures=True)


def test_context_manager_shuts_down_after_the_work_is_done(impl):
    def slow():
        time.sleep(0.05)  # slow on purpose: the with-block must wait for it
        return "ok"

    with impl.ThreadPool(1) as pool:
        f = pool.submit(slow)
    assert f.done() and f.result(timeout=0) == "ok"
    with pytest.raises(RuntimeError):
        pool.submit(int)


def test_context_manager_returns_the_pool(impl):
    pool = impl.ThreadPool(1)
    with pool as entered:
        assert entered is pool


def test_no_thread_left_after_shutdown_wait_true(impl):
    before = threading.enumerate()
    pool = impl.ThreadPool(3)
    peak_concurrency(pool, 3, tasks=3)
    pool.shutdown(wait=True)
    assert new_threads(before) == []  # joined, not merely told to stop


def test_dropped_pool_lets_its_workers_exit(impl):
    before = threading.enumerate()
    pool = impl.ThreadPool(2)
    peak_concurrency(pool, 2, tasks=2)
    workers = new_threads(before)
    assert len(workers) == 2
    del pool
    gc.collect()
    for worker in workers:
        worker.join(LONG)
    assert [w.is_alive() for w in workers] == [False, False]


# ------------------------------------------------------------------ tasks and callbacks
def test_callback_runs_in_the_worker_that_finished_the_task(impl):
    gate = threading.Event()
    task_thread = []
    callback_thread = []

    def task():
        task_thread.append(threading.current_thread())
        gate.wait(LONG)

    with impl.ThreadPool(1) as pool:
        try:
            f = pool.submit(task)
            f.add_done_callback(lambda _: callback_thread.append(threading.current_thread()))
        finally:
            gate.set()
        f.result(timeout=LONG)
    assert callback_thread == task_thread
    assert callback_thread[0] is not threading.current_thread()


def test_task_raising_base_exception_is_captured_in_the_future(impl):
    class Interrupt(BaseException):  # like KeyboardInterrupt: not an Exception
        pass

    def task():
        raise Interrupt()

    with impl.ThreadPool(1) as pool:
        f = pool.submit(task)
        assert isinstance(f.exception(timeout=LONG), Interrupt)
        # The worker survived it and serves the next call.
        assert pool.submit(lambda: "alive").result(timeout=LONG) == "alive"


def test_task_exception_is_captured_in_the_future(impl):
    with impl.ThreadPool(1) as pool:
        f = pool.submit(int, "not a number")
        with pytest.raises(ValueError):
            f.result(timeout=LONG)


def test_submit_passes_positional_and_keyword_arguments(impl):
    with impl.ThreadPool(1) as pool:
        f = pool.submit(lambda *args, **kwargs: (args, kwargs), 1, 2, x=3)
        assert f.result(timeout=LONG) == ((1, 2), {"x": 3})


def test_submit_keyword_named_fn_reaches_the_task(impl):
    def task(*, fn):
        return fn

    with impl.ThreadPool(1) as pool:
        assert pool.submit(task, fn="kw").result(timeout=LONG) == "kw"


# ------------------------------------------------------------------ interpreter exit
# Output goes through os.write: one atomic write per line, as the workers
# report concurrently (print() may interleave two lines).
EXIT_SCRIPT = """
import os, time
{import_line}

def slow(i):
    time.sleep(0.2)  # still running when the main thread reaches the end
    return i * i

pool = Pool(2)
futures = [pool.submit(slow, i) for i in range(4)]
for f in futures:
    f.add_done_callback(lambda f: os.write(1, b"result %d\\n" % f.result()))
os.write(1, b"main done\\n")
"""


@pytest.mark.timeout(40)
def test_interpreter_exit_finishes_queued_work_and_exits_cleanly(impl):
    import_line = ("from concurrent.futures import ThreadPoolExecutor as Pool" if impl.is_stdlib
                   else "from minipool import MiniThreadPool as Pool")
    proc = run_python(EXIT_SCRIPT.format(import_line=import_line))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "main done"
    assert sorted(lines[1:]) == sorted(f"result {i * i}" for i in range(4))


@pytest.mark.timeout(40)
def test_interpreter_exit_with_a_blocked_submit_chain_exits_cleanly(impl):
    # A task that submits follow-up work while the interpreter exits: the
    # follow-up is refused with RuntimeError, and the process still exits 0.
    import_line = ("from concurrent.futures import ThreadPoolExecutor as Pool" if impl.is_stdlib
                   else "from minipool import MiniThreadPool as Pool")
    script = textwrap.dedent(f"""
        import time
        {import_line}
        pool = Pool(1)
        def second():
            return "second"
        def first():
            time.sleep(0.3)  # the main thread is exiting by now
            try:
                pool.submit(second)
            except RuntimeError:
                print("refused", flush=True)
            return "first"
        pool.submit(first).add_done_callback(lambda f: print(f.result(), flush=True))
        """)
    proc = run_python(script)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["refused", "first"]


@pytest.mark.minipool_only
def test_default_thread_names_start_with_the_pool_class_name(impl):
    # Documented difference (docs/differences.md): MiniThreadPool-N_i, where
    # the stdlib says ThreadPoolExecutor-N_i.
    with impl.ThreadPool(1) as pool:
        name = pool.submit(lambda: threading.current_thread().name).result(timeout=LONG)
    assert name.startswith("MiniThreadPool-") and name.endswith("_0")
