"""``python -m minipool bench``: minipool and the stdlib, side by side.

Usage::

    python -m minipool bench              # the full run (several minutes)
    python -m minipool bench --quick      # smaller sizes, fewer rounds (< 60 s)
    python -m minipool bench --smoke      # tiny sizes, one round: "does it work" (CI)
    python -m minipool bench --json       # the same numbers, as JSON on stdout
    python -m minipool bench --markdown   # a table for docs/performance.md
    python -m minipool bench --only process   # workloads whose key contains "process"

How it measures
---------------
Every workload runs on each implementation in turn, in one process,
interleaved round by round (minipool, stdlib, minipool, stdlib, ...), so
that a slow patch of the machine (other processes, thermal throttling) hits
both alike. Per implementation it keeps every round's figure and prints
the median, the min-max spread and the ratio of medians minipool / stdlib
(below 1.00: minipool is better; for "efficiency", above 1.00 is better).

Reference rows: ``multiprocessing.Pool`` and ``multiprocessing.pool.ThreadPool``
are the stdlib's other pools (and on small tasks its fastest); they run in
the same rounds wherever they have an equivalent call, and are printed as a
ratio to concurrent.futures too.

Timing covers only the workload: pools are started and warmed up (one task
run) before the clock starts, and shut down after it stops -- except in the
"cold start" workload, which times exactly that.

Speed is measured here, never in tests (``tests/test_bench.py`` only checks
that ``--smoke`` runs and reports every workload).
"""

from __future__ import annotations

import argparse
import concurrent.futures  # the stdlib's pools: what minipool is measured against
import datetime
import gc
import json
import multiprocessing
import multiprocessing.pool
import os
import platform
import statistics
import sys
import time
import tracemalloc
from typing import Any, Callable, NamedTuple, Optional

import minipool

MINIPOOL = "minipool"
STDLIB = "stdlib"
MP_POOL = "mp.Pool"
MP_THREADPOOL = "mp.ThreadPool"

FORK = multiprocessing.get_context("fork") if sys.platform != "win32" else None


# --------------------------------------------------------- tasks (picklable)
def noop(x: Any = None) -> Any:
    return x


def sleep_10ms(_: Any = None) -> None:
    time.sleep(0.01)  # the task must take 10 ms: the workload measures overhead over it


def one_mib(_: Any = None) -> bytes:
    return bytes(1 << 20)


def spin(iterations: int) -> float:
    """CPU-bound work; returns the seconds it took, measured inside the task."""
    start = time.perf_counter()
    total = 0
    for i in range(iterations):
        total += i * i
    return time.perf_counter() - start


_GATE: Any = None


def set_gate(gate: Any) -> None:
    """Initializer: remember the event that ``wait_for_gate`` blocks on."""
    global _GATE
    _GATE = gate


def wait_for_gate(_: Any = None) -> None:
    _GATE.wait()


# ------------------------------------------------------------ pool makers
def thread_pool(impl: str, workers: int) -> Any:
    if impl == MINIPOOL:
        return minipool.ThreadPoolExecutor(workers)
    if impl == STDLIB:
        return concurrent.futures.ThreadPoolExecutor(workers)
    return multiprocessing.pool.ThreadPool(workers)


def process_pool(impl: str, workers: int, **kw: Any) -> Any:
    if impl == MINIPOOL:
        return minipool.ProcessPoolExecutor(workers, mp_context=FORK, **kw)
    if impl == STDLIB:
        return concurrent.futures.ProcessPoolExecutor(workers, mp_context=FORK, **kw)
    assert FORK is not None
    return FORK.Pool(workers, **kw)


def is_executor(impl: str) -> bool:
    return impl in (MINIPOOL, STDLIB)


def futures_module(impl: str) -> Any:
    return minipool if impl == MINIPOOL else concurrent.futures


def warm_up(pool: Any, impl: str) -> None:
    """Run one task, so that workers exist before the clock starts."""
    if is_executor(impl):
        pool.submit(noop).result()
    else:
        pool.apply(noop)


def close(pool: Any, impl: str) -> None:
    if is_executor(impl):
        pool.shutdown(wait=True)
    else:
        pool.close()
        pool.join()


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds``."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


# ---------------------------------------------------------------- workloads
# Each takes (impl, n) and returns one figure: seconds unless the workload
# says otherwise.

