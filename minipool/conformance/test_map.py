"""Executor.map on the thread pool: order, iterables, timeout, errors, early stop, buffersize."""

from __future__ import annotations

import itertools
import sys
import threading
import time

import pytest

LONG = 10.0  # seconds: the most any wait in a passing test should need

pytestmark = pytest.mark.timeout(15)  # a lost wake-up or a stuck worker hangs map

# The stdlib has buffersize from Python 3.14 on; before that only minipool does.
buffersize_test = (pytest.mark.minipool_only if sys.version_info < (3, 14)
                   else pytest.mark.usefixtures())


class Recorder:
    """An input iterable that records how many items were taken from it."""

    def __init__(self, items):
        self._items = iter(items)
        self.taken = 0
        self._lock = threading.Lock()

    def __iter__(self):
        return self

    def __next__(self):
        item = next(self._items)
        with self._lock:
            self.taken += 1
        return item


# ------------------------------------------------------------------ order and iterables
def test_map_yields_results_in_input_order_whatever_the_finishing_order(impl):
    n = 4
    may_finish = [threading.Event() for _ in range(n)]
    finished = [threading.Event() for _ in range(n)]
    finish_order = []

    def task(i):
        assert may_finish[i].wait(LONG)
        finish_order.append(i)
        finished[i].set()
        return i * 10

    def finish_the_first_one_later():
        time.sleep(0.05)  # slow on purpose: the consumer is (likely) waiting for it
        may_finish[0].set()

    with impl.ThreadPool(n) as pool:
        releaser = threading.Thread(target=finish_the_first_one_later)
        try:
            results = pool.map(task, range(n))
            for i in (3, 2, 1):  # the later inputs finish first, one by one
                may_finish[i].set()
                assert finished[i].wait(LONG)
            releaser.start()
            assert list(results) == [0, 10, 20, 30]
        finally:
            for event in may_finish:
                event.set()
            if releaser.is_alive():
                releaser.join()
    assert finish_order == [3, 2, 1, 0]


def test_map_stops_at_the_shortest_iterable(impl):
    with impl.ThreadPool(2) as pool:
        assert list(pool.map(pow, [2, 3, 4, 5], [2, 2])) == [4, 9]


def test_map_accepts_an_infinite_iterable_beside_a_finite_one(impl):
    with impl.ThreadPool(2) as pool:
        assert list(pool.map(pow, itertools.count(2), [1, 2, 3])) == [2, 9, 64]


def test_map_passes_one_item_of_each_iterable(impl):
    def join(a, b, c):
        return f"{a}{b}{c}"

    with impl.ThreadPool(2) as pool:
        assert list(pool.map(join, "abc", [1, 2, 3], ("x", "y", "z"))) == ["a1x", "b2y", "c3z"]


def test_map_over_nothing_yields_nothing(impl):
    with impl.ThreadPool(2) as pool:
        assert list(pool.map(abs, [])) == []


def test_map_submits_every_call_before_the_first_result_is_read(impl):
    # Without buffersize, map is eager: all calls run even if nobody iterates.
    ran = []
    lock = threading.Lock()

    def task(i):
        with lock:
            ran.append(i)

    with impl.ThreadPool(2) as pool:
        results = pool.map(task, range(5))
    assert sorted(ran) == [0, 1, 2, 3, 4]
    assert list(results) == [None] * 5


# ------------------------------------------------------------------ timeout
def test_map_timeout_raises_timeout_error_when_a_result_is_late(impl):
    gate = threading.Event()
    with impl.ThreadPool(1) as pool:
        try:
            results = pool.map(lambda _: gate.wait(LONG), [1], timeout=0.05)
            with pytest.raises(impl.futures.TimeoutError):
                next(results)
        finally:
            gate.set()


def test_map_timeout_counts_from_the_call_not_from_iteration(impl):
    gate = threading.Event()

    def task(i):
        if i == 1:
            gate.wait(LONG)
        return i

    timeout = 1.0
    with impl.ThreadPool(2) as pool:
        try:
            results = pool.map(task, [0, 1], timeout=timeout)
            time.sleep(timeout + 0.2)  # on purpose: the whole timeout passes before iterating
            assert next(results) == 0  # already finished: late is fine
            start = time.monotonic()
            with pytest.raises(impl.futures.TimeoutError):
                next(results)
            # Counted from the call, the time is already up: no fresh wait of `timeout`.
            assert time.monotonic() - start < timeout / 2
        finally:
            gate.set()


