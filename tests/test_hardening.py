"""Issue 12, defects 1 to 8: each test fails on the code before its fix.

Most are minipool only: the stdlib hangs, overflows or differs there.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import gc
import math
import multiprocessing
import os
import select
import signal
import sys
import threading
import time
from typing import Any, Callable, Iterator

import extras_tasks
import hardening_tasks
import pytest

import minipool
from minipool.conformance import process_tasks as tasks
from minipool.conformance.process_tasks import Gates
from minipool.process import BrokenProcessPool
from minipool.thread import BrokenThreadPool

FORK = multiprocessing.get_context("fork")


# --------------------------------------------- 1. no user code under a pool lock
# A callback run while the pool holds a lock of its own blocks the next time
# anything takes that lock; a submit from a callback is the common case. The
# callback below submits from a helper thread, so that a held lock shows up as
# "blocked" (and is released when the callback returns) instead of as a hang.
LOCK_WAIT = 5.0  # only a run where a lock is held waits this long


def outcome_of(action: Callable[[], object]) -> str:
    """Run *action* in another thread: "ok", the name of what it raised, or "blocked"."""
    outcome: list[str] = []

    def attempt() -> None:
        try:
            action()
            outcome.append("ok")
        except Exception as exc:
            outcome.append(type(exc).__name__)

    helper = threading.Thread(target=attempt)
    helper.start()
    helper.join(LOCK_WAIT)
    return outcome[0] if outcome else "blocked (on a lock the pool holds)"


class SubmitFromCallback:
    """A done callback or hook that submits to a pool; records what each submit did.

    ``called`` is set after each call, for the tests to wait on before they
    shut the pool down (a later submit is refused: RuntimeError).
    """

    def __init__(self, action: Callable[[], object]) -> None:
        self.action = action
        self.outcomes: list[str] = []
        self.called = threading.Event()

    @classmethod
    def submitting_to(cls, pool: Any) -> SubmitFromCallback:
        return cls(lambda: pool.submit(int))

    def __call__(self, *_: object) -> None:
        self.outcomes.append(outcome_of(self.action))
        self.called.set()

    def wait(self) -> None:
        assert self.called.wait(30), "the callback never ran"


@pytest.mark.minipool_only
@pytest.mark.timeout(60)
@pytest.mark.parametrize("configured", [False, True], ids=["plain", "configured"])
def test_thread_pool_cancels_queued_futures_at_shutdown_outside_its_lock(
        configured: bool) -> None:
    pool = minipool.MiniThreadPool(1)
    callback = SubmitFromCallback.submitting_to(pool)
    if configured:  # the hook runs as each future's first done callback
        pool.configure(on_task_done=callback)
    started, release = threading.Event(), threading.Event()
    blocker = pool.submit(lambda: (started.set(), release.wait(30)))
    assert started.wait(30)
    queued = [pool.submit(int) for _ in range(2)]
    if not configured:
        for future in queued:
            future.add_done_callback(callback)
    pool.shutdown(wait=False, cancel_futures=True)
    release.set()
    pool.shutdown()
    assert all(future.cancelled() for future in queued) and blocker.done()
    # refused, as after any shutdown; the configured pool's hook also ran for blocker
    assert callback.outcomes == ["RuntimeError"] * (3 if configured else 2)


@pytest.mark.minipool_only
@pytest.mark.timeout(60)
def test_thread_pool_fails_queued_futures_outside_its_lock_when_an_initializer_breaks_it(
) -> None:
    may_fail = threading.Event()

    def initializer() -> None:
        may_fail.wait(30)
        raise ValueError("initializer fails on purpose")

    pool = minipool.MiniThreadPool(1, initializer=initializer)
    callback = SubmitFromCallback.submitting_to(pool)
    queued = [pool.submit(int) for _ in range(2)]  # the worker waits in its initializer
    for future in queued:
        future.add_done_callback(callback)
    may_fail.set()
    for future in queued:
        assert isinstance(future.exception(timeout=30), BrokenThreadPool)
    pool.shutdown()
    assert callback.outcomes == ["BrokenThreadPool", "BrokenThreadPool"]


@pytest.mark.minipool_only
@pytest.mark.timeout(60)
def test_thread_pool_task_timeout_runs_callbacks_outside_its_locks() -> None:
    # The watchdog thread runs the callback; the task it submits needs the
    # watchdog's lock in a worker (to add its deadline), and must finish too.
    release = threading.Event()
    pool = minipool.MiniThreadPool(2).configure(task_timeout=0.2)
    callback = SubmitFromCallback(lambda: pool.submit(int).result(LOCK_WAIT))
    late = pool.submit(release.wait, 30)
    late.add_done_callback(callback)
    assert isinstance(late.exception(timeout=30), minipool.TaskTimeout)
    callback.wait()
    release.set()
    pool.shutdown()
    assert callback.outcomes == ["ok"]


@pytest.mark.minipool_only
@pytest.mark.timeout(60)
def test_thread_pool_runs_callbacks_of_finished_tasks_outside_its_lock() -> None:
    with minipool.MiniThreadPool(1) as pool:
        callback = SubmitFromCallback.submitting_to(pool)
        future = pool.submit(int)
        future.add_done_callback(callback)
        callback.wait()
    assert callback.outcomes == ["ok"]


def fork_pool(workers: int = 1, **arguments: Any) -> minipool.MiniProcessPool:
    return minipool.MiniProcessPool(workers, mp_context=FORK, **arguments)


@pytest.mark.minipool_only
@pytest.mark.timeout(60)
def test_process_pool_cancels_pending_futures_at_shutdown_outside_its_lock() -> None:
    # One worker: as the stdlib's call queue, the channel takes two calls
    # besides the running one (they run); the two after them are cancelled.
    gates = Gates(FORK)
    pool = fork_pool(**gates.pool_arguments())
    callback = SubmitFromCallback.submitting_to(pool)
    try:
        blocker = pool.submit(tasks.block)
        gates.wait_started()
        handed_out = [pool.submit(tasks.square, 2) for _ in range(2)]
        queued = [pool.submit(tasks.square, 2) for _ in range(2)]
        for future in queued:
            future.add_done_callback(callback)
        pool.shutdown(wait=False, cancel_futures=True)
    finally:
        gates.close()
        pool.shutdown()
    assert all(future.cancelled() for future in queued)
    assert callback.outcomes == ["RuntimeError", "RuntimeError"]
    assert blocker.result() is None
    assert [future.result() for future in handed_out] == [4, 4]


@pytest.mark.minipool_only
@pytest.mark.timeout(60)
def test_process_pool_fails_futures_outside_its_lock_when_an_initializer_breaks_it() -> None:
    gate_reader, gate_writer = FORK.Pipe(duplex=False)
    pool = fork_pool(initializer=hardening_tasks.fail_once_the_gate_opens,
                     initargs=(gate_reader,))
    callback = SubmitFromCallback.submitting_to(pool)
    try:
        queued = [pool.submit(tasks.square, 2) for _ in range(2)]
        for future in queued:
            future.add_done_callback(callback)
        gate_writer.send_bytes(b"fail now")
        for future in queued:
            assert isinstance(future.exception(timeout=30), BrokenProcessPool)
    finally:
        pool.shutdown()
        gate_reader.close()
        gate_writer.close()
    assert callback.outcomes == ["BrokenProcessPool", "BrokenProcessPool"]


@pytest.mark.minipool_only
@pytest.mark.timeout(60)
def test_process_pool_runs_callbacks_outside_its_lock_when_a_worker_dies() -> None:
    gates = Gates(FORK)
    pool = fork_pool(**gates.pool_arguments())
    callback = SubmitFromCallback.submitting_to(pool)
    try:
        doomed = pool.submit(tasks.exit_abruptly, 3)
        doomed.add_done_callback(callback)
        gates.wait_started()
        gates.let_die()
        assert isinstance(doomed.exception(timeout=30), BrokenProcessPool)
    finally:
        gates.close()
        pool.shutdown()
    assert callback.outcomes == ["BrokenProcessPool"]


@pytest.mark.minipool_only
@pytest.mark.timeout(60)
def test_process_pool_surviving_a_crash_runs_callbacks_and_hooks_outside_its_lock() -> None:
    gates = Gates(FORK)
    pool = fork_pool(**gates.pool_arguments())
    on_exit = SubmitFromCallback(lambda: pool.submit(tasks.square, 2))
    pool.configure(survive_crashes=True, on_worker_exit=on_exit)
    callback = SubmitFromCallback(lambda: pool.submit(tasks.square, 2))
    try:
        doomed = pool.submit(tasks.exit_abruptly, 3)
        doomed.add_done_callback(callback)
        gates.wait_started()
        gates.let_die()
        assert isinstance(doomed.exception(timeout=30), minipool.WorkerCrashed)
        callback.wait()
        on_exit.wait()
    finally:
        gates.close()
        pool.shutdown()
    assert callback.outcomes == ["ok"]
    assert on_exit.outcomes[0] == "ok"  # the crash; then the shutdown's exits
    assert set(on_exit.outcomes[1:]) <= {"RuntimeError"}


@pytest.mark.minipool_only
@pytest.mark.timeout(60)
def test_process_pool_task_timeout_runs_callbacks_outside_its_lock() -> None:
    with fork_pool().configure(task_timeout=0.2) as pool:
        callback = SubmitFromCallback.submitting_to(pool)
        stuck = pool.submit(time.sleep, 30)  # a task that must overrun: killed at 0.2 s
        stuck.add_done_callback(callback)
        assert isinstance(stuck.exception(timeout=30), minipool.TaskTimeout)
        callback.wait()
    assert callback.outcomes == ["ok"]


@pytest.mark.minipool_only
@pytest.mark.timeout(60)
def test_process_pool_runs_callbacks_of_finished_tasks_outside_its_lock() -> None:
    with fork_pool() as pool:
        callback = SubmitFromCallback.submitting_to(pool)
        future = pool.submit(tasks.square, 3)
        future.add_done_callback(callback)
        assert future.result(timeout=30) == 9
        callback.wait()
    assert callback.outcomes == ["ok"]


# ------------------------------------------- 2. infinite and huge timeouts
# math.inf means "no limit" wherever minipool takes a timeout; values too
# large for the waits underneath (locks: threading.TIMEOUT_MAX; select():
# about 24.8 days) are clamped. The stdlib raises OverflowError for all of
# these (3.9 to 3.13), so these tests are minipool's own.
HUGE_TIMEOUTS = [math.inf, 1e10, 3e6]  # 3e6 s: beyond select(), within a lock's reach


@pytest.fixture
def thread_errors() -> Iterator[list[BaseException]]:
    """Exceptions that ended a thread during the test (a background thread's death)."""
    errors: list[BaseException] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: errors.append(args.exc_value)  # type: ignore[arg-type]
    try:
        yield errors
    finally:
        threading.excepthook = previous


MINIPOOL_DIR = os.path.dirname(minipool.__file__)
MINIPOOL_WAITS = ("_wait_until_done", "take", "reserve")  # Future, wait(), submit's room


def sleeps_in_a_wait(thread: threading.Thread) -> bool:
    """Whether *thread* is inside one of minipool's timed waits (MINIPOOL_WAITS).

    Its innermost frame is the wait (a future's ``_wait_until_done``, or a
    ``Condition.wait``), and the first minipool frame above it is one of
    MINIPOOL_WAITS -- not, say, the Event.wait in a Thread.start() that a
    submit called. From there on, the timeout reaches the lock's acquire
    whatever the other thread does.
    """
    frame = sys._current_frames().get(thread.ident or 0)
    if frame is None or frame.f_code.co_name not in ("_wait_until_done", "wait"):
        return False
    while frame is not None and not frame.f_code.co_filename.startswith(MINIPOOL_DIR):
        frame = frame.f_back
    return frame is not None and frame.f_code.co_name in MINIPOOL_WAITS


@contextlib.contextmanager
def once_blocked(waiter: threading.Thread, action: Callable[[], object]) -> Iterator[None]:
    """Run *action* in another thread as soon as *waiter* sleeps in a minipool wait.

    So the wait under test has surely begun: an early completion would let a
    broken wait pass. If the block ends first (its wait failed some other
    way), *action* is not run.
    """
    stop = threading.Event()

    def run() -> None:
        while not sleeps_in_a_wait(waiter):
            if stop.wait(0.001):  # polling another thread's stack: no event for it
                return
        action()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@pytest.mark.minipool_only
@pytest.mark.timeout(60)
@pytest.mark.parametrize("timeout", HUGE_TIMEOUTS)
def test_result_and_exception_take_an_infinite_or_huge_timeout(timeout: float) -> None:
    me = threading.current_thread()
    future: minipool.Future[int] = minipool.Future()
    with once_blocked(me, lambda: future.set_result(7)):
        assert future.result(timeout=timeout) == 7
    failing: minipool.Future[int] = minipool.Future()
    with once_blocked(me, lambda: failing.set_exception(ValueError("late"))):
        assert isinstance(failing.exception(timeout=timeout), ValueError)


@pytest.mark.minipool_only
@pytest.mark.timeout(60)
@pytest.mark.parametrize("timeout", HUGE_TIMEOUTS)
def test_wait_and_as_completed_take_an_infinite_or_huge_timeout(timeout: float) -> None:
    me = threading.current_thread()
    first: minipool.Future[int] = minipool.Future()
    with once_blocked(me, lambda: first.set_result(1)):
        assert minipool.wait([first], timeout=timeout) == ({first}, set())
    second: minipool.Future[int] = minipool.Future()
    with once_blocked(me, lambda: second.set_result(2)):
        assert [f.result() for f in minipool.as_completed([second], timeout=timeout)] == [2]


@pytest.mark.minipool_only
@pytest.mark.timeout(60)
@pytest.mark.parametrize("timeout", HUGE_TIMEOUTS)
def test_map_takes_an_infinite_or_huge_timeout(timeout: float) -> None:
    go = threading.Event()
    with minipool.MiniThreadPool(1) as pool:
        results = pool.map(lambda x: (go.wait(30), x)[1], [5], timeout=timeout)
        with once_blocked(threading.current_thread(), go.set):
            assert list(results) == [5]


@pytest.mark.minipool_only
@pytest.mark.timeout(60)
@pytest.mark.parametrize("timeout", HUGE_TIMEOUTS)
def test_thread_pool_task_timeout_infinite_or_huge_means_no_limit_and_its_watchdog_lives(
        timeout: float, thread_errors: list[BaseException]) -> None:
    go = threading.Event()
    with minipool.MiniThreadPool(1).configure(task_timeout=timeout) as pool:
        waiting = pool.submit(go.wait, 30)
        worker = pool.submit(threading.current_thread)  # queued behind: waits too
        with once_blocked(threading.current_thread(), go.set):
            assert waiting.result() is True
        assert worker.result().name.startswith("MiniThreadPool")
    assert thread_errors == []  # the watchdog thread did not die


@pytest.mark.minipool_only
@pytest.mark.timeout(60)
@pytest.mark.parametrize("timeout", HUGE_TIMEOUTS)
def test_process_pool_task_timeout_infinite_or_huge_means_no_limit(timeout: float) -> None:
    with fork_pool().configure(task_timeout=timeout) as pool:
        assert pool.submit(tasks.square, 4).result(timeout=30) == 16  # no OverflowError
        assert [f.result(timeout=30) for f in [pool.submit(tasks.square, x) for x in range(3)]
                ] == [0, 1, 4]


@pytest.mark.minipool_only
@pytest.mark.timeout(60)
@pytest.mark.parametrize("timeout", [math.inf, 1e10])
def test_a_submit_waiting_for_room_takes_an_infinite_or_huge_submit_timeout(
        timeout: float) -> None:
    go = threading.Event()
    outcome: list[Any] = []
    with minipool.MiniThreadPool(1).configure(max_pending=1, submit_timeout=timeout) as pool:
        running = pool.submit(go.wait, 30)
        queued = pool.submit(int)  # the one place max_pending allows
        submitter = threading.Thread(target=lambda: outcome.append(pool.submit(str, "late")))
        with once_blocked(submitter, go.set):
            submitter.start()  # waits for room (and raised OverflowError before the fix)
            submitter.join()
        assert running.result() is True and queued.result() == 0
        assert [f.result() for f in outcome] == ["late"]


# ------------------------------ 3. a killed worker takes its own children along
def exited_within(pidfd: int, seconds: float) -> bool:
    """Whether the process behind *pidfd* ends within *seconds* (a pidfd is readable then)."""
    return bool(select.select([pidfd], [], [], seconds)[0])


@pytest.mark.minipool_only
@pytest.mark.timeout(60)
@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="Linux only: walks /proc")
@pytest.mark.parametrize("way, method", [
    ("task_timeout", "fork"), ("terminate_workers", "fork"), ("kill_workers", "fork"),
    ("task_timeout", "spawn"), ("kill_workers", "forkserver")])
