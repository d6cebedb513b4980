"""The races the code's comments write out as numbered steps, forced.

Each test stops one thread at the dangerous point, lets the other thread run
its steps, and checks that the design's lock makes the interleaving harmless.
They reach into one private attribute each (to pause a thread at exactly that
point), so they run against minipool only. One test, which says so, is a
stress test instead: many submits against the dispatcher, with no pause.
"""

from __future__ import annotations

import collections
import multiprocessing
import os
import signal
import threading
import time
from typing import Any

import pytest

from minipool.conformance import process_tasks as tasks

WINDOW = 0.5  # how long the paused thread holds the door open for the other


class PausingQueue:
    """Wraps a pool's work queue; calls *on_put* before each put()."""

    def __init__(self, queue: Any, on_put: Any) -> None:
        self._queue = queue
        self._on_put = on_put

    def put(self, item: Any) -> None:
        self._on_put()
        self._queue.put(item)

    def get(self) -> Any:
        return self._queue.get()

    def get_nowait(self) -> Any:
        return self._queue.get_nowait()


@pytest.mark.minipool_only
@pytest.mark.timeout(20)
def test_submit_racing_a_failing_initializer_loses_no_future(impl: Any) -> None:
    # thread.py, _Shared: 1. submit() sees broken is None; 2. the worker's
    # initializer fails, it sets broken and fails every queued item; 3. submit()
    # enqueues its item, which nobody will ever take. Here submit is paused
    # between 1 and 3 while the initializer fails.
    initializer_may_fail = threading.Event()

    def initializer() -> None:
        initializer_may_fail.wait()
        raise RuntimeError("initializer fails on purpose")

    pool = impl.ThreadPool(1, initializer=initializer)
    first = pool.submit(int)  # starts the only worker; it waits in the initializer
    shared = pool._shared  # private: the queue the worker reads

    def let_the_initializer_fail_now() -> None:
        initializer_may_fail.set()  # step 2 may happen now, and gets WINDOW seconds:
        time.sleep(WINDOW)  # a window held open on purpose, not a synchronisation guess

    shared.work_queue = PausingQueue(shared.work_queue, let_the_initializer_fail_now)
    try:
        second = pool.submit(int)  # step 3 comes after the pause
    except impl.BrokenThreadPool:
        second = None  # also correct: the break happened first, submit refused
    assert isinstance(first.exception(timeout=10), impl.BrokenThreadPool)
    if second is not None:
        assert isinstance(second.exception(timeout=10), impl.BrokenThreadPool)
    pool.shutdown(wait=True)


class PausingDeque(collections.deque):  # type: ignore[type-arg]
    """A pool's pending deque that calls *on_append* before each append()."""

    def __init__(self, items: Any, on_append: Any) -> None:
        super().__init__(items)
        self._on_append = on_append

    def append(self, item: Any) -> None:
        self._on_append()
        super().append(item)


@pytest.mark.minipool_only
@pytest.mark.timeout(30)
def test_submit_racing_a_worker_death_loses_no_future(impl: Any) -> None:
    # process.py, _Inbox: 1. submit() sees broken is None; 2. the dispatcher
    # breaks the pool (here: a worker is SIGKILLed) and fails every pending
    # item, then exits; 3. submit() appends its item, which nobody will ever
    # take. Here submit is paused between 1 and 3 while the worker dies.
    pool = impl.ProcessPool(1, mp_context=multiprocessing.get_context("fork"))
    worker_pid = pool.submit(os.getpid).result()
    # A task that is still running when its worker is killed (no gate here: the
    # sleep only has to outlast the test, whose timeout is 30 s).
    running = pool.submit(time.sleep, 60)
    inbox = pool._inbox  # private: the pending deque the dispatcher reads

    def kill_the_worker_now() -> None:
        os.kill(worker_pid, signal.SIGKILL)  # step 2 may happen now, and gets WINDOW seconds:
        time.sleep(WINDOW)  # a window held open on purpose, not a synchronisation guess

    inbox.pending = PausingDeque(inbox.pending, kill_the_worker_now)
    try:
        raced = pool.submit(tasks.square, 3)  # step 3 comes after the pause
    except impl.BrokenProcessPool:
        raced = None  # also correct: the break happened first, submit refused
    assert isinstance(running.exception(timeout=10), impl.BrokenProcessPool)
    if raced is not None:
        assert isinstance(raced.exception(timeout=10), impl.BrokenProcessPool)
    pool.shutdown(wait=True)


