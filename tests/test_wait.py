"""wait() and as_completed(): return conditions, timeouts, duplicates, order, cleanup.

Also mixed use: stdlib futures in minipool's wait/as_completed, and minipool
futures in the stdlib's (minipool futures keep the stdlib's private
``_condition``/``_state``/``_waiters`` for exactly that).
"""

from __future__ import annotations

import concurrent.futures
import threading
import time

import pytest

import minipool

LONG = 10.0  # seconds: the most any wait in a passing test should need

pytestmark = [
    pytest.mark.timeout(10),  # any of these can hang if wait() misses a wake-up
    pytest.mark.no_executor,  # bare futures: nothing for an executor under test
]


def done_future(impl, value=None):
    f = impl.futures.Future()
    f.set_result(value)
    return f


def failed_future(impl, error=None):
    f = impl.futures.Future()
    f.set_exception(error or ValueError("failed"))
    return f


def cancelled_future(impl):
    """Cancelled *and* notified, as an executor leaves it: done for both wait()s."""
    f = impl.futures.Future()
    f.cancel()
    f.set_running_or_notify_cancel()
    return f


class Later:
    """Completes futures from another thread once the waiting thread is blocked.

    ``Later(steps)`` runs each ``step()`` in a helper thread after
    ``go()``; ``wait()``/``as_completed()`` block in the test's thread
    meanwhile. The helper sleeps a little first so that the test's thread is
    (almost certainly) already blocked -- if it is not, the tests still pass,
    they just test less.
    """

    def __init__(self, *steps):
        self._steps = steps
        self._thread = threading.Thread(target=self._run)

    def _run(self):
        time.sleep(0.05)  # slow on purpose: let the waiting thread block first
        for step in self._steps:
            step()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._thread.join()


# ------------------------------------------------------------------ wait: return_when
def test_wait_default_waits_for_all(impl):
    a, b, c = (impl.futures.Future() for _ in range(3))
    a.set_result(1)
    with Later(lambda: b.set_result(2), lambda: c.set_exception(KeyError())):
        done, not_done = impl.futures.wait([a, b, c], timeout=LONG)
    assert done == {a, b, c} and not_done == set()


def test_wait_all_completed_returns_a_named_tuple_of_sets(impl):
    a = done_future(impl)
    result = impl.futures.wait([a], return_when=impl.futures.ALL_COMPLETED)
    assert result.done == {a} and result.not_done == set()
    assert isinstance(result.done, set) and isinstance(result.not_done, set)


def test_wait_on_no_futures_returns_two_empty_sets(impl):
    assert impl.futures.wait([]) == (set(), set())


def test_wait_first_completed_returns_after_the_first(impl):
    a, b = impl.futures.Future(), impl.futures.Future()
    with Later(lambda: a.set_result(1)):
        done, not_done = impl.futures.wait(
            [a, b], timeout=LONG, return_when=impl.futures.FIRST_COMPLETED)
    assert done == {a} and not_done == {b}


def test_wait_first_completed_returns_at_once_if_one_is_already_done(impl):
    a, b = done_future(impl), impl.futures.Future()
    done, not_done = impl.futures.wait([a, b], return_when=impl.futures.FIRST_COMPLETED)
    assert done == {a} and not_done == {b}


def test_wait_first_completed_counts_a_cancelled_future(impl):
    a, b = cancelled_future(impl), impl.futures.Future()
    done, not_done = impl.futures.wait([a, b], return_when=impl.futures.FIRST_COMPLETED)
    assert done == {a} and not_done == {b}


def test_wait_first_exception_keeps_waiting_past_results(impl):
    ok, bad, never = done_future(impl), impl.futures.Future(), impl.futures.Future()
    with Later(lambda: bad.set_exception(ValueError())):
        done, not_done = impl.futures.wait(
            [ok, bad, never], timeout=LONG, return_when=impl.futures.FIRST_EXCEPTION)
    assert done == {ok, bad} and not_done == {never}


