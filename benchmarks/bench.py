"""Side-by-side benchmark: minipool against concurrent.futures, in one process.

    python benchmarks/bench.py [--repeat N] [--quick]

Each scenario runs on both implementations, alternating, REPEAT times; the
best time of each is kept and the ratio minipool / stdlib is printed
(below 1.00: minipool is faster). Speed is measured here, never in tests.
"""

from __future__ import annotations

import argparse
import concurrent.futures as stdlib
import multiprocessing
import platform
import time
from typing import Any, Callable

import minipool


def noop(x: int) -> int:
    return x


def submit_and_wait(futures: Any, pool_class: Any, n: int, **kw: Any) -> None:
    with pool_class(4, **kw) as pool:
        futures.wait([pool.submit(noop, i) for i in range(n)])


def map_all(futures: Any, pool_class: Any, n: int) -> None:
    with pool_class(4) as pool:
        for _ in pool.map(noop, range(n)):
            pass


def as_completed_all(futures: Any, pool_class: Any, n: int) -> None:
    with pool_class(4) as pool:
        for _ in futures.as_completed([pool.submit(noop, i) for i in range(n)]):
            pass


def future_round_trips(futures: Any, n: int) -> None:
    for i in range(n):
        f = futures.Future()
        f.add_done_callback(noop)
        f.set_result(i)
        f.result()


def wait_first_completed(futures: Any, n: int) -> None:
    pending = [futures.Future() for _ in range(50)]
    for i in range(n):
        f = futures.Future()
        f.set_result(i)
        futures.wait(pending + [f], return_when=futures.FIRST_COMPLETED)


def scenarios(quick: bool) -> list[tuple[str, Callable[[Any], None]]]:
    k = 1 if quick else 5
    fork = multiprocessing.get_context("fork")
    thread = lambda m: m.ThreadPoolExecutor  # noqa: E731
    process = lambda m: m.ProcessPoolExecutor  # noqa: E731
    return [
        (f"Future: {20000 * k} set_result+callback+result",
         lambda m: future_round_trips(m, 20000 * k)),
        (f"wait(FIRST_COMPLETED) on 51 futures x{2000 * k}",
         lambda m: wait_first_completed(m, 2000 * k)),
        (f"thread pool: submit {4000 * k} + wait",
         lambda m: submit_and_wait(m, thread(m), 4000 * k)),
        (f"thread pool: map over {4000 * k}", lambda m: map_all(m, thread(m), 4000 * k)),
        (f"thread pool: as_completed {4000 * k}",
         lambda m: as_completed_all(m, thread(m), 4000 * k)),
        (f"process pool (fork): submit {500 * k} + wait",
         lambda m: submit_and_wait(m, process(m), 500 * k, mp_context=fork)),
        (f"process pool (fork): map {5000 * k}, chunksize=100",
         lambda m: map_process_chunked(m, 5000 * k, fork)),
    ]


def map_process_chunked(futures: Any, n: int, ctx: Any) -> None:
    with futures.ProcessPoolExecutor(4, mp_context=ctx) as pool:
        for _ in pool.map(noop, range(n), chunksize=100):
            pass


def best_of(action: Callable[[], None], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    args = parser.parse_args()
    print(f"Python {platform.python_version()}, {multiprocessing.cpu_count()} cores,"
          f" best of {args.repeat}")
    print(f"{'scenario':50} {'stdlib':>9} {'minipool':>9} {'ratio':>6}")
    for name, run in scenarios(args.quick):
        times = {"stdlib": float("inf"), "minipool": float("inf")}
        for _ in range(args.repeat):  # alternate, so drift hits both alike
            for label, module in (("stdlib", stdlib), ("minipool", minipool)):
                times[label] = min(times[label], best_of(lambda: run(module), 1))  # noqa: B023
        ratio = times["minipool"] / times["stdlib"]
        print(f"{name:50} {times['stdlib']:8.3f}s {times['minipool']:8.3f}s {ratio:6.2f}")


if __name__ == "__main__":
    main()
