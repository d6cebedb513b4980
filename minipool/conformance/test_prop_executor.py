"""The executor state machine: one program, run on a stdlib pool and a minipool pool.

Rules submit tasks of generated kinds (return a value, raise, block on a gate
that the machine opens later), cancel them, open gates, add callbacks, ask for
results, call ``map`` (generated items, chunksize, buffersize, and how many
results to take), ``wait``/``as_completed``, and finally
``shutdown(wait=True, cancel_futures=...)``. Each rule acts on both pools.

The model: which outcomes are deterministic
-------------------------------------------
Workers take tasks in submission order. A gate task whose gate is closed
holds its worker. So with W workers, a task that has W such *blocking* tasks
ahead of it cannot start until a gate opens, and one that has fewer will start
(``Fate`` below). A pool may already have handed a few tasks past the
blocking ones to its workers' inbox (the stdlib's process pool moves up to
W + 1 calls into its call queue and marks them running), so a task is
certainly still *pending* only if at least ``lookahead`` tasks stand between
it and the W-th blocking task. From that:

* ``cancel`` of a pending task returns True; of a finished one (its result
  was seen) or a gate task seen running, False -- in both pools. Any other
  ``cancel`` may go either way; what it returned is then the truth for that
  pool (the model is kept per pool).
* ``result`` of a task that will finish equals what the task does; of any
  other (not cancelled) task it times out at once.
* ``map`` (called only when a worker is free) returns the same results in
  input order in both pools. minipool's map gets ``buffersize`` (the stdlib
  has no buffersize before 3.14, so it runs the same map without it), and the
  machine checks minipool's bound: when the i-th result arrives, at most
  ``buffersize + i + 1`` inputs have been read (chunks for a process pool).
  With a buffersize and an early stop, minipool's input is even infinite.
* ``wait`` returns a partition that satisfies ``return_when`` and keeps the
  blocked tasks in not_done; ``as_completed`` yields each finishing future once.
* ``shutdown(cancel_futures=True)`` cancels every pending task, and never a
  finished or seen-running one. (The machine first waits until every gate
  task that will start has started: a worker that had not yet picked up its
  gate task when shutdown cancelled it would be free to run a "pending" one.
  Then it calls ``shutdown(wait=False, ...)`` with the gates still closed,
  opens them, and calls ``shutdown(wait=True)``.)

After shutdown: every future is done, every callback ran exactly once, a
cancelled task never ran, every other task ran exactly once with the expected
outcome, and no thread or child process of the pools is left.

The documented difference (see strategies.py) is avoided, not modelled:
cancelled futures are never passed to the stdlib's wait/as_completed.

The conformance kit's machine
-----------------------------
``python -m minipool conformance --properties`` runs the same machine on the
kit's executor alone (``KitMachine``, ``test_executor_under_test_machine``)
through a ``SocketHarness``: its tasks (``socket_prop_tasks.reported_task``)
reach their gates and report their start over a loopback socket, so they run
wherever the executor runs them. The model holds the executor to the stdlib's
pool of its kind: if it runs tasks in the test's process, a task queued
behind W busy workers is pending (cancel() succeeds), as in the stdlib's
thread pool; if it runs them elsewhere, such a task may already be handed to
a worker process (the stdlib's process pool hands over W + 1, loky's 2W + 1),
so its cancel() may go either way. map may run a chunk as one call or not;
shutdown(cancel_futures=True) may cancel a moment after it returns; a
library error may be a subclass (``except RuntimeError`` catches it).

If FACTORY takes ``max_workers``, the machine chooses W. If not, W is
unknown (at least 1): a task behind a blocking one may start or not
(``Fate.UNKNOWN``), and no rule asserts what depends on W. The machine uses
only the parts of the API that the executor has (map's ``buffersize``,
shutdown's ``cancel_futures``): the example tests already report a missing
one, and the machine goes on to what the executor does with the rest.
"""

from __future__ import annotations

import collections
import concurrent.futures
import enum
import functools
import inspect
import itertools
import multiprocessing
import os
import queue
import sys
import threading
import time
from typing import Any, Iterator, Optional

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