def test_wait_first_exception_returns_at_once_if_one_already_failed(impl):
    bad, never = failed_future(impl), impl.futures.Future()
    done, not_done = impl.futures.wait([bad, never], return_when=impl.futures.FIRST_EXCEPTION)
    assert done == {bad} and not_done == {never}


def test_wait_first_exception_without_exceptions_waits_for_all(impl):
    a, b = impl.futures.Future(), impl.futures.Future()
    with Later(lambda: a.set_result(1), lambda: b.set_result(2)):
        done, not_done = impl.futures.wait(
            [a, b], timeout=LONG, return_when=impl.futures.FIRST_EXCEPTION)
    assert done == {a, b} and not_done == set()


def test_wait_first_exception_ignores_cancelled_futures(impl):
    cancelled, later = cancelled_future(impl), impl.futures.Future()
    with Later(lambda: later.set_result(1)):
        done, not_done = impl.futures.wait(
            [cancelled, later], timeout=LONG, return_when=impl.futures.FIRST_EXCEPTION)
    assert done == {cancelled, later} and not_done == set()


def test_wait_counts_duplicates_once(impl):
    a, b = impl.futures.Future(), done_future(impl)
    with Later(lambda: a.set_result(1)):
        done, not_done = impl.futures.wait([a, a, b, a], timeout=LONG)
    assert done == {a, b} and not_done == set()


# ------------------------------------------------------------------ wait: timeout
def test_wait_timeout_zero_returns_at_once_with_the_unfinished(impl):
    a, b = done_future(impl), impl.futures.Future()
    done, not_done = impl.futures.wait([a, b], timeout=0)
    assert done == {a} and not_done == {b}


def test_wait_positive_timeout_returns_the_unfinished_without_raising(impl):
    a, b = done_future(impl), impl.futures.Future()
    done, not_done = impl.futures.wait([a, b], timeout=0.05)
    assert done == {a} and not_done == {b}


def test_wait_timeout_none_blocks_until_done(impl):
    a = impl.futures.Future()
    with Later(lambda: a.set_result(1)):
        done, not_done = impl.futures.wait([a], timeout=None)
    assert done == {a} and not_done == set()


@pytest.mark.minipool_only
def test_wait_rejects_an_unknown_return_when_at_once(impl):
    # Documented in docs/differences.md: the stdlib only notices when it blocks.
    with pytest.raises(ValueError):
        impl.futures.wait([done_future(impl)], return_when="SOMETIME")


# ------------------------------------------------------------------ as_completed
def test_as_completed_yields_each_distinct_future_once(impl):
    a, b, c = (impl.futures.Future() for _ in range(3))
    a.set_result(1)
    with Later(lambda: b.set_result(2), lambda: c.set_result(3)):
        got = list(impl.futures.as_completed([a, b, a, c, b], timeout=LONG))
    assert sorted(got, key=id) == sorted([a, b, c], key=id)


def test_as_completed_yields_already_done_futures_first(impl):
    pending, done = impl.futures.Future(), done_future(impl)
    it = impl.futures.as_completed([pending, done], timeout=LONG)
    assert next(it) is done  # would block forever if it waited for `pending` first
    pending.set_result(1)
    assert list(it) == [pending]


def test_as_completed_yields_in_completion_order(impl):
    a, b, c, d = (impl.futures.Future() for _ in range(4))
    it = impl.futures.as_completed([a, b, c, d], timeout=LONG)
    d.set_result(4)
    assert next(it) is d
    c.set_result(3)
    a.set_result(1)
    b.set_result(2)
    assert list(it) == [c, a, b]


