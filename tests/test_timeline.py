"""configure(timeline=True): per-future timelines, pool.stats(), and the hooks."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from typing import Any

import extras_tasks
import pytest

import minipool
from minipool.conformance import process_tasks as tasks
from minipool.conformance.process_tasks import Gates

pytestmark = pytest.mark.minipool_only


def _fork_pool(workers: int = 1, **kwargs: Any) -> minipool.MiniProcessPool:
    return minipool.MiniProcessPool(workers, mp_context=multiprocessing.get_context("fork"),
                                    **kwargs)


@pytest.mark.timeout(60)
def test_thread_timeline_records_times_in_order_and_the_thread_that_ran_it() -> None:
    with minipool.MiniThreadPool(2).configure(timeline=True) as pool:
        future = pool.submit(extras_tasks.worker_name)
        thread_name = future.result(timeout=50)
        timeline = future.timeline
        assert timeline is not None and timeline.worker == thread_name
        assert timeline.started is not None and timeline.finished is not None
        assert timeline.queued <= timeline.started <= timeline.finished
        assert timeline.waited is not None and timeline.ran is not None
        assert timeline.attempts == 1


@pytest.mark.timeout(60)
def test_process_timeline_names_the_worker_pid() -> None:
    with _fork_pool().configure(timeline=True) as pool:
        future = pool.submit(os.getpid)
        pid = future.result(timeout=50)
        assert future.timeline is not None and future.timeline.worker == pid
        assert future.timeline.finished is not None


@pytest.mark.timeout(60)
def test_futures_of_an_unconfigured_pool_have_no_timeline_and_no_stats() -> None:
    with minipool.MiniThreadPool(1) as pool:
        assert not hasattr(pool.submit(pow, 2, 2), "timeline")  # the core Future has none
        with pytest.raises(RuntimeError, match="configure"):
            pool.stats()


@pytest.mark.timeout(60)
def test_thread_stats_count_every_state() -> None:
    release = threading.Event()
    with minipool.MiniThreadPool(1).configure(timeline=True) as pool:
        running = pool.submit(extras_tasks.wait_for, release)
        cancelled = pool.submit(pow, 2, 2)
        queued = pool.submit(pow, 2, 3)
        failing = pool.submit(divmod, 1, 0)
        assert cancelled.cancel()
        while not running.running():  # it starts in the worker thread
            threading.Event().wait(0.01)  # polling a state, not guessing a duration
        stats = pool.stats()
        assert (stats.submitted, stats.queued, stats.running, stats.done, stats.cancelled) == (
            4, 2, 1, 1, 1)
        assert stats.workers[0].busy and stats.workers[0].task is not None
        assert "extras_tasks.wait_for(" in stats.workers[0].task
        release.set()
        assert queued.result(timeout=50) == 8 and failing.exception(timeout=50) is not None
        stats = pool.stats()
        assert (stats.submitted, stats.queued, stats.running, stats.done, stats.failed,
                stats.cancelled, stats.succeeded) == (4, 0, 0, 4, 1, 1, 2)
        assert stats.workers[0].tasks_done == 3 and not stats.workers[0].busy


@pytest.mark.timeout(60)
def test_process_stats_show_the_queue_and_the_busy_worker() -> None:
    gates = Gates(multiprocessing.get_context("fork"))
    pool = _fork_pool(**gates.pool_arguments()).configure(timeline=True)
    try:
        running = pool.submit(tasks.block, "running")
        pid = gates.wait_started()
        queued = [pool.submit(tasks.square, x) for x in range(3)]
        stats = pool.stats()
        assert (stats.submitted, stats.queued, stats.running, stats.done) == (4, 3, 1, 0)
        assert [(w.worker, w.task) for w in stats.workers] == [
            (pid, f"{tasks.__name__}.block('running')")]
        gates.release()
        assert running.result(timeout=50) == "running"
        assert [f.result(timeout=50) for f in queued] == [0, 1, 4]
        stats = pool.stats()
        assert (stats.queued, stats.running, stats.done, stats.failed) == (0, 0, 4, 0)
    finally:
        gates.close()
        pool.shutdown()


@pytest.mark.timeout(60)
def test_on_task_done_is_called_once_per_future_enough_for_a_progress_bar() -> None:
    class ProgressBar:  # the part of tqdm's interface a progress bar needs
        def __init__(self) -> None:
            self.n = 0
            self.lock = threading.Lock()

        def update(self, k: int) -> None:
            with self.lock:
                self.n += k

    bar = ProgressBar()
    seen: list[Any] = []
    with minipool.MiniThreadPool(4).configure(
            on_task_done=lambda f: (bar.update(1), seen.append(f))) as pool:
        futures = [pool.submit(pow, 2, x) for x in range(300)]
    assert bar.n == 300 and sorted(map(id, seen)) == sorted(map(id, futures))
    assert all(f.timeline is not None for f in futures)  # on_task_done implies timeline


@pytest.mark.timeout(60)
def test_process_on_task_done_runs_before_the_users_callbacks_see_the_future() -> None:
    order: list[str] = []
    with _fork_pool().configure(on_task_done=lambda f: order.append("hook")) as pool:
        gates_free = pool.submit(tasks.square, 3)
        gates_free.add_done_callback(lambda f: order.append("user"))
        assert gates_free.result(timeout=50) == 9
    assert order == ["hook", "user"]


@pytest.mark.timeout(60)
def test_on_worker_exit_reports_a_crashed_worker() -> None:
    exits: list[tuple[int, Any]] = []
    gates = Gates(multiprocessing.get_context("fork"))
    pool = _fork_pool(**gates.pool_arguments()).configure(
        survive_crashes=True, on_worker_exit=lambda pid, code: exits.append((pid, code)))
    try:
        doomed = pool.submit(tasks.block, "doomed")
        pid = gates.wait_started()
        os.kill(pid, signal.SIGKILL)
        assert isinstance(doomed.exception(timeout=50), minipool.WorkerCrashed)
        assert (pid, -signal.SIGKILL) in exits
    finally:
        gates.close()
        pool.shutdown()


@pytest.mark.timeout(60)
def test_a_failing_hook_is_logged_and_the_pool_goes_on(caplog: Any) -> None:
    def broken_hook(*_: Any) -> None:
        raise ValueError("hook bug")

    with _fork_pool().configure(on_task_done=broken_hook, on_worker_exit=broken_hook) as pool:
        assert pool.submit(tasks.square, 4).result(timeout=50) == 16
        assert pool.submit(tasks.square, 5).result(timeout=50) == 25
    assert "hook bug" in caplog.text


# ------------------------------------------------------------------ configure
@pytest.mark.parametrize("pool_class", [minipool.MiniThreadPool, minipool.MiniProcessPool])
def test_configure_after_the_first_submit_is_refused(pool_class: Any) -> None:
    with pool_class(1) as pool:
        pool.submit(pow, 2, 2).result(timeout=50)
        with pytest.raises(RuntimeError, match="before the first submit"):
            pool.configure(timeline=True)


@pytest.mark.parametrize("keywords,error", [
    ({"max_pending": 0}, ValueError), ({"max_pending": 1.5}, TypeError),
    ({"task_timeout": 0}, ValueError), ({"task_timeout": "1"}, TypeError),
    ({"submit_timeout": 1.0}, ValueError),  # without max_pending it would never apply
    ({"on_task_done": 3}, TypeError),
])
def test_configure_rejects_bad_values_with_a_clear_error(keywords: dict[str, Any],
                                                         error: type[Exception]) -> None:
    with minipool.MiniThreadPool(1) as pool:
        with pytest.raises(error):
            pool.configure(**keywords)
        assert pool.submit(pow, 2, 2).result(timeout=50) == 4  # still usable, unconfigured


def test_crash_retries_need_survive_crashes() -> None:
    with minipool.MiniProcessPool(1) as pool, pytest.raises(ValueError, match="survive_crashes"):
        pool.configure(crash_retries=2)


def test_configure_returns_the_pool() -> None:
    pool = minipool.MiniThreadPool(1)
    assert pool.configure(timeline=True) is pool
    pool.shutdown()


def test_the_extras_errors_pickle_with_their_attributes() -> None:
    import pickle

    crashed = minipool.WorkerCrashed("m", task="t()", pid=1, exitcode=-9,
                                     signal_name="SIGKILL", attempts=2)
    timeout = minipool.TaskTimeout("m", task="t()", limit=1.5, worker="w")
    crashed2, timeout2 = pickle.loads(pickle.dumps((crashed, timeout)))
    assert (str(crashed2), crashed2.pid, crashed2.signal_name, crashed2.attempts) == (
        "m", 1, "SIGKILL", 2)
    assert (str(timeout2), timeout2.limit, timeout2.worker) == ("m", 1.5, "w")


@pytest.mark.timeout(60)
def test_timeline_names_the_task_as_error_messages_do() -> None:
    with minipool.MiniThreadPool(1).configure(timeline=True) as pool:
        ran = pool.submit(pow, 2, 10)
        ran.result(timeout=50)
        assert ran.timeline is not None and ran.timeline.task == "pow(2, 10)"
    with _fork_pool().configure(timeline=True) as pool:
        ran = pool.submit(tasks.add, 1, b=2)
        ran.result(timeout=50)
        assert ran.timeline is not None and ran.timeline.task == f"{tasks.__name__}.add(1, b=2)"


@pytest.mark.timeout(60)
def test_a_configured_pools_future_reads_as_a_future() -> None:
    with minipool.MiniThreadPool(1).configure(timeline=True) as pool:
        future = pool.submit(pow, 2, 2)
        future.result(timeout=50)
    assert isinstance(future, minipool.Future)
    assert repr(future).startswith("<Future at ") and "returned int" in repr(future)