import minipool
from minipool.conformance import process_prop_tasks as tasks_mod
from minipool.conformance import socket_prop_tasks
from minipool.conformance.plugin import _children, left_running, runs_tasks_elsewhere
from minipool.conformance.strategies import (
    N_GATES,
    RETURN_WHENS,
    ExampleCounter,
    buffersizes,
    chunksizes,
    gate_indices,
    map_items,
    map_takes,
    outcome_of,
    prop_timeout,
    scaled,
    task_args,
    task_batches,
    task_kinds,
)

IMPLS = ("stdlib", "minipool")
MODULES = {"stdlib": concurrent.futures, "minipool": minipool}
# Seconds: only a broken pool ever waits this long.
LONG = float(os.environ.get("MINIPOOL_PROP_LONG", "30"))


# ------------------------------------------------------------------ harnesses
class ThreadHarness:
    """Two thread pools (stdlib, minipool); gates and started-queues are plain objects."""

    impls: tuple[str, ...] = IMPLS  # the pools it runs, by name
    # Whose wait() and as_completed() a pool's futures go to.
    modules: dict[str, Any] = MODULES
    # The pools whose map() is given a buffersize (the stdlib's has one from
    # Python 3.14 on only; it runs the same map without).
    with_buffersize = frozenset({"minipool"})
    under_test = False  # an executor under test (maybe dask's): its threads may stay
    takes_cancel_futures = True  # does shutdown() take cancel_futures?
    # The pools whose shutdown(cancel_futures=True) has cancelled the pending
    # tasks when it returns, even with wait=False. The stdlib's process pool
    # leaves that to its manager thread, a moment later.
    cancels_in_shutdown = frozenset(IMPLS)
    # The pools whose shutdown(wait=True), called after a shutdown(wait=False),
    # still waits for the work. The stdlib's process pool forgets its manager
    # thread in the first call, so the second one returns at once.
    second_shutdown_waits = frozenset(IMPLS)

    def __init__(self, workers: int) -> None:
        self.workers: Optional[int] = workers  # None: the executor does not say
        self.helper_threads: set[threading.Thread] = set()  # the harness's own
        self.gates: list[Any] = [threading.Event() for _ in range(N_GATES)]
        # queue.Queue, not SimpleQueue: on Python 3.9 and 3.10 SimpleQueue.get
        # with a timeout can block forever on an empty queue when the thread is
        # descheduled between computing and re-checking its deadline (a CPython
        # bug, fixed in 3.11). CI on 3.10 hung here in next_started(impl, 0).
        self.started: dict[str, Any] = {impl: queue.Queue() for impl in IMPLS}
        self.pools: dict[str, Any] = {
            "stdlib": concurrent.futures.ThreadPoolExecutor(workers),
            "minipool": minipool.MiniThreadPool(workers),
        }

    def lookahead(self, workers: int) -> int:
        return 0

    def calls_per_chunk(self, chunksize: int) -> tuple[int, ...]:
        """How many map items one call may run (a thread pool ignores chunksize)."""
        return (1,)

    def submit(self, impl: str, task: Task) -> Any:
        return self.pools[impl].submit(tasks_mod.task, task.id, task.kind, task.arg, task.gate,
                                       (self.gates, self.started[impl]))

    def next_started(self, impl: str, timeout: float) -> Optional[int]:
        try:
            return self.started[impl].get(timeout=timeout)  # type: ignore[no-any-return]
        except queue.Empty:
            return None

    def close(self) -> None:
        pass


def _process_context() -> Any:
    # fork is fast (the ci profile runs many pools); MINIPOOL_PROP_MP_CONTEXT=spawn
    # (or forkserver) exercises the importable-task path instead.
    return multiprocessing.get_context(os.environ.get("MINIPOOL_PROP_MP_CONTEXT", "fork"))