class _RacingFinisher:
    """Ends every future, the one registered on first *last*, from another
    thread, right when as_completed registers on its first future.

    The registering thread gives the finisher up to RACE_WINDOW seconds before
    it goes on. An as_completed that registers one future at a time lets the
    finisher end futures it has not registered on yet; one that holds every
    future's lock while registering (the stdlib's, and ours) makes the
    finisher wait, so the window only bounds how long the test takes.
    The hook: minipool's as_completed registers with add_done_callback; the
    stdlib's appends a waiter to the private list ``_waiters`` (test
    instrumentation only: the stdlib has no public hook).
    """

    RACE_WINDOW = 0.5

    def __init__(self, impl, n):
        self.futures = []
        self.order = []  # the order the finisher ended them in
        self.thread = None
        for _ in range(n):
            if impl.name == "stdlib":
                future = concurrent.futures.Future()
                future._waiters = _HookedList(lambda f=future: self.registered(f))
            else:
                future = _HookedFuture(self.registered)
            self.futures.append(future)

    def registered(self, first):
        if self.thread is not None:
            return
        self.order = [f for f in self.futures if f is not first] + [first]
        self.thread = threading.Thread(target=self.finish)
        self.thread.start()
        self.thread.join(self.RACE_WINDOW)

    def finish(self):
        for future in self.order:
            future.set_result(None)


class _HookedList(list):
    def __init__(self, on_append):
        super().__init__()
        self.on_append = on_append

    def append(self, item):
        super().append(item)
        self.on_append()


class _HookedFuture(minipool.Future):
    def __init__(self, on_register):
        super().__init__()
        self.on_register = on_register

    def add_done_callback(self, fn):
        super().add_done_callback(fn)
        self.on_register(self)


def test_as_completed_yields_futures_ended_during_its_registration_in_completion_order(impl):
    racing = _RacingFinisher(impl, 3)
    got = list(impl.futures.as_completed(racing.futures, timeout=LONG))
    racing.thread.join(LONG)
    assert got == racing.order


def test_as_completed_wakes_for_a_future_finished_by_another_thread(impl):
    a = impl.futures.Future()
    with Later(lambda: a.set_result(1)):
        assert list(impl.futures.as_completed([a], timeout=LONG)) == [a]


def test_as_completed_yields_cancelled_futures(impl):
    a = cancelled_future(impl)
    assert list(impl.futures.as_completed([a])) == [a]


def test_as_completed_on_no_futures_yields_nothing(impl):
    assert list(impl.futures.as_completed([], timeout=0)) == []


def test_as_completed_timeout_error_names_how_many_are_unfinished(impl):
    a, b, c = done_future(impl), impl.futures.Future(), impl.futures.Future()
    it = impl.futures.as_completed([a, b, c], timeout=0.05)
    assert next(it) is a
    with pytest.raises(impl.futures.TimeoutError) as info:
        next(it)
    assert str(info.value) == "2 (of 3) futures unfinished"


def test_as_completed_timeout_zero_still_yields_the_done_ones(impl):
    a, b = done_future(impl), impl.futures.Future()
    it = impl.futures.as_completed([a, b], timeout=0)
    assert next(it) is a
    with pytest.raises(impl.futures.TimeoutError):
        next(it)


def test_as_completed_timeout_counts_from_the_start_not_per_future(impl):
    # Each future finishes well within `timeout` of the previous one, but
    # not all within `timeout` of the start: the TimeoutError must come.
    fs = [impl.futures.Future() for _ in range(4)]
    it = impl.futures.as_completed(fs, timeout=0.3)
    with pytest.raises(impl.futures.TimeoutError):
        for f in fs:
            f.set_result(None)
            next(it)
            time.sleep(0.15)  # the consumer is slow on purpose


# ------------------------------------------------------------------ no waiter left behind
@pytest.mark.minipool_only
def test_wait_timing_out_leaves_no_callback_registered(impl):
    f = impl.futures.Future()
    impl.futures.wait([f], timeout=0.01)
    # Private detail on purpose: a forgotten waiter is invisible through the
    # public API (completing the future later just calls a dead object) --
    # it only costs memory and time, growing with every wait() that times out.
    assert f._callbacks == []


