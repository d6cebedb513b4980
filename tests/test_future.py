"""The Future on its own: states, results, timeouts, callbacks, the setters, repr.

Every test runs against ``concurrent.futures.Future`` and ``minipool.Future``
(see minipool/conformance/plugin.py), so each one pins a stdlib behaviour minipool must copy.
"""

from __future__ import annotations

import logging
import threading
import time
import typing

import pytest

LONG = 10.0  # seconds: the most any wait in a passing test should need

pytestmark = pytest.mark.no_executor  # bare futures: nothing for an executor under test


def logger_name(impl):
    """Where a raising callback is logged (a documented difference)."""
    return "concurrent.futures" if impl.is_stdlib else "minipool"


def finished_future(impl, value=None):
    f = impl.futures.Future()
    f.set_result(value)
    return f


def failed_future(impl):
    f = impl.futures.Future()
    f.set_exception(ValueError("first"))
    return f


def cancelled_future(impl):
    f = impl.futures.Future()
    f.cancel()
    return f


def running_future(impl):
    f = impl.futures.Future()
    assert f.set_running_or_notify_cancel() is True
    return f


def cancelled_and_notified_future(impl):
    f = impl.futures.Future()
    f.cancel()
    assert f.set_running_or_notify_cancel() is False
    return f


def in_thread(fn, *args):
    """Start fn(*args) in a new thread; return the thread (the caller joins it)."""
    thread = threading.Thread(target=fn, args=args)
    thread.start()
    return thread


# ------------------------------------------------------------------ states
def test_new_future_is_pending(impl):
    f = impl.futures.Future()
    assert (f.done(), f.running(), f.cancelled()) == (False, False, False)


def test_cancel_pending_future_succeeds_and_makes_it_done(impl):
    f = impl.futures.Future()
    assert f.cancel() is True
    assert (f.done(), f.running(), f.cancelled()) == (True, False, True)


def test_cancel_twice_returns_true_both_times(impl):
    f = impl.futures.Future()
    assert f.cancel() is True
    assert f.cancel() is True
    assert f.cancelled()


def test_cancel_running_future_fails(impl):
    f = running_future(impl)
    assert f.cancel() is False
    assert (f.done(), f.running(), f.cancelled()) == (False, True, False)


def test_cancel_finished_future_fails(impl):
    f = finished_future(impl, 1)
    assert f.cancel() is False
    assert (f.done(), f.cancelled()) == (True, False)
    assert f.result() == 1


def test_cancel_after_notify_still_reports_cancelled(impl):
    f = cancelled_and_notified_future(impl)
    assert f.cancel() is True
    assert (f.done(), f.cancelled(), f.running()) == (True, True, False)


def test_set_running_or_notify_cancel_returns_true_and_marks_running(impl):
    f = impl.futures.Future()
    assert f.set_running_or_notify_cancel() is True
    assert (f.running(), f.done()) == (True, False)


def test_set_running_or_notify_cancel_returns_false_oncancelled_future(impl):
    f = impl.futures.Future()
    f.cancel()
    assert f.set_running_or_notify_cancel() is False
    assert (f.cancelled(), f.done(), f.running()) == (True, True, False)


@pytest.mark.parametrize(
    "make", [running_future, finished_future, cancelled_and_notified_future],
    ids=["running", "finished", "cancelled_and_notified"])
def test_set_running_or_notify_cancel_raises_runtime_error_unless_pending_or_cancelled(
        impl, make):
    f = make(impl)
    with pytest.raises(RuntimeError):
        f.set_running_or_notify_cancel()


def test_set_result_makes_future_done_from_running(impl):
    f = running_future(impl)
    f.set_result(5)
    assert (f.done(), f.running(), f.cancelled()) == (True, False, False)
    assert f.result() == 5


def test_set_result_is_allowed_straight_from_pending(impl):
    f = impl.futures.Future()
    f.set_result("x")
    assert f.done() and f.result() == "x"


# ------------------------------------------------------------------ setters on a done future
DONE_KINDS = {
    "finished": lambda impl: finished_future(impl, 1),
    "failed": failed_future,
    "cancelled": cancelled_future,
    "cancelled_and_notified": cancelled_and_notified_future,
}


@pytest.mark.parametrize("kind", sorted(DONE_KINDS))
def test_set_result_on_done_future_raises_invalid_state_error(impl, kind):
    f = DONE_KINDS[kind](impl)
    with pytest.raises(impl.futures.InvalidStateError):
        f.set_result(2)


@pytest.mark.parametrize("kind", sorted(DONE_KINDS))
def test_set_exception_on_done_future_raises_invalid_state_error(impl, kind):
    f = DONE_KINDS[kind](impl)
    with pytest.raises(impl.futures.InvalidStateError):
        f.set_exception(KeyError("late"))


def test_refused_set_result_keeps_the_first_outcome(impl):
    f = finished_future(impl, 1)
    with pytest.raises(impl.futures.InvalidStateError):
        f.set_result(2)
    with pytest.raises(impl.futures.InvalidStateError):
        f.set_exception(ValueError())
    assert f.result() == 1 and f.exception() is None