class ProcessHarness(ThreadHarness):
    """Two process pools; gates and started-queues reach the workers via the initializer."""

    cancels_in_shutdown = frozenset({"minipool"})
    second_shutdown_waits = frozenset({"minipool"})

    def __init__(self, workers: int) -> None:
        ctx = _process_context()
        self.workers = workers
        self.helper_threads = set()
        self.gates = [ctx.Event() for _ in range(N_GATES)]
        # SimpleQueue: put() writes to the pipe at once (no feeder thread), so
        # nothing a worker reported is lost when it exits.
        self.started = {impl: ctx.SimpleQueue() for impl in IMPLS}
        self.pools: dict[str, Any] = {
            "stdlib": concurrent.futures.ProcessPoolExecutor(
                workers, mp_context=ctx, initializer=tasks_mod.init_worker,
                initargs=(self.gates, self.started["stdlib"])),
            "minipool": minipool.MiniProcessPool(
                workers, mp_context=ctx, initializer=tasks_mod.init_worker,
                initargs=(self.gates, self.started["minipool"])),
        }

    def lookahead(self, workers: int) -> int:
        # The stdlib's call queue holds up to W + 1 calls already marked running.
        return workers + concurrent.futures.process.EXTRA_QUEUED_CALLS

    def calls_per_chunk(self, chunksize: int) -> tuple[int, ...]:
        return (chunksize,)

    def submit(self, impl: str, task: Task) -> Any:
        return self.pools[impl].submit(tasks_mod.task, task.id, task.kind, task.arg, task.gate)

    def next_started(self, impl: str, timeout: float) -> Optional[int]:
        q = self.started[impl]
        if not q._reader.poll(timeout):  # SimpleQueue has no get(timeout=)
            return None
        return q.get()  # type: ignore[no-any-return]

    def close(self) -> None:
        for q in self.started.values():
            q.close()


class SocketHarness(ThreadHarness):
    """The conformance kit's executor alone; its tasks talk to a GateServer.

    *under_test* makes the executor (plugin.UnderTestPool): with W workers
    if FACTORY takes ``max_workers``, else as FACTORY() does (W unknown).
    """

    impls = ("kit",)
    modules = {"kit": concurrent.futures}
    under_test = True
    # Like the stdlib's process pool, the most lenient of the stdlib's pools:
    # shutdown may cancel a moment after it returns, and a second shutdown
    # need not wait again.
    cancels_in_shutdown = frozenset()
    second_shutdown_waits = frozenset()

    def __init__(self, workers: int, under_test: Any) -> None:
        pool = under_test.sized(workers)
        self.workers = workers if pool is not None else None
        self.pools = {"kit": under_test() if pool is None else pool}
        self.with_buffersize = frozenset(
            {"kit"} if "buffersize" in inspect.signature(self.pools["kit"].map).parameters
            else ())
        self.takes_cancel_futures = (
            "cancel_futures" in inspect.signature(self.pools["kit"].shutdown).parameters)
        self.runs_elsewhere = runs_tasks_elsewhere("kit")
        self.server = socket_prop_tasks.GateServer(N_GATES)
        self.gates = self.server.gates
        self.helper_threads = {self.server.thread}

    def lookahead(self, workers: int) -> int:
        if self.runs_elsewhere:
            # How many queued calls a pool hands to its worker processes ahead
            # of time, marking them running, is its own business (the stdlib's
            # moves W + 1, loky's 2W + 1): no queued task is surely pending.
            return sys.maxsize
        return 0  # held to the stdlib's thread pool: a queued task is pending

    def calls_per_chunk(self, chunksize: int) -> tuple[int, ...]:
        return (1, chunksize)  # either: the stdlib's thread pool, or its process pool

    def submit(self, impl: str, task: Task) -> Any:
        return self.pools[impl].submit(socket_prop_tasks.reported_task, self.server.address,
                                       task.id, task.kind, task.arg, task.gate)

    def next_started(self, impl: str, timeout: float) -> Optional[int]:
        try:
            return self.server.started.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self.server.close()


# ---------------------------------------------------------------------- model
class Fate(enum.Enum):
    CANCELLED = "cancelled"  # cancel() returned True (or shutdown cancelled it)
    FINISHES = "finishes"  # will run and end, with no gate left to open
    BLOCKS = "blocks"  # a gate task that will start, then wait for its closed gate
    QUEUED = "queued"  # behind W blocking tasks, but maybe already handed to a worker
    PENDING = "pending"  # certainly not started, and cannot start until a gate opens
    UNKNOWN = "unknown"  # behind a blocking task, and W is unknown: may start, may wait