def submit_and_wait(pool: Any, impl: str, n: int, fn: Callable[..., Any] = noop) -> float:
    with Timer() as t:
        if is_executor(impl):
            futures_module(impl).wait([pool.submit(fn, i) for i in range(n)])
        else:
            for result in [pool.apply_async(fn, (i,)) for i in range(n)]:
                result.wait()
    return t.seconds


def ping_pong(pool: Any, impl: str, n: int) -> float:
    with Timer() as t:
        if is_executor(impl):
            for i in range(n):
                pool.submit(noop, i).result()
        else:
            for i in range(n):
                pool.apply(noop, (i,))
    return t.seconds


def with_warm(make: Callable[[], Any], impl: str, run: Callable[[Any], float]) -> float:
    pool = make()
    try:
        warm_up(pool, impl)
        return run(pool)
    finally:
        close(pool, impl)


def thread_submit_wait(impl: str, n: int) -> float:
    return with_warm(lambda: thread_pool(impl, 4), impl,
                     lambda pool: submit_and_wait(pool, impl, n))


def thread_ping_pong(impl: str, n: int) -> float:
    return with_warm(lambda: thread_pool(impl, 4), impl, lambda pool: ping_pong(pool, impl, n))


def thread_sleeps(impl: str, n: int) -> float:
    """Seconds over the ideal (n x 10 ms spread over 50 threads)."""
    ideal = n * 0.01 / 50
    return with_warm(lambda: thread_pool(impl, 50), impl,
                     lambda pool: submit_and_wait(pool, impl, n, sleep_10ms) - ideal)


def thread_done_callbacks(impl: str, n: int) -> float:
    def run(pool: Any) -> float:
        counted: list[None] = []

        def callback(_: Any) -> None:
            counted.append(None)

        with Timer() as t:
            if is_executor(impl):
                fs = []
                for i in range(n):
                    future = pool.submit(noop, i)
                    future.add_done_callback(callback)
                    fs.append(future)
                futures_module(impl).wait(fs)
            else:
                for result in [pool.apply_async(noop, (i,), callback=callback)
                               for i in range(n)]:
                    result.wait()
            # Callbacks run after the future is done: wait until all ran.
            while len(counted) < n:
                time.sleep(0.0001)  # polling a counter; the callbacks are microseconds away
        return t.seconds

    return with_warm(lambda: thread_pool(impl, 4), impl, run)


def process_submit_wait(impl: str, n: int) -> float:
    return with_warm(lambda: process_pool(impl, 2), impl,
                     lambda pool: submit_and_wait(pool, impl, n))


def process_ping_pong(impl: str, n: int) -> float:
    return with_warm(lambda: process_pool(impl, 2), impl, lambda pool: ping_pong(pool, impl, n))


def process_map(impl: str, n: int, chunksize: Optional[int]) -> float:
    def run(pool: Any) -> float:
        kwargs = {} if chunksize is None else {"chunksize": chunksize}
        with Timer() as t:
            if is_executor(impl):
                results = list(pool.map(noop, range(n), **kwargs))
            else:
                results = pool.map(noop, range(n), **kwargs)
        assert results == list(range(n))
        return t.seconds

    return with_warm(lambda: process_pool(impl, 2), impl, run)


def process_map_default(impl: str, n: int) -> float:
    return process_map(impl, n, None)


def process_map_chunked(impl: str, n: int) -> float:
    return process_map(impl, n, 1000)


def cpu_efficiency(impl: str, n: int) -> float:
    """Time inside the tasks / (2 workers x wall time): 1.0 is ideal."""
    iterations = 400_000  # about 20-40 ms per task on a 2020s core

    def run(pool: Any) -> float:
        inside: float
        with Timer() as t:
            if is_executor(impl):
                inside = sum(pool.map(spin, [iterations] * n))
            else:
                inside = sum(pool.map(spin, [iterations] * n, chunksize=1))
        return inside / (2 * t.seconds)

    return with_warm(lambda: process_pool(impl, 2), impl, run)


def cold_start(impl: str, n: int) -> float:
    """n times: start a fork pool, get one result, shut it down."""
    with Timer() as t:
        for _ in range(n):
            pool = process_pool(impl, 2)
            warm_up(pool, impl)
            close(pool, impl)
    return t.seconds


