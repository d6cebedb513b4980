"""The Future state machine, stdlib and minipool side by side.

Each rule applies one operation to a stdlib ``concurrent.futures.Future`` and
to a minipool ``Future`` (a *pair*), and checks that both did the same: same
return value, or same exception type and arguments. After every step the
invariant compares every observable of every pair -- ``done``, ``running``,
``cancelled``, ``result(timeout=0)``, ``exception(timeout=0)`` -- and what the
done-callbacks saw, in order, call by call, and how many raising callbacks
were logged.

A failing example prints as the program of steps that reached it
(``state.cancel(pair=pairs_0)`` ...).
"""

from __future__ import annotations

import concurrent.futures
import logging
from typing import Any

import pytest
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

import minipool
from minipool.conformance.strategies import (
    ExampleCounter,
    callback_kinds,
    exceptions,
    outcome_of,
    prop_timeout,
    scaled,
    values,
)

IMPLS = {"stdlib": concurrent.futures, "minipool": minipool}
# Where each implementation logs a callback that raised.
LOGGERS = {"stdlib": "concurrent.futures", "minipool": "minipool"}


class _CallbackLog(logging.Handler):
    """Counts 'exception calling callback' records on one logger."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith("exception calling callback"):
            self.count += 1


def observe(future: Any) -> tuple[Any, ...]:
    """Everything a consumer can see of a future without waiting."""
    return (
        future.done(),
        future.running(),
        future.cancelled(),
        outcome_of(lambda: future.result(timeout=0)),
        outcome_of(lambda: future.exception(timeout=0)),
    )


class Pair:
    """One stdlib future and one minipool future, and what their callbacks saw."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.futures = {name: module.Future() for name, module in IMPLS.items()}
        # Per implementation: (callback label, was-it-this-future, what it saw), in call order.
        self.seen: dict[str, list[tuple[Any, ...]]] = {name: [] for name in IMPLS}
        self.callbacks_added = 0

    def __repr__(self) -> str:
        return f"pair{self.number}"


class FutureMachine(RuleBasedStateMachine):
    pairs = Bundle("pairs")
    counter = ExampleCounter("future_state_machine")

    def __init__(self) -> None:
        super().__init__()
        self.counter.examples += 1
        self.all_pairs: list[Pair] = []
        self.logs = {name: _CallbackLog() for name in IMPLS}
        for name, handler in self.logs.items():
            logging.getLogger(LOGGERS[name]).addHandler(handler)

    def teardown(self) -> None:
        for name, handler in self.logs.items():
            logging.getLogger(LOGGERS[name]).removeHandler(handler)

    def both(self, pair: Pair, call: Any) -> tuple[Any, ...]:
        """Apply call(future) to both futures of *pair*; assert the outcomes match."""
        outcomes = {name: outcome_of(lambda f=f: call(f)) for name, f in pair.futures.items()}
        assert outcomes["minipool"] == outcomes["stdlib"], outcomes
        return outcomes["stdlib"]

    # ------------------------------------------------------------ rules
    @initialize(target=pairs)
    def first_future(self) -> Pair:
        return self.new_future()

    @rule(target=pairs)
    def new_future(self) -> Pair:
        pair = Pair(len(self.all_pairs))
        self.all_pairs.append(pair)
        return pair

    @rule(pair=pairs, value=values)
    def set_result(self, pair: Pair, value: Any) -> None:
        self.both(pair, lambda f: f.set_result(value))

    @rule(pair=pairs, exc=exceptions)
    def set_exception(self, pair: Pair, exc: tuple[type[BaseException], int]) -> None:
        exc_type, arg = exc
        self.both(pair, lambda f: f.set_exception(exc_type(arg)))  # a fresh instance each

    @rule(pair=pairs)
    def cancel(self, pair: Pair) -> None:
        self.both(pair, lambda f: f.cancel())

    @rule(pair=pairs)
    def set_running_or_notify_cancel(self, pair: Pair) -> None:
        self.both(pair, lambda f: f.set_running_or_notify_cancel())

    @rule(pair=pairs, kind=callback_kinds)
    def add_done_callback(self, pair: Pair, kind: str) -> None:
        label = pair.callbacks_added
        pair.callbacks_added += 1
        for name, future in pair.futures.items():
            future.add_done_callback(self._callback(pair, name, label, kind))
        self._check_callbacks(pair)  # a callback on a done future runs at once

    def _callback(self, pair: Pair, name: str, label: Any, kind: str) -> Any:
        def callback(future: Any) -> None:
            pair.seen[name].append((label, future is pair.futures[name], observe(future)))
            if kind == "raise":
                raise ValueError(f"callback {label}")
            if kind == "nested":  # runs at once, in this thread: the future is done
                future.add_done_callback(self._callback(pair, name, (label, "inner"), "record"))
        return callback

    @rule(pair=pairs)
    def result(self, pair: Pair) -> None:
        self.both(pair, lambda f: f.result(timeout=0))

    @rule(pair=pairs)
    def exception(self, pair: Pair) -> None:
        self.both(pair, lambda f: f.exception(timeout=0))

    @rule(pair=pairs)
    def done(self, pair: Pair) -> None:
        self.both(pair, lambda f: f.done())

    @rule(pair=pairs)
    def running(self, pair: Pair) -> None:
        self.both(pair, lambda f: f.running())

    @rule(pair=pairs)
    def cancelled(self, pair: Pair) -> None:
        self.both(pair, lambda f: f.cancelled())

    # -------------------------------------------------------- invariants
    def _check_callbacks(self, pair: Pair) -> None:
        assert pair.seen["minipool"] == pair.seen["stdlib"], pair.seen

    @invariant()
    def all_observables_match(self) -> None:
        self.counter.steps += 1
        for pair in self.all_pairs:
            got = {name: observe(f) for name, f in pair.futures.items()}
            assert got["minipool"] == got["stdlib"], (pair, got)
            self._check_callbacks(pair)
            # Each callback ran at most once, and all of them once the future is done.
            labels = [seen[0] for seen in pair.seen["minipool"]]
            assert len(labels) == len(set(labels)), labels
        logged = {name: log.count for name, log in self.logs.items()}
        assert logged["minipool"] == logged["stdlib"], logged


@pytest.mark.timeout(prop_timeout(300), method="thread")
def test_future_state_machine() -> None:
    with ExampleCounter("future_state_machine") as FutureMachine.counter:
        run_state_machine_as_test(FutureMachine, settings=scaled(10))
