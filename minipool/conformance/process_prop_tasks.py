"""The tasks the executor state machines submit (importable: process pools pickle them).

A task reports that it started (puts its id on a *started* queue), then
returns its argument, raises ``ValueError(arg)``, or blocks until its gate
(an Event) is set and then returns its argument.

Thread pools pass the gates and the queue with each call. Process pools
cannot pickle Events or queues into a call, so each worker process receives
them once, through the pool's initializer (``init_worker``), and keeps them
in this module's globals.
"""

from __future__ import annotations

from typing import Any, Optional

GATE_TIMEOUT = 60.0  # a gate the machine forgot to open fails the task, not the run

_gates: Any = None
_started: Any = None


class GateNeverOpened(Exception):
    pass


def init_worker(gates: Any, started: Any) -> None:
    global _gates, _started  # noqa: PLW0603 - per-process state, set once
    _gates, _started = gates, started


def task(task_id: int, kind: str, arg: int, gate: int, channels: Optional[tuple[Any, Any]] = None
         ) -> int:
    gates, started = channels if channels is not None else (_gates, _started)
    started.put(task_id)
    if kind == "raise":
        raise ValueError(arg)
    if kind == "gate" and not gates[gate].wait(GATE_TIMEOUT):
        raise GateNeverOpened(task_id)
    return arg


def map_fn(item: tuple[str, int]) -> int:
    kind, arg = item
    if kind == "raise":
        raise ValueError(arg)
    return 2 * arg
