"""wait() and as_completed() on generated sets of futures.

Each example is a ``WaitProgram`` (see strategies.py): n futures; some ended
before the call, some ended by another thread, in a generated order, while
the call runs; some never ended; the argument list may repeat futures. The
same program runs once with stdlib futures and ``concurrent.futures.wait``/
``as_completed`` and once with minipool's, and each run must equal what the
program implies:

* ``wait`` partitions the *distinct* arguments exactly into done / not_done.
  The other thread ends futures only up to the step after which the
  ``return_when`` condition holds, so the partition is fully determined. If
  the condition can never hold (a future never ends), the other thread runs
  to the end first and ``wait`` must return the exact partition at its
  timeout.
* ``as_completed`` yields each distinct future once, those done before the
  call first, then the others in the order the other thread ended them; if
  some never end it raises TimeoutError after yielding (a prefix of) them.

The documented difference (``cancel_only`` in a program): a future that was
cancelled but never notified (no ``set_running_or_notify_cancel``) counts as
done for minipool's wait/as_completed, as ``future.done()`` says, and as
never done for the stdlib's. ``counts_as_done`` models exactly that; nothing
else differs.
"""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Any, Optional

import pytest
from hypothesis import given

import minipool
from minipool.conformance.strategies import (
    ExampleCounter,
    WaitProgram,
    prop_timeout,
    scaled,
    wait_programs,
)

IMPLS = {"stdlib": concurrent.futures, "minipool": minipool}
LONG = 10.0  # seconds: only a broken implementation ever waits this long
COUNTER = ExampleCounter("wait")


def counts_as_done(impl: str, outcome: str) -> bool:
    """Does *impl*'s wait/as_completed see a future that got *outcome* as done?"""
    return not (impl == "stdlib" and outcome == "cancel_only")


def apply(future: Any, index: int, outcome: str) -> None:
    if outcome == "result":
        future.set_result(f"f{index}")
    elif outcome == "exception":
        future.set_exception(ValueError(index))
    else:
        assert future.cancel()
        if outcome == "cancel":
            assert not future.set_running_or_notify_cancel()


# "Later" must really mean *while wait/as_completed waits*, not before it
# started: otherwise a wait that returns too early is never caught. So the
# other thread first waits until the call has registered itself on the
# futures. The futures report that: minipool's wait/as_completed register with
# add_done_callback; the stdlib's append a waiter to the private list
# ``_waiters`` (test instrumentation only: the stdlib has no public hook).
class _ReportingList(list):  # type: ignore[type-arg]
    def __init__(self, registered: threading.Event) -> None:
        super().__init__()
        self.registered = registered

    def append(self, item: Any) -> None:
        super().append(item)
        self.registered.set()


class _ReportingFuture(minipool.Future):  # type: ignore[type-arg]
    def __init__(self, registered: threading.Event) -> None:
        super().__init__()
        self.registered = registered

    def add_done_callback(self, fn: Any) -> None:
        super().add_done_callback(fn)
        self.registered.set()


def make_futures(impl: str, program: WaitProgram, registered: threading.Event) -> list[Any]:
    futures: list[Any] = []
    for _ in range(program.n):
        if impl == "stdlib":
            future: Any = concurrent.futures.Future()
            future._waiters = _ReportingList(registered)
        else:
            future = _ReportingFuture(registered)
        futures.append(future)
    for i, outcome in enumerate(program.before):
        if outcome:
            apply(futures[i], i, outcome)
    registered.clear()  # only a registration by the call under test counts
    return futures


class LaterThread(threading.Thread):
    """Ends futures in the program's order; with *registered*, once the call waits."""

    def __init__(self, futures: list[Any], steps: tuple[tuple[int, str], ...],
                 registered: Optional[threading.Event]) -> None:
        super().__init__(name="prop-wait-later")
        self.futures, self.steps, self.registered = futures, steps, registered

    def run(self) -> None:
        if self.registered is not None:
            self.registered.wait(LONG)
        for i, outcome in self.steps:
            apply(self.futures[i], i, outcome)