# ------------------------------------------------------------------ result / exception
def test_result_returns_the_value_set(impl):
    value = object()
    assert finished_future(impl, value).result() is value


def test_result_raises_the_exception_set(impl):
    f = impl.futures.Future()
    error = ValueError("boom")
    f.set_exception(error)
    with pytest.raises(ValueError) as info:
        f.result()
    assert info.value is error


def test_result_reraises_base_exception_subclass(impl):
    class Stop(BaseException):
        pass

    f = impl.futures.Future()
    f.set_exception(Stop())
    with pytest.raises(Stop):
        f.result()


def test_exception_returns_the_exception_set(impl):
    f = impl.futures.Future()
    error = KeyError("k")
    f.set_exception(error)
    assert f.exception() is error


def test_exception_is_none_after_set_result(impl):
    assert finished_future(impl, 3).exception() is None


def test_result_and_exception_raise_cancelled_error_after_cancel(impl):
    f = impl.futures.Future()
    f.cancel()
    with pytest.raises(impl.futures.CancelledError):
        f.result()
    with pytest.raises(impl.futures.CancelledError):
        f.exception()


@pytest.mark.parametrize("method", ["result", "exception"])
@pytest.mark.parametrize("make", [lambda impl: impl.futures.Future(), running_future],
                         ids=["pending", "running"])
def test_timeout_zero_on_unfinished_future_raises_timeout_error(impl, method, make):
    f = make(impl)
    with pytest.raises(impl.futures.TimeoutError):
        getattr(f, method)(timeout=0)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("method", ["result", "exception"])
def test_positive_timeout_on_unfinished_future_raises_timeout_error(impl, method):
    f = impl.futures.Future()
    with pytest.raises(impl.futures.TimeoutError):
        getattr(f, method)(timeout=0.05)
    assert not f.done()


def test_timeout_zero_on_finished_future_returns_at_once(impl):
    f = finished_future(impl, 7)
    assert f.result(timeout=0) == 7
    assert f.exception(timeout=0) is None


def test_timeout_zero_oncancelled_future_raises_cancelled_error(impl):
    f = impl.futures.Future()
    f.cancel()
    with pytest.raises(impl.futures.CancelledError):
        f.result(timeout=0)


@pytest.mark.timeout(10)
def test_result_wakes_when_another_thread_sets_the_result(impl):
    f = impl.futures.Future()

    def producer():
        time.sleep(0.05)  # the producer is slow on purpose: result() must be waiting
        f.set_result(42)

    thread = in_thread(producer)
    try:
        assert f.result(timeout=LONG) == 42
    finally:
        thread.join()


@pytest.mark.timeout(10)
def test_exception_wakes_when_another_thread_sets_an_exception(impl):
    f = impl.futures.Future()
    error = OSError("late")

    def producer():
        time.sleep(0.05)  # slow on purpose: exception() must be waiting
        f.set_exception(error)

    thread = in_thread(producer)
    try:
        assert f.exception(timeout=LONG) is error
    finally:
        thread.join()


@pytest.mark.timeout(10)
def test_result_wakes_with_cancelled_error_when_another_thread_cancels(impl):
    f = impl.futures.Future()

    def canceller():
        time.sleep(0.05)  # slow on purpose: result() must be waiting
        f.cancel()

    thread = in_thread(canceller)
    try:
        with pytest.raises(impl.futures.CancelledError):
            f.result(timeout=LONG)
    finally:
        thread.join()


# ------------------------------------------------------------------ callbacks
def test_done_callback_is_not_called_before_the_future_is_done(impl):
    f = impl.futures.Future()
    calls = []
    f.add_done_callback(calls.append)
    f.set_running_or_notify_cancel()
    assert calls == []
    f.set_result(1)
    assert calls == [f]


def test_done_callback_receives_the_future(impl):
    f = impl.futures.Future()
    seen = []
    f.add_done_callback(lambda fut: seen.append((fut, fut.result())))
    f.set_result("v")
    assert seen == [(f, "v")]


def test_callback_added_to_done_future_runs_at_once_in_the_calling_thread(impl):
    f = finished_future(impl, 1)
    threads = []
    f.add_done_callback(lambda fut: threads.append(threading.current_thread()))
    assert threads == [threading.current_thread()]  # already ran, before returning


def test_callbacks_run_in_order_of_addition(impl):
    f = impl.futures.Future()
    order = []
    for i in range(5):
        f.add_done_callback(lambda fut, i=i: order.append(i))
    f.set_result(None)
    f.add_done_callback(lambda fut: order.append("late"))
    assert order == [0, 1, 2, 3, 4, "late"]


def test_callback_runs_exactly_once(impl):
    f = impl.futures.Future()
    calls = []
    f.add_done_callback(calls.append)
    f.set_result(1)
    f.cancel()  # refused: finished
    with pytest.raises(impl.futures.InvalidStateError):
        f.set_result(2)
    f.result()
    assert calls == [f]