def big_results(impl: str, n: int) -> float:
    def run(pool: Any) -> float:
        with Timer() as t:
            if is_executor(impl):
                total = sum(len(f.result()) for f in [pool.submit(one_mib) for _ in range(n)])
            else:
                total = sum(len(r.get()) for r in [pool.apply_async(one_mib) for _ in range(n)])
        assert total == n << 20
        return t.seconds

    return with_warm(lambda: process_pool(impl, 2), impl, run)


def pending_memory(impl: str, n: int) -> float:
    """Bytes of parent memory per pending task (tracemalloc), workers blocked."""
    assert FORK is not None
    gate = FORK.Event()
    pool = process_pool(impl, 1, initializer=set_gate, initargs=(gate,))
    try:
        blocker = (pool.submit(wait_for_gate) if is_executor(impl)
                   else pool.apply_async(wait_for_gate))
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            if is_executor(impl):
                pending = [pool.submit(noop, i) for i in range(n)]
            else:
                pending = [pool.apply_async(noop, (i,)) for i in range(n)]
            time.sleep(0.2)  # let the pool's own threads move what they will
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        gate.set()
        if is_executor(impl):
            blocker.result()
            futures_module(impl).wait(pending)
        else:
            blocker.wait()
            for result in pending:
                result.wait()
        return (after - before) / n
    finally:
        gate.set()
        close(pool, impl)


class Workload(NamedTuple):
    key: str
    title: str
    run: Callable[[str, int], float]
    size: int  # the full run's n
    quick_size: int
    smoke_size: int
    unit: str  # "s", "B/task" or "eff"
    target: str
    references: tuple[str, ...]
    rounds: Optional[int] = None  # fewer rounds than the default for slow ones


WORKLOADS = [
    Workload("thread-submit-wait", "thread: submit+wait {n} no-ops (4 workers)",
             thread_submit_wait, 50_000, 10_000, 200, "s", "<= 0.5", (MP_THREADPOOL,)),
    Workload("thread-ping-pong", "thread: ping-pong (submit, result) x{n}",
             thread_ping_pong, 5_000, 2_000, 50, "s", "<= 0.7", (MP_THREADPOOL,)),
    Workload("thread-sleeps", "thread: {n} x 10 ms sleeps on 50 threads, over ideal",
             thread_sleeps, 500, 500, 50, "s", "", (MP_THREADPOOL,)),
    Workload("thread-callbacks", "thread: {n} tasks with a done-callback each",
             thread_done_callbacks, 20_000, 5_000, 100, "s", "<= 0.5", (MP_THREADPOOL,)),
    Workload("process-submit-wait", "process: submit+wait {n} no-ops (2 workers)",
             process_submit_wait, 5_000, 1_000, 50, "s", "<= 0.25", (MP_POOL,)),
    Workload("process-map-default", "process: map over {n} ints, default args",
             process_map_default, 200_000, 10_000, 100, "s", "<= 0.01", (MP_POOL,), 3),
    Workload("process-map-chunked", "process: map over {n} ints, chunksize=1000",
             process_map_chunked, 200_000, 50_000, 2_000, "s", "<= 0.5", (MP_POOL,)),
    Workload("process-ping-pong", "process: ping-pong (submit, result) x{n}",
             process_ping_pong, 1_000, 300, 20, "s", "<= 0.5", (MP_POOL,)),
    Workload("process-cpu-bound", "process: CPU-bound, {n} tasks on 2 workers",
             cpu_efficiency, 40, 16, 2, "eff", ">= 0.97 eff", (MP_POOL,)),
    Workload("process-cold-start", "process: cold start+1 result+shutdown x{n} (fork)",
             cold_start, 10, 4, 1, "s", "<= 1.0", (MP_POOL,)),
    Workload("process-big-results", "process: {n} tasks returning 1 MiB each",
             big_results, 200, 50, 4, "s", "<= 0.9", (MP_POOL,)),
    Workload("process-pending-memory", "process: parent memory, {n} pending tasks",
             pending_memory, 20_000, 5_000, 100, "B/task", "<= 0.7", (MP_POOL,)),
]


# ---------------------------------------------------------------- running
def measure(workload: Workload, n: int, rounds: int, references: bool) -> dict[str, list[float]]:
    impls = [MINIPOOL, STDLIB] + (list(workload.references) if references else [])
    figures: dict[str, list[float]] = {impl: [] for impl in impls}
    for _ in range(rounds):
        for impl in impls:  # interleaved: A B A B ...
            gc.collect()
            figures[impl].append(workload.run(impl, n))
    return figures


