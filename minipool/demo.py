"""``python -m minipool demo``: the lessons of a pool, running.

Each lesson comes from a well-known tutorial on pools (the seed of this
project): it runs a small program on minipool's pools, prints what happened,
and checks the claim the tutorial makes. The tutorial's tasks slept 5
seconds; these sleep ``TICK`` seconds, so the whole demo takes about ten.

Lessons:
  1. submit() returns at once
  2. result() inside the submit loop serialises the work
  3. shutdown(wait=True) is close + join
  4. who runs a callback: the submitting process (process pool), the worker
     that finished (thread pool)
  5. threads suit I/O-bound work, processes suit CPU-bound work
  6. a pool bounds how many workers exist: ten thousand clients, a few workers
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable, Optional

from . import Future, MiniProcessPool, MiniThreadPool, wait

TICK = 0.2  # seconds: the tutorial's 5-second task, scaled down
WORKERS = 4


# Tasks live at module level so that worker processes can import them.
def io_task(n: int) -> int:
    """An I/O-bound task: it waits (like a network call), then returns n squared."""
    time.sleep(TICK)
    return n * n


def cpu_task(n: int) -> int:
    """A CPU-bound task: pure Python arithmetic that holds the GIL throughout."""
    total = 0
    for i in range(4_000_000):
        total += i % 7
    return n + total - total


def whoami(_: object = None) -> str:
    return f"pid {os.getpid()} thread {threading.current_thread().name}"


# ------------------------------------------------------------------ helpers
def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _check(claim: str, holds: bool) -> bool:
    print(f"  {'OK ' if holds else 'NO!'} {claim}")
    return holds


def _header(number: int, title: str) -> None:
    print(f"\nLesson {number}: {title}")


# ------------------------------------------------------------------ lessons
def lesson_submit_returns_at_once() -> bool:
    _header(1, "submit() returns at once")
    with MiniThreadPool(WORKERS) as pool:
        start = time.perf_counter()
        futures = [pool.submit(io_task, n) for n in range(8)]
        submitted = time.perf_counter() - start
        wait(futures)
        finished = time.perf_counter() - start
    print(f"  8 tasks of {TICK}s on {WORKERS} threads: submitting took {submitted * 1000:.1f} ms,"
          f" the work {finished:.2f} s")
    return _check("the submit loop took a small fraction of one task", submitted < TICK / 4)


def lesson_result_in_loop_serialises() -> bool:
    _header(2, "result() inside the submit loop serialises the work")
    with MiniThreadPool(WORKERS) as pool:
        serial = _timed(lambda: [pool.submit(io_task, n).result() for n in range(4)])
        parallel = _timed(lambda: [f.result() for f in [pool.submit(io_task, n)
                                                         for n in range(4)]])
    print(f"  4 tasks, result() right after each submit: {serial:.2f} s")
    print(f"  4 tasks, submit all, then collect:          {parallel:.2f} s")
    return _check("asking for each result inside the loop is several times slower",
                  serial > 2 * parallel)


def lesson_shutdown_is_close_and_join() -> bool:
    _header(3, "shutdown(wait=True) is close + join")
    pool = MiniThreadPool(WORKERS)
    futures = [pool.submit(io_task, n) for n in range(8)]
    shutdown_took = _timed(lambda: pool.shutdown(wait=True))
    all_done = all(f.done() for f in futures)
    try:
        pool.submit(io_task, 0)
        closed = False
    except RuntimeError as exc:
        closed = True
        print(f"  submit after shutdown: RuntimeError({exc})")
    print(f"  shutdown(wait=True) returned after {shutdown_took:.2f} s;"
          f" then all 8 results were there: {all_done}")
    return _check("join: every task was done when shutdown returned", all_done) & _check(
        "close: the pool refused new work", closed)


def lesson_who_runs_callbacks() -> bool:
    _header(4, "who runs a callback")
    seen: dict[str, list[str]] = {"process": [], "thread": []}

    def record(kind: str) -> Callable[[Future[Any]], None]:
        return lambda future: seen[kind].append(whoami())

    with MiniProcessPool(2) as processes:
        futures = [processes.submit(whoami) for _ in range(4)]
        for future in futures:
            future.add_done_callback(record("process"))
        workers = {future.result().split()[1] for future in futures}
    with MiniThreadPool(2) as threads:
        start = threading.Event()  # set once both callbacks are registered
        both_running = threading.Barrier(2)  # so that each worker finishes one task

        def task() -> None:
            both_running.wait()
            start.wait()

        for _ in range(2):
            threads.submit(task).add_done_callback(record("thread"))
        start.set()
    main = f"pid {os.getpid()}"
    print(f"  process pool: tasks ran in pids {sorted(workers)}; callbacks ran in"
          f" {sorted(set(s.split(' thread')[0] for s in seen['process']))} (main is {main})")
    print(f"  thread pool: callbacks ran in threads"
          f" {sorted(set(s.split('thread ')[1] for s in seen['thread']))}")
    return _check("process pool: every callback ran in the submitting process",
                  all(s.startswith(main + " ") for s in seen["process"])) & _check(
        "thread pool: callbacks ran in the worker threads, not the main thread",
        all("MainThread" not in s for s in seen["thread"]))


def _run_all(pool_class: Callable[[int], object], task: Callable[[int], int]) -> float:
    with pool_class(2) as pool:  # type: ignore[attr-defined]
        return _timed(lambda: list(pool.map(task, range(4))))


def lesson_threads_for_io_processes_for_cpu() -> bool:
    _header(5, "threads suit I/O-bound work, processes suit CPU-bound work")
    serial_cpu = _timed(lambda: [cpu_task(n) for n in range(4)])
    times = {
        (kind, name): _run_all(cls, task)
        for kind, task in (("I/O", io_task), ("CPU", cpu_task))
        for name, cls in (("threads", MiniThreadPool), ("processes", MiniProcessPool))
    }
    for (kind, name), seconds in times.items():
        print(f"  4 {kind}-bound tasks on 2 {name:9}: {seconds:.2f} s")
    print(f"  4 CPU-bound tasks one after another: {serial_cpu:.2f} s")
    cores = os.cpu_count() or 1
    ok = _check("I/O-bound: threads are as fast as processes (and cheaper to start)",
                times[("I/O", "threads")] < times[("I/O", "processes")] * 1.5)
    ok &= _check("CPU-bound: threads are no faster than doing it serially (the GIL)",
                 times[("CPU", "threads")] > serial_cpu * 0.7)
    if cores >= 2:
        ok &= _check("CPU-bound: processes beat threads (they use several cores)",
                     times[("CPU", "processes")] < times[("CPU", "threads")] * 0.85)
    return ok


def lesson_pool_bounds_workers(clients: int = 10_000) -> bool:
    _header(6, f"a pool bounds how many workers exist: {clients} clients")
    served_by: set[str] = set()
    lock = threading.Lock()  # guards served_by; taken by each worker per client

    def serve_client(_: int) -> None:
        with lock:
            served_by.add(threading.current_thread().name)

    threads_before = threading.active_count()
    peak = 0
    with MiniThreadPool(8) as pool:
        futures = [pool.submit(serve_client, c) for c in range(clients)]
        peak = threading.active_count() - threads_before
        wait(futures)
        peak = max(peak, threading.active_count() - threads_before)
    print(f"  {clients} clients served by {len(served_by)} worker threads"
          f" (at most {peak} extra threads alive); a thread per client would be {clients}")
    return _check("never more workers than max_workers=8", len(served_by) <= 8 and peak <= 8)


LESSONS: list[Callable[[], bool]] = [
    lesson_submit_returns_at_once,
    lesson_result_in_loop_serialises,
    lesson_shutdown_is_close_and_join,
    lesson_who_runs_callbacks,
    lesson_threads_for_io_processes_for_cpu,
    lesson_pool_bounds_workers,
]


def run_demo(only: Optional[list[int]] = None) -> int:
    """Run the lessons (all, or the numbered ones); return 0 if every claim held."""
    print(f"minipool demo: the lessons of a pool ({os.cpu_count()} cores here)")
    results = [lesson() for number, lesson in enumerate(LESSONS, 1)
               if not only or number in only]
    failed = results.count(False)
    print(f"\n{len(results) - failed} of {len(results)} lessons held.")
    return 0 if failed == 0 else 1


def main(argv: list[str]) -> int:
    """``python -m minipool demo [N ...]``: numbers pick lessons."""
    return run_demo([int(n) for n in argv])