@pytest.mark.minipool_only
def test_wait_first_completed_leaves_no_callback_on_the_unfinished(impl):
    a, b = impl.futures.Future(), impl.futures.Future()
    with Later(lambda: a.set_result(1)):
        impl.futures.wait([a, b], timeout=LONG, return_when=impl.futures.FIRST_COMPLETED)
    assert b._callbacks == []  # private detail: see above


@pytest.mark.minipool_only
def test_as_completed_timing_out_leaves_no_callback_registered(impl):
    a, b = done_future(impl), impl.futures.Future()
    with pytest.raises(impl.futures.TimeoutError):
        list(impl.futures.as_completed([a, b], timeout=0.01))
    assert b._callbacks == []  # private detail: see above


@pytest.mark.minipool_only
def test_as_completed_closed_early_leaves_no_callback_registered(impl):
    a, b = done_future(impl), impl.futures.Future()
    it = impl.futures.as_completed([a, b])
    assert next(it) is a
    it.close()
    assert b._callbacks == []  # private detail: see above


# ------------------------------------------------------------------ no busy waiting
def _cpu_seconds_spent(fn):
    start = time.thread_time()
    fn()
    return time.thread_time() - start


@pytest.mark.minipool_only
def test_wait_does_not_busy_wait(impl):
    f = impl.futures.Future()
    spent = _cpu_seconds_spent(lambda: impl.futures.wait([f], timeout=0.5))
    assert spent < 0.1, f"wait(timeout=0.5) used {spent:.3f} s of CPU"


@pytest.mark.minipool_only
def test_as_completed_does_not_busy_wait(impl):
    f = impl.futures.Future()

    def consume():
        with pytest.raises(impl.futures.TimeoutError):
            list(impl.futures.as_completed([f], timeout=0.5))

    spent = _cpu_seconds_spent(consume)
    assert spent < 0.1, f"as_completed(timeout=0.5) used {spent:.3f} s of CPU"


# ------------------------------------------------------------------ cancelled = done (minipool)
@pytest.mark.minipool_only
def test_wait_counts_a_future_cancelled_by_cancel_as_done_at_once(impl):
    # Deliberate difference (docs/differences.md): the stdlib waits for
    # set_running_or_notify_cancel(), which nobody calls on a bare future.
    f = impl.futures.Future()
    f.cancel()
    assert impl.futures.wait([f], timeout=LONG) == ({f}, set())


@pytest.mark.minipool_only
def test_wait_wakes_when_another_thread_cancels(impl):
    f = impl.futures.Future()
    with Later(f.cancel):
        done, not_done = impl.futures.wait([f], timeout=LONG)
    assert done == {f} and not_done == set()


@pytest.mark.minipool_only
def test_as_completed_yields_a_future_cancelled_by_cancel(impl):
    a, b = impl.futures.Future(), impl.futures.Future()
    a.cancel()
    it = impl.futures.as_completed([a, b], timeout=LONG)
    assert next(it) is a
    with Later(b.cancel):
        assert list(it) == [b]


@pytest.mark.minipool_only
def test_wait_returns_for_futures_cancelled_by_stdlib_pool_shutdown(impl):
    # The stdlib's own wait() would hang on these forever.
    gate = threading.Event()
    started = threading.Event()
    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        running = pool.submit(lambda: (started.set(), gate.wait(LONG)))
        queued = [pool.submit(int) for _ in range(3)]
        assert started.wait(LONG)
        pool.shutdown(wait=False, cancel_futures=True)
        done, not_done = impl.futures.wait(queued, timeout=LONG)
        assert done == set(queued) and all(f.cancelled() for f in queued)
        assert not_done == set()
        assert set(impl.futures.as_completed(queued, timeout=LONG)) == set(queued)
    finally:
        gate.set()
        pool.shutdown(wait=True)
    assert running.result(timeout=0)[1] is True  # the running call was not cancelled