class Task:
    def __init__(self, number: int, kind: str, arg: int, gate: int,
                 impls: tuple[str, ...]) -> None:
        self.id = number
        self.kind = kind
        self.arg = arg
        self.gate = gate
        self.futures: dict[str, Any] = {}
        self.cancelled = dict.fromkeys(impls, False)  # known cancelled, per pool
        self.known_done = dict.fromkeys(impls, False)  # its outcome was seen, per pool
        # fired[impl][k]: how many times the k-th callback ran; bad: what a callback got wrong.
        self.fired: dict[str, list[int]] = {impl: [] for impl in impls}
        self.bad: list[str] = []

    def __repr__(self) -> str:
        return f"task{self.id}"

    def expected(self) -> tuple[Any, ...]:
        if self.kind == "raise":
            return ("raise", ValueError, (self.arg,))
        return ("ok", self.arg)


def expected_map(items: list[tuple[str, int]], chunksize: int) -> list[tuple[Any, ...]]:
    """Results in input order, up to the first exception.

    A chunk is one call in the worker: if an item raises, the results of the
    items before it in the same chunk are lost (stdlib and minipool alike).
    """
    out: list[tuple[Any, ...]] = []
    for i, (kind, arg) in enumerate(items):
        if kind == "raise":
            del out[i - i % chunksize:]
            out.append(("raise", ValueError, (arg,)))
            break
        out.append(("ok", 2 * arg))
    return out


class CountingIter:
    """An iterable that counts how many items have been read from it."""

    def __init__(self, items: Any) -> None:
        self._items = iter(items)
        self.pulled = 0

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        item = next(self._items)
        self.pulled += 1
        return item


STOP = ("raise", StopIteration, "...")


def raised(outcome: tuple[Any, ...], error: type[BaseException]) -> bool:
    """Did the call (``outcome_of``) raise *error*, or a subclass, as ``except error`` sees it?"""
    return outcome[0] == "raise" and issubclass(outcome[1], error)


def map_all(pool: Any, items: list[tuple[str, int]]) -> list[int]:
    return list(pool.map(tasks_mod.map_fn, items, timeout=LONG))