def summarise(workload: Workload, n: int, figures: dict[str, list[float]]) -> dict[str, Any]:
    medians = {impl: statistics.median(values) for impl, values in figures.items()}
    stdlib = medians[STDLIB]

    def ratio(impl: str) -> Optional[float]:
        return medians[impl] / stdlib if stdlib > 0 else None

    return {
        "key": workload.key,
        "title": workload.title.format(n=f"{n:,}"),
        "n": n,
        "unit": workload.unit,
        "target": workload.target,
        "figures": figures,
        "median": medians,
        "ratio": {impl: ratio(impl) for impl in figures if impl != STDLIB},
    }


def format_figure(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.1f} ms" if abs(value) < 10 else f"{value:.2f} s"
    if unit == "B/task":
        return f"{value:.0f} B"
    return f"{value:.3f}"


def format_row(row: dict[str, Any]) -> list[str]:
    lines = [row["title"] + (f"   [target {row['target']}]" if row["target"] else "")]
    for impl, values in row["figures"].items():
        spread = (f"{format_figure(min(values), row['unit'])} .. "
                  f"{format_figure(max(values), row['unit'])}")
        ratio = row["ratio"].get(impl)
        shown = f"ratio {ratio:5.2f}" if ratio is not None else ""
        lines.append(f"    {impl:14} {format_figure(row['median'][impl], row['unit']):>10}"
                     f"   ({spread})  {shown}")
    return lines


def markdown_table(report: dict[str, Any]) -> str:
    """The report as docs/performance.md's table (ratios to the stdlib's median)."""
    lines = ["| workload | stdlib | minipool | ratio | target | mp.Pool / ThreadPool |",
             "|---|---|---|---|---|---|"]
    for row in report["workloads"]:
        unit, median = row["unit"], row["median"]
        refs = [f"{impl} {ratio:.2f}" for impl, ratio in row["ratio"].items()
                if impl != MINIPOOL and ratio is not None]
        ratio = row["ratio"][MINIPOOL]
        lines.append(f"| {row['title']} | {format_figure(median[STDLIB], unit)} "
                     f"| {format_figure(median[MINIPOOL], unit)} | **{ratio:.2f}** "
                     f"| {row['target'] or '-'} | {', '.join(refs) or '-'} |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m minipool bench",
                                     description="minipool and the stdlib, side by side.")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller sizes, 3 rounds (< 60 s)")
    size.add_argument("--smoke", action="store_true", help="tiny sizes, 1 round (seconds)")
    parser.add_argument("--rounds", type=int, help="rounds per workload (default 5)")
    parser.add_argument("--only", action="append", default=[],
                        help="run the workloads whose key contains this (repeatable)")
    parser.add_argument("--no-references", action="store_true",
                        help="skip the multiprocessing.Pool / ThreadPool rows")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print JSON instead of a table")
    output.add_argument("--markdown", action="store_true",
                        help="print a markdown table at the end")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    if FORK is None:
        print("bench needs the fork start method (Linux, macOS)", file=sys.stderr)
        return 2
    chosen = [w for w in WORKLOADS if not args.only or any(o in w.key for o in args.only)]
    if not chosen:
        print(f"no workload matches {args.only}; keys: {[w.key for w in WORKLOADS]}",
              file=sys.stderr)
        return 2
    info = machine()
    if not args.json:
        print(f"Python {info['python']} on {info['platform']}, {info['cpus']} CPUs, "
              f"load average {info['loadavg']}, {info['date']}")
        print("median (min .. max) per implementation; ratio = median / stdlib's median\n")
    rows = []
    for workload in chosen:
        if args.smoke:
            n, rounds = workload.smoke_size, 1
        elif args.quick:
            n, rounds = workload.quick_size, 3
        else:
            n, rounds = workload.size, workload.rounds or 5
        if args.rounds is not None:
            rounds = args.rounds
        row = summarise(workload, n, measure(workload, n, rounds, not args.no_references))
        rows.append(row)
        if not args.json:
            print("\n".join(format_row(row)), flush=True)
    info["loadavg_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    if args.json:
        json.dump({"machine": info, "workloads": rows}, sys.stdout, indent=1)
        print()
    else:
        print(f"\nload average after: {info['loadavg_after']}")
    if args.markdown:
        print("\n" + markdown_table({"machine": info, "workloads": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
