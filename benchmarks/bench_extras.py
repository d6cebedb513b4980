"""What the extras cost: a configured pool beside a plain one, and minipool before/after.

    python benchmarks/bench_extras.py [--repeat N]

Each scenario runs a plain pool and the same pool with ``configure(...)``,
alternating, REPEAT times; the best time of each is kept and the ratio
configured / plain is printed. The plain column is the default path, the one
that must not get slower (compare it across commits, or run
``benchmarks/bench.py`` for minipool against the stdlib).
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import time
from typing import Any, Callable

import minipool


def noop(x: int) -> int:
    return x


def thread_submit(n: int, options: dict[str, Any]) -> None:
    pool = minipool.MiniThreadPool(4)
    if options:
        pool.configure(**options)
    with pool:
        minipool.wait([pool.submit(noop, i) for i in range(n)])


def process_submit(n: int, options: dict[str, Any]) -> None:
    pool = minipool.MiniProcessPool(4, mp_context=multiprocessing.get_context("fork"))
    if options:
        pool.configure(**options)
    with pool:
        minipool.wait([pool.submit(noop, i) for i in range(n)])


SCENARIOS: list[tuple[str, Callable[[dict[str, Any]], None], dict[str, Any]]] = [
    ("thread pool: submit 20000 + wait, timeline=True",
     lambda o: thread_submit(20000, o), {"timeline": True}),
    ("thread pool: submit 20000 + wait, max_pending=1000",
     lambda o: thread_submit(20000, o), {"max_pending": 1000}),
    ("thread pool: submit 20000 + wait, task_timeout=60",
     lambda o: thread_submit(20000, o), {"task_timeout": 60.0}),
    ("thread pool: submit 20000 + wait, copy_context=True",
     lambda o: thread_submit(20000, o), {"copy_context": True}),
    ("process pool (fork): submit 3000 + wait, timeline=True",
     lambda o: process_submit(3000, o), {"timeline": True}),
    ("process pool (fork): submit 3000 + wait, survive_crashes=True",
     lambda o: process_submit(3000, o), {"survive_crashes": True}),
    ("process pool (fork): submit 3000 + wait, task_timeout=60",
     lambda o: process_submit(3000, o), {"task_timeout": 60.0}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"Python {platform.python_version()}, {multiprocessing.cpu_count()} cores,"
          f" best of {args.repeat}")
    print(f"{'scenario':62} {'plain':>8} {'configured':>10} {'ratio':>6}")
    for name, run, options in SCENARIOS:
        best = {"plain": float("inf"), "configured": float("inf")}
        for _ in range(args.repeat):  # alternate, so drift hits both alike
            for label, opts in (("plain", {}), ("configured", options)):
                start = time.perf_counter()
                run(opts)
                best[label] = min(best[label], time.perf_counter() - start)
        ratio = best["configured"] / best["plain"]
        print(f"{name:62} {best['plain']:7.3f}s {best['configured']:9.3f}s {ratio:6.2f}")


if __name__ == "__main__":
    main()
