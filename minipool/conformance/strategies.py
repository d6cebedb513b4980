"""Every hypothesis strategy and setting of the property suite, in one place.

The property suite (``tests/test_prop_*.py`` and this package's
``test_prop_executor.py``) runs generated programs against
the stdlib's ``concurrent.futures`` and minipool side by side and compares
what they do. This module holds:

* the **profiles** (``dev``, ``ci``, ``deep``) and the helpers that scale a
  test's example count and timeout from the active profile;
* the **strategies**: outcomes a Future can be given, callback kinds, the
  ``WaitProgram`` generator for the wait/as_completed properties, and the task
  and ``map`` arguments of the executor state machines;
* ``outcome_of``: turns "what a call did" into a plain, comparable value.

Profiles
--------
``ci`` is the default, always (``pytest`` with no option runs it; so does
``.ci/run``): the whole property suite stays within about two minutes on two
cores. ``--hypothesis-profile=deep`` (or ``HYPOTHESIS_PROFILE=deep``) is for
long runs: many more examples and longer programs, and no per-test timeout
(set ``MINIPOOL_PROP_TIMEOUT`` to impose one). ``dev`` is a quick smoke run
for editing the suite. Failing examples print as a readable program: the
state machines print their steps, the wait/as_completed programs have a
program-shaped ``repr``, and ``print_blob=True`` adds a reproduction blob.
The example database lives in ``.hypothesis/``, which ``.gitignore`` keeps
out of git.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Optional

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# ------------------------------------------------------------------ profiles
_COMMON: dict[str, Any] = dict(
    deadline=None,  # threads and processes: an example's duration is not a property
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# max_examples is a base budget: each test runs a multiple of it, by its cost
# (see scaled() and the tests' decorators).
settings.register_profile("dev", max_examples=10, stateful_step_count=15, **_COMMON)
settings.register_profile("ci", max_examples=100, stateful_step_count=25, **_COMMON)
settings.register_profile("deep", max_examples=2_000, stateful_step_count=50, **_COMMON)
# The default profile is ci, whether or not $CI is set; the hypothesis pytest
# plugin then applies --hypothesis-profile if given.
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def active_settings() -> settings:
    """The profile in force (this module loads one on import, so there always is one)."""
    active = settings.default
    assert active is not None
    return active


def scaled(factor: float, **overrides: Any) -> settings:
    """The active profile, with *factor* times its examples (at least 1).

    ``MINIPOOL_PROP_SCALE`` multiplies every test's budget (e.g. 0.3 for a
    shorter deep run).

    Read when a test module is imported, which the pytest plugin does after
    it has loaded ``--hypothesis-profile``.
    """
    factor *= float(os.environ.get("MINIPOOL_PROP_SCALE", "1"))
    return settings(
        settings.default,
        max_examples=max(1, round(active_settings().max_examples * factor)),
        **overrides,
    )


def prop_timeout(ci_seconds: float) -> float:
    """Per-test timeout (pytest-timeout): generous but finite.

    A state machine run is one test. ``MINIPOOL_PROP_TIMEOUT`` overrides it
    (0 disables it); under the deep profile it is disabled by default.
    """
    env = os.environ.get("MINIPOOL_PROP_TIMEOUT")
    if env is not None:
        return float(env)
    if active_settings().max_examples > settings.get_profile("ci").max_examples:
        return 0  # deep (or any longer profile): no timeout
    return ci_seconds


# ------------------------------------------------------------------ outcomes
def outcome_of(call: Callable[[], Any]) -> tuple[Any, ...]:
    """What calling *call* did, as a comparable value.

    ``("ok", value)`` or ``("raise", exception type, exception args)``. The
    arguments are compared only for the tests' own exceptions: the messages of
    the library's (InvalidStateError, RuntimeError ...) hold reprs and ids.
    """
    try:
        value = call()
    except BaseException as exc:  # noqa: BLE001 - KeyboardInterrupt-like test values too
        return ("raise", type(exc), _args(exc))
    if isinstance(value, BaseException):
        return ("ok", "exception", type(value), _args(value))
    return ("ok", value)


def _args(exc: BaseException) -> Any:
    return exc.args if isinstance(exc, EXCEPTION_TYPES) else "..."


class Stop(BaseException):
    """A BaseException that is not an Exception (like KeyboardInterrupt, but harmless)."""


EXCEPTION_TYPES = (ValueError, KeyError, Stop)

values = st.one_of(st.none(), st.integers(-3, 1000), st.text(max_size=3))
exceptions = st.builds(lambda t, a: (t, a), st.sampled_from(EXCEPTION_TYPES), st.integers(0, 9))

# How a done-callback behaves: record what it saw; record, then raise; record,
# then add another (recording) callback to the same future from inside.
CALLBACK_KINDS = ("record", "raise", "nested")
callback_kinds = st.sampled_from(CALLBACK_KINDS)


# ------------------------------------------------------- wait / as_completed
# How a future ends, in a wait/as_completed program:
#   result / exception: set_result / set_exception;
#   cancel:             cancel() then set_running_or_notify_cancel() -- what a
#                       pool does; CANCELLED_AND_NOTIFIED, done everywhere;
#   cancel_only:        cancel() alone. The documented difference: minipool's
#                       wait/as_completed count it as done (future.done() is
#                       True); the stdlib's wait for the notification, i.e.
#                       treat it as never done. The expectations model this.
OUTCOMES = ("result", "exception", "cancel", "cancel_only")
RETURN_WHENS = ("FIRST_COMPLETED", "FIRST_EXCEPTION", "ALL_COMPLETED")


@dataclass(frozen=True)
class WaitProgram:
    """Futures f0..f{n-1}, how and when each ends, and the argument list.

    ``before[i]``: the outcome given to f_i before wait/as_completed is called
    (or None). ``later``: (i, outcome) pairs, applied in this order by
    another thread while wait/as_completed runs. A future in neither never
    ends. ``args``: the indices passed to wait/as_completed (duplicates allowed).
    """

    n: int
    before: tuple[Optional[str], ...]
    later: tuple[tuple[int, str], ...]
    args: tuple[int, ...]
    return_when: str

    def __repr__(self) -> str:  # the falsifying example, as a program
        lines = [f"fs = [Future() for _ in range({self.n})]"]
        lines += [f"{_call(f'fs[{i}]', o)}" for i, o in enumerate(self.before) if o]
        lines.append("in another thread: " + "; ".join(
            _call(f"fs[{i}]", o) for i, o in self.later) if self.later else "# nothing later")
        lines.append("args = [" + ", ".join(f"fs[{i}]" for i in self.args) + "]")
        lines.append(f"wait(args, return_when={self.return_when}) / as_completed(args)")
        return "\n    " + "\n    ".join(lines) + "\n"


def _call(name: str, outcome: str) -> str:
    return {
        "result": f"{name}.set_result('{name}')",
        "exception": f"{name}.set_exception(ValueError('{name}'))",
        "cancel": f"{name}.cancel(); {name}.set_running_or_notify_cancel()",
        "cancel_only": f"{name}.cancel()",
    }[outcome]


@st.composite
def wait_programs(draw: st.DrawFn) -> WaitProgram:
    n = draw(st.integers(1, 6))
    # when: "before", "later" or "never"
    whens = draw(st.lists(st.sampled_from(("before", "later", "never")), min_size=n, max_size=n))
    outcomes = draw(st.lists(st.sampled_from(OUTCOMES), min_size=n, max_size=n))
    before = tuple(o if w == "before" else None for w, o in zip(whens, outcomes))
    later_ids = draw(st.permutations([i for i, w in enumerate(whens) if w == "later"]))
    later = tuple((i, outcomes[i]) for i in later_ids)
    args = tuple(draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=2 * n)))
    return_when = draw(st.sampled_from(RETURN_WHENS))
    return WaitProgram(n, before, later, args, return_when)


# --------------------------------------------------------- executor machines
# What a submitted task does: return its argument, raise ValueError(arg), or
# block until the machine opens its gate, then return its argument.
TASK_KINDS = ("value", "raise", "gate")
N_GATES = 3
# Gate tasks are what make programs interesting (busy workers, pending tasks).
task_kinds = st.sampled_from(("value", "raise", "gate", "gate"))
task_args = st.integers(0, 99)
gate_indices = st.integers(0, N_GATES - 1)

# A map input: each item makes the mapped function return 2 * arg or raise.
map_items = st.lists(st.tuples(st.sampled_from(("value", "value", "raise")), task_args),
                     max_size=8)
task_specs = st.tuples(task_kinds, task_args, gate_indices)
task_batches = st.lists(task_specs, max_size=6)
buffersizes = st.one_of(st.none(), st.integers(1, 4))
chunksizes = st.integers(1, 3)
map_takes = st.one_of(st.none(), st.integers(0, 6))  # None: consume everything


# ------------------------------------------------------------ example counts
# How many examples (and state machine steps) each property test ran, so that
# a long run can report its numbers: with MINIPOOL_PROP_STATS=path, one line
# "test examples steps" is appended to path when each test ends.
class ExampleCounter:
    def __init__(self, name: str) -> None:
        self.name = name
        self.examples = 0
        self.steps = 0

    def __enter__(self) -> ExampleCounter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        path = os.environ.get("MINIPOOL_PROP_STATS")
        if path:
            with open(path, "a") as f:
                f.write(f"{self.name} examples={self.examples} steps={self.steps}\n")