# ------------------------------------------------------------------ mixed futures
def test_minipool_wait_accepts_stdlib_and_minipool_futures_together():
    std, mini = concurrent.futures.Future(), minipool.Future()
    with Later(lambda: std.set_result(1), lambda: mini.set_result(2)):
        done, not_done = minipool.wait([std, mini], timeout=LONG)
    assert done == {std, mini} and not_done == set()


def test_minipool_wait_first_completed_on_mixed_futures():
    std, mini = concurrent.futures.Future(), minipool.Future()
    with Later(lambda: std.set_result(1)):
        done, not_done = minipool.wait(
            [mini, std], timeout=LONG, return_when=minipool.FIRST_COMPLETED)
    assert done == {std} and not_done == {mini}


def test_minipool_as_completed_accepts_stdlib_and_minipool_futures_together():
    std, mini = concurrent.futures.Future(), minipool.Future()
    with Later(lambda: mini.set_result(2), lambda: std.set_result(1)):
        got = list(minipool.as_completed([std, mini], timeout=LONG))
    assert sorted(got, key=id) == sorted([std, mini], key=id)


def test_stdlib_wait_accepts_minipool_futures_finished_later():
    a, b = minipool.Future(), minipool.Future()
    a.set_result(1)
    with Later(lambda: b.set_exception(KeyError())):
        done, not_done = concurrent.futures.wait([a, b], timeout=LONG)
    assert done == {a, b} and not_done == set()
    assert a._waiters == [] and b._waiters == []  # the stdlib removed its waiters


def test_stdlib_wait_first_completed_on_minipool_futures():
    a, b = minipool.Future(), minipool.Future()
    with Later(lambda: b.set_result(1)):
        done, not_done = concurrent.futures.wait(
            [a, b], timeout=LONG, return_when=concurrent.futures.FIRST_COMPLETED)
    assert done == {b} and not_done == {a}


def test_stdlib_wait_first_exception_on_minipool_futures():
    a, b, c = minipool.Future(), minipool.Future(), minipool.Future()
    a.set_result(1)
    with Later(lambda: b.set_exception(ValueError())):
        done, not_done = concurrent.futures.wait(
            [a, b, c], timeout=LONG, return_when=concurrent.futures.FIRST_EXCEPTION)
    assert done == {a, b} and not_done == {c}


def test_stdlib_wait_sees_minipool_cancel_once_notified():
    a = minipool.Future()

    def cancel_and_notify():
        a.cancel()
        a.set_running_or_notify_cancel()

    with Later(cancel_and_notify):
        done, not_done = concurrent.futures.wait([a], timeout=LONG)
    assert done == {a} and not_done == set()


def test_stdlib_as_completed_accepts_minipool_futures_finished_later():
    a, b, c = minipool.Future(), minipool.Future(), minipool.Future()
    a.set_result(1)
    it = concurrent.futures.as_completed([a, b, c], timeout=LONG)
    assert next(it) is a
    with Later(lambda: c.set_result(3), lambda: b.set_result(2)):
        assert list(it) == [c, b]


def test_stdlib_as_completed_timeout_on_minipool_futures():
    a, b = minipool.Future(), minipool.Future()
    a.set_result(1)
    it = concurrent.futures.as_completed([a, b], timeout=0.05)
    assert next(it) is a
    with pytest.raises(concurrent.futures.TimeoutError):
        next(it)


def test_stdlib_wait_returns_for_minipool_pool_futures_cancelled_by_shutdown():
    # docs/differences.md: minipool's pools notify the futures they cancel,
    # so even the stdlib's wait() returns for them.
    gate = threading.Event()
    started = threading.Event()
    pool = minipool.MiniThreadPool(1)
    try:
        pool.submit(lambda: (started.set(), gate.wait(LONG)))
        queued = [pool.submit(int) for _ in range(3)]
        assert started.wait(LONG)
        pool.shutdown(wait=False, cancel_futures=True)
        done, not_done = concurrent.futures.wait(queued, timeout=LONG)
        assert done == set(queued) and not_done == set()
    finally:
        gate.set()
        pool.shutdown(wait=True)