def test_callback_runs_on_cancel_in_the_cancelling_thread(impl):
    f = impl.futures.Future()
    seen = []
    f.add_done_callback(lambda fut: seen.append((fut.cancelled(), threading.current_thread())))
    f.cancel()
    assert seen == [(True, threading.current_thread())]


def test_callback_runs_once_through_cancel_and_notify(impl):
    f = impl.futures.Future()
    calls = []
    f.add_done_callback(calls.append)
    f.cancel()
    f.cancel()
    f.set_running_or_notify_cancel()
    assert calls == [f]


def test_callback_runs_on_set_exception(impl):
    f = impl.futures.Future()
    seen = []
    f.add_done_callback(lambda fut: seen.append(type(fut.exception())))
    f.set_exception(ZeroDivisionError())
    assert seen == [ZeroDivisionError]


def test_raising_callback_is_logged_with_future_and_traceback(impl, caplog):
    f = impl.futures.Future()

    def bad(fut):
        raise ValueError("callback failed")

    f.add_done_callback(bad)
    with caplog.at_level(logging.ERROR, logger=logger_name(impl)):
        f.set_result(1)
    records = [r for r in caplog.records if r.name == logger_name(impl)]
    assert len(records) == 1
    record = records[0]
    assert repr(f) in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is ValueError
    assert record.exc_info[2] is not None  # the traceback is attached


def test_raising_callback_on_done_future_is_logged_not_raised(impl, caplog):
    f = finished_future(impl, 1)
    with caplog.at_level(logging.ERROR, logger=logger_name(impl)):
        f.add_done_callback(lambda fut: 1 / 0)  # must not raise here
    records = [r for r in caplog.records if r.name == logger_name(impl)]
    assert [r.exc_info[0] for r in records] == [ZeroDivisionError]


def test_raising_callback_does_not_stop_the_others(impl, caplog):
    f = impl.futures.Future()
    calls = []
    f.add_done_callback(lambda fut: calls.append(1))
    f.add_done_callback(lambda fut: 1 / 0)
    f.add_done_callback(lambda fut: calls.append(3))
    with caplog.at_level(logging.CRITICAL + 1, logger=logger_name(impl)):  # keep output quiet
        f.set_result(None)
    assert calls == [1, 3]
    assert f.result() is None


@pytest.mark.timeout(10)
def test_callback_can_use_its_own_future_without_deadlock(impl):
    f = impl.futures.Future()
    seen = []

    def callback(fut):
        seen.append((fut.done(), fut.running(), fut.cancelled(), fut.cancel(),
                     fut.result(timeout=0), fut.exception(timeout=0), repr(fut)))
        fut.add_done_callback(lambda again: seen.append("nested"))  # runs at once

    f.add_done_callback(callback)
    f.set_result(9)
    assert seen[0][:6] == (True, False, False, False, 9, None)
    assert seen[1] == "nested"


@pytest.mark.timeout(10)
def test_cancel_callback_can_use_its_own_future_without_deadlock(impl):
    f = impl.futures.Future()
    seen = []

    def callback(fut):
        with pytest.raises(impl.futures.CancelledError):
            fut.result(timeout=0)
        seen.append((fut.cancelled(), fut.cancel()))

    f.add_done_callback(callback)
    f.cancel()
    assert seen == [(True, True)]


@pytest.mark.timeout(20)
def test_callback_added_while_another_thread_finishes_runs_exactly_once(impl):
    # The race add_done_callback vs set_result: each callback must run once,
    # either in the finishing thread or at once in the adding thread.
    rounds = 200
    counts = []
    for _ in range(rounds):
        f = impl.futures.Future()
        calls = []
        start = threading.Barrier(2, timeout=LONG)

        def finisher(f=f, start=start):
            start.wait()
            f.set_result(None)

        thread = in_thread(finisher)
        start.wait()
        f.add_done_callback(calls.append)
        thread.join()
        counts.append(len(calls))
    assert counts == [1] * rounds


# ------------------------------------------------------------------ repr, typing
def test_repr_of_pending_future_names_the_state(impl):
    assert "state=pending" in repr(impl.futures.Future())


def test_repr_of_running_future_names_the_state(impl):
    assert "state=running" in repr(running_future(impl))


def test_repr_ofcancelled_future_names_the_state(impl):
    assert "state=cancelled" in repr(cancelled_future(impl))
    assert "state=cancelled" in repr(cancelled_and_notified_future(impl))


def test_repr_of_finished_future_names_state_and_result_type(impl):
    text = repr(finished_future(impl, 12))
    assert "state=finished" in text and "returned int" in text


def test_repr_offailed_future_names_the_exception_type(impl):
    text = repr(failed_future(impl))
    assert "state=finished" in text and "raised ValueError" in text


def test_future_is_subscriptable_for_type_hints(impl):
    alias = impl.futures.Future[int]
    assert typing.get_origin(alias) is impl.futures.Future
    assert typing.get_args(alias) == (int,)