@pytest.mark.minipool_only
@pytest.mark.timeout(20)
def test_result_timing_out_as_the_future_finishes_returns_the_result(impl: Any) -> None:
    # _future.py, _wait_until_done: 1. the sleeper's timed acquire gives up;
    # 2. before the waiter takes _condition back, the future is made done;
    # 3. the waiter takes _condition back. Here the test holds _condition
    # (re-entrant, so it can set the result itself) across 1 and 2.
    future = impl.futures.Future()
    outcome: list[Any] = []

    def wait_for_result() -> None:
        try:
            outcome.append(future.result(timeout=0.05))
        except BaseException as exc:  # a broken version raises AttributeError here
            outcome.append(exc)

    waiter = threading.Thread(target=wait_for_result)
    waiter.start()
    while not future._sleepers:  # private: the waiter is asleep in result()
        time.sleep(0.001)  # polling a private state; no event to wait on
    with future._condition:  # private: the lock the waiter must take back
        time.sleep(WINDOW)  # a window held open on purpose: the 0.05 s timeout expires in it
        future.set_result(42)  # step 2, while the timed-out waiter waits for the lock
    waiter.join(timeout=10)
    assert outcome == [42]


@pytest.mark.minipool_only
@pytest.mark.timeout(20)
def test_a_submit_cannot_send_its_call_ahead_of_a_pending_one(
        impl: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # _inbox.py, send_now: 1. call A is pending (the only worker was busy when
    # it came); 2. the dispatcher reads the worker's reply: the worker is free,
    # but A is not in the channel yet; 3. a submit of call B finds a free
    # worker: sent straight into the channel, B would start before A. send_now
    # refuses while anything is pending. Here the dispatcher does not hand out
    # work until step 3 has run, inside step 2 (in _on_reply, as it reads the reply).
    from minipool import _dispatcher

    gates = tasks.Gates(multiprocessing.get_context("fork"))
    pool = impl.ProcessPool(1, mp_context=multiprocessing.get_context("fork"),
                            **gates.pool_arguments())
    finished: list[str] = []  # in the order their futures were set: the run order
    hold = threading.Event()  # while set, the dispatcher hands out nothing
    later: list[Any] = []
    hand_out, on_reply = _dispatcher._Dispatcher._hand_out_work, _dispatcher._Dispatcher._on_reply

    def held_hand_out(self: Any) -> None:
        if not hold.is_set():
            hand_out(self)

    def reply_then_submit(self: Any, worker: Any, data: bytes) -> None:
        on_reply(self, worker, data)
        if hold.is_set():  # step 3, once
            submitter = threading.Thread(target=lambda: later.append(submit("B")))
            submitter.start()
            submitter.join(10)
            hold.clear()

    def submit(name: str) -> Any:
        future = pool.submit(tasks.identity, name)
        future.add_done_callback(lambda f: finished.append(f.result()))
        return future

    try:
        blocker = pool.submit(tasks.block, "blocker")
        gates.wait_started()
        monkeypatch.setattr(_dispatcher._Dispatcher, "_hand_out_work", held_hand_out)
        monkeypatch.setattr(_dispatcher._Dispatcher, "_on_reply", reply_then_submit)
        hold.set()
        older = submit("A")  # step 1: pending, the worker is busy
        gates.release()  # step 2 follows: the blocker's reply
        assert blocker.result(timeout=10) == "blocker"
        assert older.result(timeout=10) == "A"
        assert later[0].result(timeout=10) == "B"
        assert finished == ["A", "B"]
    except BaseException:
        pool.kill_workers()  # so that a failure does not hang in shutdown
        raise
    finally:
        pool.shutdown(wait=True)
        gates.close()


@pytest.mark.minipool_only
@pytest.mark.timeout(60)
def test_submits_racing_the_dispatcher_into_the_channel_lose_no_future(impl: Any) -> None:
    # A stress test, not a forced interleaving (see the module docstring).
    # _inbox.py: submits (send_now) and the dispatcher (_hand_out_work) both
    # put calls into the shared channel, each numbered under _Inbox.lock. A
    # number given twice would settle one future with another call's result,
    # and leave one unfinished. Four threads submit at once; each waits for
    # every third result, so workers keep going free while other submits and
    # the dispatcher send calls.
    with impl.ProcessPool(2, mp_context=multiprocessing.get_context("fork")) as pool:
        start = threading.Barrier(4)
        got: dict[int, list[int]] = {}

        def submitter(k: int) -> None:
            start.wait()
            futures = []
            for i in range(150):
                futures.append(pool.submit(tasks.identity, 1000 * k + i))
                if i % 3 == 0:
                    futures[-1].result(timeout=30)
            got[k] = [f.result(timeout=30) for f in futures]

        threads = [threading.Thread(target=submitter, args=(k,)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(50)
    assert got == {k: [1000 * k + i for i in range(150)] for k in range(4)}