def test_a_killed_worker_takes_the_processes_its_task_started_along(
        way: str, method: str) -> None:
    context = multiprocessing.get_context(method)
    reports, report_writer = context.Pipe(duplex=False)
    pool = minipool.MiniProcessPool(1, mp_context=context,
                                    initializer=hardening_tasks.install_report,
                                    initargs=(report_writer,))
    if way == "task_timeout":
        pool.configure(task_timeout=2.0)  # the task reports its child within milliseconds
    try:
        future = pool.submit(hardening_tasks.start_a_child_and_wait_for_it)
        assert reports.poll(30), "the task never reported its child"
        pidfd = os.pidfd_open(reports.recv())  # `sleep 25`, the worker's child
        try:
            if way != "task_timeout":
                getattr(pool, way)()
            assert isinstance(future.exception(timeout=30), BrokenProcessPool
                              if way != "task_timeout" else minipool.TaskTimeout)
            assert exited_within(pidfd, 20), "the task's child outlived its killed worker"
        finally:
            os.close(pidfd)
    finally:
        pool.shutdown()
        reports.close()
        report_writer.close()


# --------------------------------- 4. the process pool's counts are integers
# As the stdlib's process pool (3.9 to 3.13): a float worker count is a
# TypeError, a count <= 0 a ValueError (checked first); True counts as 1. The
# stdlib's thread pool, and so minipool's, accepts a float.
PROCESS_POOLS = pytest.mark.parametrize(
    "pool_class", [concurrent.futures.ProcessPoolExecutor, minipool.MiniProcessPool],
    ids=["stdlib", "minipool"])