# ------------------------------------------------------------------ errors
def test_map_reraises_a_task_exception_at_its_position(impl):
    with impl.ThreadPool(2) as pool:
        results = pool.map(lambda x: 10 // x, [1, 2, 0, 5])
        assert next(results) == 10
        assert next(results) == 5
        with pytest.raises(ZeroDivisionError):
            next(results)


def test_map_after_shutdown_raises_runtime_error(impl):
    pool = impl.ThreadPool(1)
    pool.shutdown()
    with pytest.raises(RuntimeError):
        pool.map(abs, [1, 2])


# ------------------------------------------------------------------ early stop
def test_closing_map_early_cancels_the_calls_not_started(impl):
    started = threading.Event()
    gate = threading.Event()
    ran = []

    def task(i):
        ran.append(i)
        if i == 1:
            started.set()
            gate.wait(LONG)
        return i

    with impl.ThreadPool(1) as pool:
        try:
            results = pool.map(task, range(6))
            assert next(results) == 0
            assert started.wait(LONG)  # task 1 runs, 2..5 wait in the queue
            results.close()
        finally:
            gate.set()
    assert ran == [0, 1]


def test_map_timeout_cancels_the_calls_not_started(impl):
    gate = threading.Event()
    ran = []

    def task(i):
        ran.append(i)
        gate.wait(LONG)
        return i

    with impl.ThreadPool(1) as pool:
        try:
            results = pool.map(task, range(4), timeout=0.05)
            with pytest.raises(impl.futures.TimeoutError):
                list(results)
        finally:
            gate.set()
    assert ran == [0]


# ------------------------------------------------------------------ buffersize
@buffersize_test
def test_map_buffersize_reads_inputs_only_as_results_are_consumed(impl):
    inputs = Recorder(range(10))
    buffersize = 3
    taken_after_each_yield = []
    with impl.ThreadPool(4) as pool:
        results = pool.map(abs, inputs, buffersize=buffersize)
        assert inputs.taken == buffersize  # read up front: one buffer, no more
        for _ in results:
            taken_after_each_yield.append(inputs.taken)
    # After the k-th result: k yielded, at most `buffersize` more submitted.
    assert taken_after_each_yield == [min(k + buffersize, 10) for k in range(1, 11)]


@buffersize_test
def test_map_buffersize_keeps_at_most_buffersize_calls_outstanding(impl):
    buffersize = 2
    lock = threading.Lock()
    started = 0
    outstanding_seen = []
    with impl.ThreadPool(8) as pool:

        def task(i):
            nonlocal started
            with lock:
                started += 1
            return i

        results = pool.map(task, range(12), buffersize=buffersize)
        for yielded, value in enumerate(results, start=1):
            assert value == yielded - 1
            with lock:
                outstanding_seen.append(started - yielded)
    assert max(outstanding_seen) <= buffersize


@buffersize_test
def test_map_buffersize_works_on_an_infinite_input(impl):
    with impl.ThreadPool(2) as pool:
        results = pool.map(lambda x: x * x, itertools.count(), buffersize=4)
        assert list(itertools.islice(results, 6)) == [0, 1, 4, 9, 16, 25]
        results.close()


@buffersize_test
def test_map_buffersize_keeps_input_order(impl):
    with impl.ThreadPool(4) as pool:
        assert list(pool.map(str, range(20), buffersize=3)) == [str(i) for i in range(20)]


@buffersize_test
@pytest.mark.parametrize("bad", ["2", 2.0, [1]])
def test_map_buffersize_must_be_an_int(impl, bad):
    with impl.ThreadPool(1) as pool:
        with pytest.raises(TypeError):
            pool.map(abs, [1], buffersize=bad)


@buffersize_test
@pytest.mark.parametrize("bad", [0, -1])
def test_map_buffersize_must_be_positive(impl, bad):
    with impl.ThreadPool(1) as pool:
        with pytest.raises(ValueError):
            pool.map(abs, [1], buffersize=bad)


@buffersize_test
def test_map_buffersize_rejects_bad_values_before_reading_input(impl):
    inputs = Recorder(range(3))
    with impl.ThreadPool(1) as pool:
        with pytest.raises(ValueError):
            pool.map(abs, inputs, buffersize=0)
    assert inputs.taken == 0