class ExecutorMachine(RuleBasedStateMachine):
    harness_cls: type[ThreadHarness] = ThreadHarness
    counter = ExampleCounter("executor")
    tasks = Bundle("tasks")

    def __init__(self) -> None:
        super().__init__()
        self.counter.examples += 1
        self.impls = self.harness_cls.impls
        self.h: Optional[ThreadHarness] = None
        self.order: list[Task] = []
        self.shut = False
        self.gate_open = [False] * N_GATES
        self.started_seen: dict[str, collections.Counter[int]] = {
            impl: collections.Counter() for impl in self.impls}

    @initialize(target=tasks, workers=st.integers(1, 3), batch=task_batches)
    def start_pools(self, workers: int, batch: list[tuple[str, int, int]]) -> Any:
        self.threads_before = set(threading.enumerate())
        self.children_before = _children()
        self.h = self.make_harness(workers)
        self.workers = self.h.workers
        return self.submit_batch(batch)

    def make_harness(self, workers: int) -> ThreadHarness:
        return self.harness_cls(workers)

    def teardown(self) -> None:
        if self.h is None:
            return
        for gate in self.h.gates:
            gate.set()
        if not self.shut:
            for pool in self.h.pools.values():
                pool.shutdown(wait=True)
        self.h.close()

    # ------------------------------------------------------------ the model
    def fate(self, t: Task, impl: str) -> Fate:
        if t.cancelled[impl]:
            return Fate.CANCELLED
        if self.shut:
            return Fate.FINISHES
        blocking_ahead = behind_them = 0
        for u in self.order:
            if u is t:
                break
            if self.workers is not None and blocking_ahead >= self.workers:
                behind_them += not u.cancelled[impl]
            elif self._blocks(u, impl):
                blocking_ahead += 1
        if self.workers is None and blocking_ahead:
            return Fate.UNKNOWN  # a worker free for it, or not
        if self.workers is not None and blocking_ahead >= self.workers:
            assert self.h is not None
            return (Fate.PENDING if behind_them >= self.h.lookahead(self.workers)
                    else Fate.QUEUED)
        if t.kind == "gate" and not self.gate_open[t.gate]:
            return Fate.BLOCKS
        return Fate.FINISHES

    def describe(self, impl: str) -> str:
        """The model's view of one pool, for assertion messages."""
        return (f"workers={self.workers} open gates={self.gate_open} tasks: " + ", ".join(
            f"{t}:{t.kind}/g{t.gate}/{'C' if t.cancelled[impl] else ''}"
            f"{'S' if self.started_seen[impl][t.id] else ''}"
            f"{'D' if t.known_done[impl] else ''}={t.futures[impl]._state}"
            for t in self.order))

    def _blocks(self, t: Task, impl: str) -> bool:
        return t.kind == "gate" and not self.gate_open[t.gate] and not t.cancelled[impl]

    def worker_will_be_free(self, impl: str) -> bool:
        return sum(self._blocks(t, impl) for t in self.order) < (self.workers or 1)

    def wait_started(self, impl: str, task_id: int) -> None:
        assert self.h is not None
        deadline = time.monotonic() + LONG
        while not self.started_seen[impl][task_id]:
            got = self.h.next_started(impl, max(0.0, deadline - time.monotonic()))
            assert got is not None, f"{impl}: task{task_id} never started"
            self.started_seen[impl][got] += 1

    # ------------------------------------------------------------ rules
    @rule(target=tasks, kind=task_kinds, arg=task_args, gate=gate_indices)
    def submit(self, kind: str, arg: int, gate: int) -> Any:
        return self.submit_batch([(kind, arg, gate)])

    @rule(target=tasks, batch=task_batches)
    def submit_batch(self, batch: list[tuple[str, int, int]]) -> Any:
        """submit() each (kind, arg, gate) in turn, in both pools."""
        assert self.h is not None
        submitted = []
        for kind, arg, gate in batch:
            t = Task(len(self.order), kind, arg, gate, self.impls)
            if self.shut:
                for impl in self.impls:
                    got = outcome_of(functools.partial(self.h.submit, impl, t))
                    assert raised(got, RuntimeError), (impl, "submit after shutdown", got)
                continue
            for impl in self.impls:
                t.futures[impl] = self.h.submit(impl, t)
                self._add_callback(t, impl)
            self.order.append(t)
            submitted.append(t)
        return multiple(*submitted)

    def _add_callback(self, t: Task, impl: str) -> None:
        k = len(t.fired[impl])
        t.fired[impl].append(0)

        def callback(future: Any) -> None:
            t.fired[impl][k] += 1
            if future is not t.futures[impl] or not future.done():
                t.bad.append(f"{impl} callback {k} got {future!r}")

        t.futures[impl].add_done_callback(callback)

    @rule(t=tasks)
    def add_callback(self, t: Task) -> None:
        for impl in self.impls:
            self._add_callback(t, impl)
            if t.known_done[impl] or t.cancelled[impl]:
                assert t.fired[impl][-1] == 1, (impl, "a callback added when done runs at once")

    @rule(t=tasks)
    def cancel(self, t: Task) -> None:
        for impl in self.impls:
            fate = self.fate(t, impl)
            expected: Optional[bool] = None
            if fate is Fate.CANCELLED or fate is Fate.PENDING:
                expected = True
            elif t.known_done[impl]:
                expected = False
            elif fate is Fate.BLOCKS:
                self.wait_started(impl, t.id)
                expected = False
            future = t.futures[impl]
            got = future.cancel()
            if expected is not None:
                assert got == expected, (impl, fate, got)
            if got:
                assert future.cancelled() and future.done(), impl
                t.cancelled[impl] = True
            else:
                assert future.running() or future.done(), impl

    @precondition(lambda self: not self.shut)
    @rule(gate=gate_indices)
    def open_gate(self, gate: int) -> None:
        assert self.h is not None
        self.gate_open[gate] = True
        self.h.gates[gate].set()

    @rule(t=tasks)
    def result(self, t: Task) -> None:
        for impl in self.impls:
            future = t.futures[impl]
            fate = self.fate(t, impl)
            if fate is Fate.CANCELLED:
                got = outcome_of(functools.partial(future.result, timeout=0))
                assert raised(got, concurrent.futures.CancelledError), (impl, got)
            elif fate is Fate.FINISHES:
                got = outcome_of(functools.partial(future.result, timeout=LONG))
                assert got == t.expected(), (impl, got)
                t.known_done[impl] = True
            elif fate is Fate.UNKNOWN:
                got = outcome_of(functools.partial(future.result, timeout=0))
                t.known_done[impl] = got == t.expected()
                assert t.known_done[impl] or raised(got, concurrent.futures.TimeoutError), (
                    impl, fate, got)
            else:
                got = outcome_of(functools.partial(future.result, timeout=0))
                assert raised(got, concurrent.futures.TimeoutError), (impl, fate, got)

    @precondition(lambda self: not self.shut)
    @rule(items=map_items, chunksize=chunksizes, buffersize=buffersizes, take=map_takes)
    def map(self, items: list[tuple[str, int]], chunksize: int, buffersize: Optional[int],
            take: Optional[int]) -> None:
        assert self.h is not None
        # map() only when its calls will run. Not a @precondition: preconditions
        # steer hypothesis's choices, and this one depends on how racing
        # cancel()s went, so a replay could see different choices
        # (FlakyStrategyDefinition). Preconditions here depend on `shut` alone.
        if not all(self.worker_will_be_free(impl) for impl in self.impls):
            return
        infinite = buffersize is not None and take is not None
        # The stdlib's input: the same items (padded with what minipool's
        # infinite input holds, enough to fill the chunks that are read).
        finite = items
        if infinite and take is not None:
            finite = items + [("value", 0)] * (take + chunksize)
        expected = [expected_map(finite, per_call)[:take]
                    for per_call in self.h.calls_per_chunk(chunksize)]
        results = {}
        for impl in self.impls:
            pool = self.h.pools[impl]
            if impl in self.h.with_buffersize:
                source = CountingIter(itertools.chain(items, itertools.repeat(("value", 0)))
                                      if infinite else items)
                it = pool.map(tasks_mod.map_fn, source, chunksize=chunksize,
                              buffersize=buffersize, timeout=LONG)
            else:
                source = None
                it = pool.map(tasks_mod.map_fn, finite, chunksize=chunksize, timeout=LONG)
            got: list[tuple[Any, ...]] = []
            while take is None or len(got) < take:
                outcome = outcome_of(functools.partial(next, it))
                if outcome == STOP:
                    break
                got.append(outcome)
                if source is not None and buffersize is not None:
                    self._check_in_flight(source.pulled, len(got) - 1, buffersize, chunksize)
                if outcome[0] == "raise":
                    break
            it.close()
            results[impl] = got
            assert got in expected, (impl, got, expected)
        assert all(got == results[self.impls[0]] for got in results.values()), results

    def _check_in_flight(self, pulled: int, i: int, buffersize: int, chunksize: int) -> None:
        """At the i-th result, at most buffersize calls (chunks) beyond it were read."""
        assert self.h is not None
        per_call = max(self.h.calls_per_chunk(chunksize))
        limit = (i // per_call + 1 + buffersize) * per_call
        assert pulled <= limit, f"buffersize={buffersize}: read {pulled} inputs at result {i}"

    @precondition(lambda self: self.shut)
    @rule(items=map_items)
    def map_after_shutdown(self, items: list[tuple[str, int]]) -> None:
        assert self.h is not None
        for impl in self.impls:
            got = outcome_of(functools.partial(map_all, self.h.pools[impl], items))
            if items:
                assert raised(got, RuntimeError), (impl, got)
            else:
                assert got == ("ok", []), (impl, got)

    def _usable(self, chosen: list[Task]) -> list[Task]:
        """Distinct tasks, minus cancelled ones (the documented difference) and
        those whose fate the model does not know."""
        return [t for t in dict.fromkeys(chosen) if not any(t.cancelled.values())
                and all(self.fate(t, impl) is not Fate.UNKNOWN for impl in self.impls)]

    @rule(chosen=st.lists(tasks, min_size=1, max_size=4), return_when=st.sampled_from(RETURN_WHENS))
    def wait(self, chosen: list[Task], return_when: str) -> None:
        assert self.h is not None
        chosen = self._usable(chosen)
        if not chosen:
            return
        for impl in self.impls:
            finishing = {t for t in chosen if self.fate(t, impl) is Fate.FINISHES}
            stuck = set(chosen) - finishing
            raisers = {t for t in finishing if t.kind == "raise"}
            satisfiable = {
                "ALL_COMPLETED": not stuck,
                "FIRST_COMPLETED": bool(finishing),
                "FIRST_EXCEPTION": not stuck or bool(raisers),
            }[return_when]
            by_future = {t.futures[impl]: t for t in chosen}
            result = self.h.modules[impl].wait(list(by_future), timeout=LONG if satisfiable else 0,
                                        return_when=return_when)
            done = {by_future[f] for f in result.done}
            not_done = {by_future[f] for f in result.not_done}
            assert done | not_done == set(chosen) and not done & not_done, impl
            assert all(t.futures[impl].done() for t in done), impl
            assert stuck <= not_done, (impl, "a blocked task was reported done")
            assert {t for t in chosen if t.known_done[impl]} <= done, impl
            if satisfiable:
                assert {
                    "ALL_COMPLETED": not not_done,
                    "FIRST_COMPLETED": bool(done),
                    "FIRST_EXCEPTION": not not_done or bool(done & raisers),
                }[return_when], (impl, return_when, done, not_done)
            for t in done:
                t.known_done[impl] = True

    @rule(chosen=st.lists(tasks, min_size=1, max_size=4))
    def as_completed(self, chosen: list[Task]) -> None:
        assert self.h is not None
        chosen = self._usable(chosen)
        for impl in self.impls:
            finishing = [t for t in chosen if self.fate(t, impl) is Fate.FINISHES]
            by_future = {t.futures[impl]: t for t in finishing}
            # Duplicates in the argument: each future is still yielded once.
            args = list(by_future) + list(by_future)[:1]
            yielded = [by_future[f] for f in self.h.modules[impl].as_completed(args, timeout=LONG)]
            assert sorted(yielded, key=id) == sorted(finishing, key=id), (impl, yielded)
            for t in yielded:
                t.known_done[impl] = True

    @precondition(lambda self: not self.shut)
    @rule(cancel_futures=st.booleans())
    def shutdown(self, cancel_futures: bool) -> None:
        assert self.h is not None
        cancel_futures = cancel_futures and self.h.takes_cancel_futures
        cancelling = {"cancel_futures": cancel_futures} if self.h.takes_cancel_futures else {}
        # A gate task that will start may not have reached its worker yet; if
        # shutdown's cancelling got to it first, that worker would be free to
        # run a task the model calls pending. So: first see them all started.
        for impl in self.impls:
            for t in self.order:
                if self.fate(t, impl) is Fate.BLOCKS:
                    self.wait_started(impl, t.id)
        expect_cancelled: dict[str, dict[Task, Optional[bool]]] = {}
        for impl in self.impls:
            expect_cancelled[impl] = {t: self._cancelled_by_shutdown(t, impl, cancel_futures)
                                      for t in self.order}
        # First shutdown(wait=False): it cancels what it must while the gates
        # are still closed (so the pending tasks cannot start), then the gates
        # open and shutdown(wait=True) waits for the rest.
        for impl in self.impls:
            self.h.pools[impl].shutdown(wait=False, **cancelling)
        for impl in self.impls:
            for t, expected in expect_cancelled[impl].items():
                if not expected or t.cancelled[impl]:
                    continue
                future = t.futures[impl]
                if impl not in self.h.cancels_in_shutdown:  # it cancels a moment later
                    outcome_of(functools.partial(future.exception, LONG))
                assert future.cancelled(), (
                    impl, t, "shutdown(cancel_futures=True) left a pending task",
                    self.describe(impl))
        for i, gate in enumerate(self.h.gates):
            self.gate_open[i] = True
            gate.set()
        for impl in self.impls:
            self.h.pools[impl].shutdown(wait=True)
        self.shut = True
        for impl in self.impls:
            self._check_after_shutdown(impl, expect_cancelled[impl])
        self._check_nothing_left_running()

    def _cancelled_by_shutdown(self, t: Task, impl: str, cancel_futures: bool) -> Optional[bool]:
        """Will t be cancelled after shutdown(cancel_futures)? None: either may happen."""
        fate = self.fate(t, impl)
        if fate is Fate.CANCELLED:
            return True
        if t.known_done[impl] or self.started_seen[impl][t.id]:
            return False
        if fate is Fate.PENDING:
            return cancel_futures
        return None if cancel_futures else False

    def _check_after_shutdown(self, impl: str, expect_cancelled: dict[Task, Optional[bool]]
                              ) -> None:
        assert self.h is not None
        if impl not in self.h.second_shutdown_waits:
            for t in self.order:
                outcome_of(functools.partial(t.futures[impl].exception, LONG))
        while (got := self.h.next_started(impl, 0)) is not None:
            self.started_seen[impl][got] += 1
        for t in self.order:
            future = t.futures[impl]
            assert future.done(), (impl, t, "not done after shutdown(wait=True)")
            assert t.fired[impl] == [1] * len(t.fired[impl]), (impl, t, t.fired[impl])
            assert not t.bad, t.bad
            cancelled = future.cancelled()
            expected = expect_cancelled[t]
            if expected is not None:
                assert cancelled == expected, (impl, t, "cancelled" if cancelled else "ran")
            if cancelled:
                assert self.started_seen[impl][t.id] == 0, (impl, t, "cancelled, yet it ran")
            else:
                assert self.started_seen[impl][t.id] == 1, (impl, t, "ran", self.started_seen)
                outcome = outcome_of(functools.partial(future.result, timeout=0))
                assert outcome == t.expected(), (impl, t, outcome)
            t.cancelled[impl] = cancelled
            t.known_done[impl] = True

    def _check_nothing_left_running(self) -> None:
        assert self.h is not None
        left, children = left_running(self.threads_before | self.h.helper_threads,
                                       self.children_before, LONG, self.h.under_test)
        assert not left, f"threads left after shutdown(wait=True): {left}"
        assert not children, f"child processes left after shutdown(wait=True): {children}"

    @invariant()
    def callbacks_run_at_most_once(self) -> None:
        self.counter.steps += 1
        for t in self.order:
            for impl in self.impls:
                assert all(n <= 1 for n in t.fired[impl]), (impl, t, t.fired[impl])


def run_machine(machine: type[ExecutorMachine], name: str, fraction: float,
                **overrides: Any) -> None:
    with ExampleCounter(name) as counter:
        machine.counter = counter
        # hypothesis leaves run_state_machine_as_test unannotated.
        run_state_machine_as_test(  # type: ignore[no-untyped-call]
            machine, settings=scaled(fraction, **overrides))


@pytest.mark.timeout(prop_timeout(300), method="thread")
def test_thread_pool_machine() -> None:
    run_machine(ExecutorMachine, "thread_pool_machine", 6)


def _process_pool_missing() -> Optional[str]:
    try:
        pool = minipool.MiniProcessPool(1)
    except NotImplementedError as exc:
        return f"minipool.MiniProcessPool is not built yet ({exc})"
    pool.shutdown(wait=True)
    return None


class ProcessPoolMachine(ExecutorMachine):
    harness_cls = ProcessHarness


# Python 3.12+ warns about every fork from a process with threads (here: the
# other pool's threads); the fork context is chosen for speed, deliberately.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.timeout(prop_timeout(300), method="thread")
def test_process_pool_machine() -> None:
    missing = _process_pool_missing()
    if missing:
        pytest.skip(missing)
    # Process start-up dominates: few, shorter programs under ci.
    run_machine(ProcessPoolMachine, "process_pool_machine", 2)


class KitMachine(ExecutorMachine):
    """The machine on the conformance kit's executor alone (see the module docstring)."""

    harness_cls = SocketHarness
    under_test: Any = None  # the kit's plugin.UnderTestPool, set by the test

    def make_harness(self, workers: int) -> ThreadHarness:
        return SocketHarness(workers, self.under_test)


@pytest.mark.properties  # the kit's alone: python -m minipool conformance --properties
@pytest.mark.timeout(prop_timeout(300), method="thread")
def test_executor_under_test_machine(impl: Any) -> None:
    KitMachine.under_test = impl.ProcessPool
    # As many programs as the process pool machine: the executor may start processes.
    run_machine(KitMachine, "executor_under_test_machine", 2)