def condition_holds(done: set[int], universe: set[int], raised: set[int], return_when: str) -> bool:
    if not universe - done:
        return True
    if return_when == "FIRST_COMPLETED":
        return bool(done)
    if return_when == "FIRST_EXCEPTION":
        return bool(done & raised)
    return False


def check_wait(impl: str, program: WaitProgram) -> None:
    registered = threading.Event()
    futures = make_futures(impl, program, registered)
    universe = set(program.args)
    raised = {i for i, o in enumerate(program.before) if o == "exception"}
    raised |= {i for i, o in program.later if o == "exception"}
    done = {i for i, o in enumerate(program.before) if o and counts_as_done(impl, o)} & universe
    # Find how many of the later steps it takes for the condition to hold.
    steps_needed = None
    if condition_holds(done, universe, raised, program.return_when):
        steps_needed = 0
    else:
        for k, (i, outcome) in enumerate(program.later, start=1):
            if i in universe and counts_as_done(impl, outcome):
                done.add(i)
            if condition_holds(done, universe, raised, program.return_when):
                steps_needed = k
                break

    wait = IMPLS[impl].wait
    args = [futures[i] for i in program.args]
    if steps_needed is not None:
        # The other thread ends exactly the futures it takes, while wait waits.
        thread = LaterThread(futures, program.later[:steps_needed],
                             registered if steps_needed else None)
        thread.start()
        try:
            result = wait(args, timeout=LONG, return_when=program.return_when)
        finally:
            registered.set()  # if wait returned without waiting, the partition tells
            thread.join()
    else:
        # The condition never holds: everything that ends has ended at the timeout.
        thread = LaterThread(futures, program.later, None)
        thread.start()
        thread.join()
        result = wait(args, timeout=0.01, return_when=program.return_when)
    got_done = {futures.index(f) for f in result.done}
    got_not_done = {futures.index(f) for f in result.not_done}
    assert (impl, got_done, got_not_done) == (impl, done, universe - done)


def check_as_completed(impl: str, program: WaitProgram) -> None:
    registered = threading.Event()
    futures = make_futures(impl, program, registered)
    universe = set(program.args)
    before = {i for i, o in enumerate(program.before) if o and counts_as_done(impl, o)} & universe
    later: list[int] = []  # in the order the other thread ends them
    for i, outcome in program.later:
        if i in universe and counts_as_done(impl, outcome) and i not in later:
            later.append(i)
    all_end = before | set(later) == universe

    # If some argument is not done, as_completed registers on it when first
    # asked for a future, and only then does the other thread begin.
    thread = LaterThread(futures, program.later, registered if universe - before else None)
    thread.start()
    iterator = IMPLS[impl].as_completed(
        [futures[i] for i in program.args], timeout=LONG if all_end else 0.02)
    yielded: list[int] = []
    timed_out = False
    try:
        yielded.extend(futures.index(f) for f in iterator)
    except concurrent.futures.TimeoutError:
        timed_out = True
    finally:
        registered.set()  # in case as_completed failed before registering
        thread.join()

    assert len(yielded) == len(set(yielded)), ("a future was yielded twice", impl, yielded)
    assert timed_out == (not all_end), (impl, yielded, timed_out)
    head, rest = yielded[: len(before)], yielded[len(before):]
    assert set(head) == before, ("done before the call must come first", impl, yielded)
    if all_end:
        assert rest == later, ("completion order", impl, yielded, later)
    else:  # timed out: a prefix of them, maybe all
        assert rest == later[: len(rest)], ("completion order", impl, yielded, later)


@pytest.mark.timeout(prop_timeout(120), method="thread")
@scaled(3)
@given(program=wait_programs())
def test_wait_partitions_exactly(program: WaitProgram) -> None:
    COUNTER.examples += 1
    for impl in IMPLS:
        check_wait(impl, program)


@pytest.mark.timeout(prop_timeout(120), method="thread")
@scaled(3)
@given(program=wait_programs())
def test_as_completed_yields_each_once_done_first(program: WaitProgram) -> None:
    COUNTER.examples += 1
    for impl in IMPLS:
        check_as_completed(impl, program)


def teardown_module() -> None:
    COUNTER.__exit__()