@PROCESS_POOLS
@pytest.mark.parametrize("max_workers, error", [
    (1.5, TypeError), (0.5, TypeError), ("2", TypeError), (0, ValueError), (-1.0, ValueError)])
def test_process_pool_max_workers_must_be_a_positive_integer(
        pool_class: Any, max_workers: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        pool_class(max_workers=max_workers)


@PROCESS_POOLS
@pytest.mark.parametrize("max_tasks_per_child, error", [
    (1.5, TypeError), ("2", TypeError), (0, ValueError)])
def test_process_pool_max_tasks_per_child_must_be_a_positive_integer(
        pool_class: Any, max_tasks_per_child: Any, error: type[Exception]) -> None:
    if pool_class is not minipool.MiniProcessPool and sys.version_info < (3, 11):
        pytest.skip("the stdlib has max_tasks_per_child from Python 3.11")
    with pytest.raises(error, match="max_tasks_per_child"):
        pool_class(1, max_tasks_per_child=max_tasks_per_child)


@PROCESS_POOLS
def test_process_pool_takes_true_as_one_like_any_int(pool_class: Any) -> None:
    keywords = {} if sys.version_info < (3, 11) else {"max_tasks_per_child": True}
    pool_class(max_workers=True, **keywords).shutdown()


@pytest.mark.minipool_only
def test_process_pool_max_workers_type_error_names_the_keyword() -> None:
    with pytest.raises(TypeError, match=r"max_workers must be an integer, not 1\.5"):
        minipool.MiniProcessPool(max_workers=1.5)


@pytest.mark.parametrize("pool_class", [concurrent.futures.ThreadPoolExecutor,
                                        minipool.MiniThreadPool], ids=["stdlib", "minipool"])
def test_thread_pool_takes_a_float_max_workers_like_the_stdlib(pool_class: Any) -> None:
    with pool_class(max_workers=1.5) as pool:
        assert pool.submit(int, "3").result(timeout=30) == 3


# ---------------------- 5. a worker that dies in its initializer ran no task
@pytest.mark.minipool_only
@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", ["fork", "spawn"])
@pytest.mark.parametrize("options", [{}, {"task_timeout": 30.0}], ids=["plain", "configured"])
def test_a_worker_dying_in_its_initializer_is_reported_before_starting_its_task(
        method: str, options: dict[str, Any]) -> None:
    pool = minipool.MiniProcessPool(1, mp_context=multiprocessing.get_context(method),
                                    initializer=hardening_tasks.exit_in_initializer,
                                    initargs=(7,))
    if options:
        pool.configure(**options)  # no survive_crashes: the pool breaks
    with pool:
        future = pool.submit(tasks.square, 0)
        message = str(future.exception(timeout=30))
    assert isinstance(future.exception(), BrokenProcessPool)
    if options:  # a configured pool hands the call to the worker as it starts
        assert ("exited with code 7 in its initializer, before starting task "
                f"{tasks.__name__}.square(0)") in message
    else:  # a worker takes calls from the shared channel only once initialized
        assert "exited with code 7 in its initializer. The process pool" in message
    assert "while running" not in message


# ------------------------------------------------- 6. configure()'s checks
# Flags take bools, counts take ints (not bools), timeouts take numbers (not
# bools): a wrong type is a TypeError, a wrong value a ValueError, and the
# message names the keyword. A refused configure() leaves the pool as it was.
def both_pools() -> list[Any]:
    return [minipool.MiniThreadPool(1), fork_pool()]


CONFIGURE_TYPE_ERRORS = [
    ("timeline", "no"), ("timeline", 1), ("timeline", None),
    ("max_pending", "2"), ("max_pending", True), ("max_pending", 2.0),
    ("task_timeout", "1"), ("task_timeout", True),
    ("submit_timeout", "1"), ("on_task_done", "print"),
]
CONFIGURE_VALUE_ERRORS = [
    ("max_pending", 0), ("task_timeout", 0), ("task_timeout", -1.0),
    ("task_timeout", math.nan),
]


@pytest.mark.minipool_only
@pytest.mark.parametrize("keyword, value", CONFIGURE_TYPE_ERRORS)
def test_configure_refuses_a_wrong_type_with_type_error_naming_the_keyword(
        keyword: str, value: Any) -> None:
    for pool in both_pools():
        with pool:
            extra = {"max_pending": 1} if keyword == "submit_timeout" else {}
            with pytest.raises(TypeError, match=keyword):
                pool.configure(**{keyword: value}, **extra)
            pool.configure(timeline=True)  # the refused call changed nothing
            assert pool.submit(int).result(timeout=30) == 0


@pytest.mark.minipool_only
@pytest.mark.parametrize("keyword, value", CONFIGURE_VALUE_ERRORS)
def test_configure_refuses_a_wrong_value_with_value_error_naming_the_keyword(
        keyword: str, value: Any) -> None:
    for pool in both_pools():
        with pool:
            with pytest.raises(ValueError, match=keyword):
                pool.configure(**{keyword: value})


@pytest.mark.minipool_only
@pytest.mark.parametrize("keyword, value, error", [
    ("copy_context", "no", TypeError), ("copy_context", 0, TypeError)])
def test_thread_pool_configure_checks_its_own_flag(keyword: str, value: Any,
                                                   error: type[Exception]) -> None:
    with minipool.MiniThreadPool(1) as pool:
        with pytest.raises(error, match=keyword):
            pool.configure(**{keyword: value})


@pytest.mark.minipool_only
@pytest.mark.parametrize("keywords, error, named", [
    ({"survive_crashes": "no"}, TypeError, "survive_crashes"),
    ({"survive_crashes": 1}, TypeError, "survive_crashes"),
    ({"survive_crashes": True, "crash_retries": "2"}, TypeError, "crash_retries"),
    ({"survive_crashes": True, "crash_retries": True}, TypeError, "crash_retries"),
    ({"survive_crashes": True, "crash_retries": 1.5}, TypeError, "crash_retries"),
    ({"survive_crashes": True, "crash_retries": -1}, ValueError, "crash_retries"),
    ({"crash_retries": 1}, ValueError, "crash_retries"),  # needs survive_crashes
    ({"on_worker_exit": 3}, TypeError, "on_worker_exit"),
])
def test_process_pool_configure_checks_its_own_keywords(
        keywords: dict[str, Any], error: type[Exception], named: str) -> None:
    with fork_pool() as pool:
        with pytest.raises(error, match=named):
            pool.configure(**keywords)


@pytest.mark.minipool_only
@pytest.mark.timeout(60)
@pytest.mark.parametrize("crash_retries, ordinal", [(1, "2nd"), (2, "3rd"), (10, "11th"),
                                                    (20, "21st")])
def test_a_task_out_of_crash_retries_names_its_crash_with_an_english_ordinal(
        crash_retries: int, ordinal: str) -> None:
    with fork_pool().configure(survive_crashes=True, crash_retries=crash_retries) as pool:
        error = pool.submit(extras_tasks.always_crash).exception(timeout=50)
    assert isinstance(error, minipool.WorkerCrashed)
    assert f"(its {ordinal} crash: crash_retries used up)" in str(error)


# -------------------------------------------- 7. no fd outlives its pool
def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@contextlib.contextmanager
def gc_disabled() -> Iterator[None]:
    """Only reference counting frees objects: what a cycle keeps alive stays open."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def make_unused_pool(kind: str) -> Any:
    return fork_pool(2) if kind == "process" else minipool.MiniThreadPool(2)


@pytest.mark.minipool_only
@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
@pytest.mark.parametrize("kind", ["process", "thread"])
@pytest.mark.parametrize("ending", ["shutdown", "dropped"])
def test_a_pool_never_submitted_to_leaves_no_fd_open(kind: str, ending: str) -> None:
    with gc_disabled():
        before = open_fds()
        for _ in range(10):
            pool = make_unused_pool(kind)
            if ending == "shutdown":
                pool.shutdown()
            del pool
        assert open_fds() == before


@pytest.mark.minipool_only
@pytest.mark.timeout(60)
@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_used_process_pool_leaves_no_fd_open_after_shutdown(method: str) -> None:
    def use_a_pool() -> None:
        pool = minipool.MiniProcessPool(2, mp_context=multiprocessing.get_context(method))
        assert pool.submit(tasks.square, 3).result(timeout=30) == 9
        pool.shutdown()

    with gc_disabled():
        use_a_pool()  # starts multiprocessing's resource tracker (spawn): it stays, and its pipe
        before = open_fds()
        for _ in range(3):
            use_a_pool()
        assert open_fds() == before


# ------------------------------------------- 8. suspected races, settled
# (a) submit() read the pool's options without the lock:
#   1. submit() reads _extras: None, so it takes the plain path;
#   2. configure() takes the lock, finds no submit yet, and configures;
#   3. submit() takes the lock and queues a plain item into a configured pool.
# Each test pauses submit between 1 and 3 and configures meanwhile: the
# submit must then queue a configured item (before the fix: a plain one, which
# the process pool's dispatcher failed on).
class PausingLock:
    """Wraps a pool's lock: *pauses* pauses before taking it, once, until let go."""

    def __init__(self, lock: Any) -> None:
        self._lock = lock
        self.pauses: Any = None  # the thread to pause
        self.paused = threading.Event()
        self.go_on = threading.Event()

    def __enter__(self) -> None:
        if threading.current_thread() is self.pauses and not self.paused.is_set():
            self.paused.set()
            assert self.go_on.wait(30)
        self._lock.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()


class PausesWhilePickled:
    """An argument whose pickling waits for the test: submit pauses after reading
    the pool's options and before taking its lock (the call is pickled in between)."""

    def __init__(self) -> None:
        self.pickling = threading.Event()
        self.go_on = threading.Event()

    def __reduce__(self) -> Any:
        self.pickling.set()
        assert self.go_on.wait(30)
        return (int, (0,))  # what the worker gets: 0


@pytest.mark.minipool_only
@pytest.mark.timeout(60)
def test_thread_pool_submit_racing_configure_queues_a_configured_item() -> None:
    pool = minipool.MiniThreadPool(1)
    lock = PausingLock(pool._shared.lock)  # private: the one place to pause submit
    pool._shared.lock = lock
    futures: list[Any] = []
    submitter = threading.Thread(target=lambda: futures.append(pool.submit(int, "7")))
    lock.pauses = submitter
    with pool:
        submitter.start()
        assert lock.paused.wait(30)
        pool.configure(timeline=True)  # between the submit's steps 1 and 3
        lock.go_on.set()
        submitter.join()
        assert futures[0].result(timeout=30) == 7
        assert futures[0].timeline is not None  # a configured item: it has a timeline
        assert pool.stats().submitted == 1


@pytest.mark.minipool_only
@pytest.mark.timeout(60)
def test_process_pool_submit_racing_configure_queues_a_configured_item() -> None:
    pool = fork_pool()
    argument = PausesWhilePickled()
    futures: list[Any] = []
    submitter = threading.Thread(target=lambda: futures.append(pool.submit(int, argument)))
    with pool:
        submitter.start()
        assert argument.pickling.wait(30)
        pool.configure(timeline=True)  # between the submit's steps 1 and 3
        argument.go_on.set()
        submitter.join()
        assert futures[0].result(timeout=30) == 0  # not BrokenProcessPool
        assert futures[0].timeline is not None
        assert pool.stats().submitted == 1


# (b) The dispatcher held _Inbox.lock across process.start(): under spawn and
# forkserver, every submit (and terminate_workers/kill_workers) waited while a
# worker process was being created -- about 4 ms a start here, 100 ms with
# 1 MB of initargs. Each test holds a worker's start() at a gate.
@pytest.fixture
def start_gate() -> Iterator[hardening_tasks.StartGate]:
    gate = hardening_tasks.start_gate = hardening_tasks.StartGate()
    try:
        yield gate
    finally:
        gate.go_on.set()
        hardening_tasks.start_gate = None


@pytest.mark.minipool_only
@pytest.mark.timeout(60)
def test_submit_does_not_wait_while_a_worker_process_starts(
        start_gate: hardening_tasks.StartGate) -> None:
    with minipool.MiniProcessPool(2, mp_context=hardening_tasks.GatedSpawnContext()) as pool:
        first = pool.submit(tasks.square, 2)  # the dispatcher starts a worker: held at the gate
        assert start_gate.starting.wait(30)
        outcome = outcome_of(lambda: pool.submit(tasks.square, 3))
        start_gate.go_on.set()
        assert outcome == "ok"
        assert first.result(timeout=30) == 4


@pytest.mark.minipool_only
@pytest.mark.timeout(60)
def test_a_worker_starting_while_kill_workers_runs_is_killed_too(
        start_gate: hardening_tasks.StartGate) -> None:
    # process.py, _Dispatcher._start_workers_for_pending: 1. the dispatcher
    # starts a worker P, lock released; 2. kill_workers() copies the live
    # processes (P not among them) and kills those; 3. the dispatcher
    # registers P, sees terminating, and kills P too.
    exit_codes: list[Any] = []
    pool = minipool.MiniProcessPool(1, mp_context=hardening_tasks.GatedSpawnContext())
    pool.configure(on_worker_exit=lambda pid, exitcode: exit_codes.append(exitcode))
    first = pool.submit(tasks.square, 2)
    assert start_gate.starting.wait(30)  # step 1, held
    assert outcome_of(pool.kill_workers) == "ok"  # step 2
    start_gate.go_on.set()  # step 3
    pool.shutdown()
    assert first.cancelled()
    assert exit_codes == [-signal.SIGKILL]  # not 0: P was not left to a polite stop
