"""``python -m minipool demo``: the tutorial's experiments, run and drawn.

The tutorial this project grew from (a Chinese-language lesson on process
and thread pools) teaches by experiment. Each experiment here runs that
program on a pool, scaled down (one *unit*, the tutorial's second, is
``FULL_UNIT`` seconds), then prints

  (a) a timeline: one lane per thread or process that ran something, the
      main thread first, showing which task and which callback ran where
      and when;
  (b) the measured total next to what the theory predicts, with the
      tolerance allowed and a verdict;
  (c) the conclusions the experiment teaches, checked from the recording.

Experiments (``--only NAME``): submit, result-in-loop, shutdown, coupled,
callbacks, io-bound, cpu-bound, echo-server. ``--impl stdlib`` runs them on
``concurrent.futures``; ``--quick`` shrinks the unit (timings then are not
judged); ``--json`` prints the recordings instead of the drawings; ``--html
FILE`` also draws them as one HTML page (``write_html``: a section per
experiment, drawn by ``_report.py``) and ``--trace FILE`` writes them as one
Chrome/Perfetto trace (``write_trace``, by ``_trace.py``).

Threads and processes
---------------------
* The *main thread* runs each experiment: it submits, waits and collects,
  as the tutorial's ``if __name__ == '__main__'`` block does.
* The pool's own workers (threads or processes) run the tasks; callbacks
  run wherever the pool runs them -- that is one of the lessons.
* The echo-server experiment adds an *acceptor thread* (``echo-acceptor``)
  and, in its first half, one thread per connection (``echo-conn-N``).

How a recording travels::

    task, in a worker (thread or process):
        start = time.monotonic() ... return value, [Span(...)]
          -> future.result() in the main thread -> _Recorder.spans
    callback, wherever the pool runs it:
        _Recorder.add(Span(...))          (a lock guards the list)
    main thread: _Recorder.main(label) around each wait
          -> Run.spans --draw_timeline()--> one lane per (pid, thread)

Guarantees / Assumptions
------------------------
* ``time.monotonic()`` reads one clock shared by every process of the
  machine (CLOCK_MONOTONIC on Linux and macOS), so spans recorded in worker
  processes and in the parent can be drawn on one time axis.
* The conclusions (``Outcome.checks``) are about order and place -- which
  pid, which thread, which span ended before which began -- and hold on any
  machine however loaded. The totals are about time, and are judged
  against a tolerance only outside ``--quick`` mode.
"""

from __future__ import annotations

import argparse
import concurrent.futures  # the stdlib's pools, for --impl stdlib (no code is borrowed)
import contextlib
import dataclasses
import json
import math
import os
import re
import selectors
import socket
import sys
import textwrap
import threading
import time
from typing import Any, Callable, Iterator, Optional, Sequence

from . import MiniProcessPool, MiniThreadPool
from ._exit import usable_cpu_count
from ._report import _Section, _write_page
from ._trace import _Recording, _Slice, _trace_document, _Track

FULL_UNIT = 0.1  # seconds that stand for one second of the tutorial
QUICK_UNIT = 0.01  # the same, in --quick mode (tests)
POOL_SIZE = 4  # the tutorial's ProcessPoolExecutor(4) / ThreadPoolExecutor(4)
ECHO_CLIENTS = 40  # concurrent clients of the echo server (--quick: ECHO_CLIENTS_QUICK)
ECHO_CLIENTS_QUICK = 20
WIDTH = 52  # columns of a timeline (a multiple of 4: the scale has 4 steps)
LANE_LABEL = 42  # columns of a lane's name
SLEEP_TOLERANCE = (0.10, 0.15)  # (fraction of the prediction, seconds) for sleeping work
CPU_TOLERANCE = (0.30, 0.15)  # the same for CPU-bound work, which other programs slow down

LoadAverage = Optional[tuple[float, float, float]]  # os.getloadavg(), None where unknown


# ------------------------------------------------------------- the recording
@dataclasses.dataclass
class Span:
    """One thing that ran: where (pid, thread) and when (monotonic seconds)."""

    kind: str  # "task", "handle" (a result handled: callback or parse) or "main"
    label: str  # "3" for task 3, "c3" its callback, "p3" its parse, or what main did
    pid: int
    thread: str
    start: float
    end: float
    cpu: float = 0.0  # CPU seconds this thread used during the span (CPU-bound tasks)


def _span(kind: str, label: str, start: float) -> Span:
    """A span that started at *start* and ends now, in this thread."""
    return Span(kind, label, os.getpid(), threading.current_thread().name, start,
                time.monotonic())


class _Recorder:
    """The spans noted in this process by callbacks and the main thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # guards spans: callbacks add from pool threads
        self.spans: list[Span] = []

    def add(self, span: Span) -> None:
        with self.lock:
            self.spans.append(span)

    @contextlib.contextmanager
    def main(self, label: str) -> Iterator[None]:
        """Note what the main thread does inside the ``with`` block."""
        start = time.monotonic()
        try:
            yield
        finally:
            self.add(_span("main", label, start))


# ------------------------------------------------ tasks (importable by workers)
TaskReturn = tuple[Any, list[Span]]


def sleepy_task(n: int, seconds: float) -> TaskReturn:
    """The tutorial's ``task(n)``: wait *seconds* (as on I/O), return n squared."""
    start = time.monotonic()
    time.sleep(seconds)  # the work itself: waiting, like a network call
    return n * n, [_span("task", str(n), start)]


def task_then_parse(n: int, seconds: float, parse_seconds: float) -> TaskReturn:
    """The tutorial's coupled version: the task handles its own result."""
    value, spans = sleepy_task(n, seconds)
    start = time.monotonic()
    time.sleep(parse_seconds)  # the tutorial's parse(): 1 s of handling
    spans.append(_span("handle", f"p{n}", start))
    return value, spans


def spin(iterations: int) -> int:
    """Pure-Python arithmetic: holds the GIL for as long as it runs."""
    total = 0
    for i in range(iterations):
        total += i % 7
    return total


def cpu_task(n: int, iterations: int) -> TaskReturn:
    """A CPU-bound task: *iterations* rounds of arithmetic, then n squared."""
    start, cpu_start = time.monotonic(), time.thread_time()
    spin(iterations)
    span = _span("task", str(n), start)
    span.cpu = time.thread_time() - cpu_start
    return n * n, [span]


def _task_spans(futures: Sequence[concurrent.futures.Future[TaskReturn]]) -> list[Span]:
    return [span for future in futures for span in future.result()[1]]


def _callback(recorder: _Recorder, seconds: float) -> Callable[[Any], None]:
    """The tutorial's ``parse(future)``, as a done callback that takes *seconds*."""

    def parse(future: concurrent.futures.Future[TaskReturn]) -> None:
        start = time.monotonic()
        _value, spans = future.result()
        if seconds:
            time.sleep(seconds)  # the tutorial's parse: 1 s of handling (I/O)
        recorder.add(_span("handle", "c" + spans[0].label, start))

    return parse


# ------------------------------------------------------------ the outcomes
@dataclasses.dataclass
class Run:
    """One timed program: its recording, its total and the theory's figure."""

    title: str
    spans: list[Span]
    t0: float  # when the clock started (monotonic seconds)
    measured: float  # seconds, from t0 until the program's last line returned
    predicted: float  # seconds, from the theory
    tolerance: float  # seconds either side of *predicted* that count as agreement
    theory: str  # how *predicted* follows from the program
    tutorial: str  # what the tutorial says about it
    drawn: bool = True  # False: too many lanes to draw (a thread per connection)
    note: str = ""  # what else the reader should know to judge the verdict

    @property
    def within_tolerance(self) -> bool:
        return abs(self.measured - self.predicted) <= self.tolerance


@dataclasses.dataclass
class Outcome:
    """One experiment's runs, the conclusions checked, and other facts."""

    name: str
    title: str
    lesson: str
    main_pid: int
    runs: list[Run]
    checks: dict[str, bool]
    facts: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Pools:
    """The pool classes an experiment runs on: minipool's or the stdlib's."""

    name: str
    ThreadPool: Callable[..., Any]
    ProcessPool: Callable[..., Any]


IMPLS = {
    "minipool": Pools("minipool", MiniThreadPool, MiniProcessPool),
    "stdlib": Pools("stdlib", concurrent.futures.ThreadPoolExecutor,
                    concurrent.futures.ProcessPoolExecutor),
}


@dataclasses.dataclass(frozen=True)
class Setup:
    """What every experiment of one ``demo`` command shares."""

    pools: Pools
    unit: float  # seconds per tutorial second
    quick: bool  # --quick: the unit is QUICK_UNIT and totals are not judged

    def tolerance(self, predicted: float, cpu: bool = False) -> float:
        """How far (seconds) a measured total may be from *predicted* and still agree."""
        fraction, seconds = CPU_TOLERANCE if cpu else SLEEP_TOLERANCE
        return fraction * predicted + seconds


def _warm_process_pool(setup: Setup, workers: int = POOL_SIZE) -> Any:
    """A process pool whose workers are already up (so starting them is not timed).

    Under ``fork`` (Linux's default up to Python 3.13) both implementations
    start every worker at the first submit; under ``spawn`` and ``forkserver``
    only as work needs them, so there the later starts are timed too.
    """
    pool = setup.pools.ProcessPool(workers)
    pool.submit(int).result()
    return pool


def _list_schedule(durations: Sequence[float], workers: int) -> float:
    """When the last task ends if each goes, in order, to the first free worker."""
    free_at = [0.0] * workers
    for duration in durations:
        soonest = free_at.index(min(free_at))
        free_at[soonest] += duration
    return max(free_at)


def _no_overlap(spans: Sequence[Span]) -> bool:
    ordered = sorted(spans, key=lambda s: s.start)
    return all(a.end <= b.start for a, b in zip(ordered, ordered[1:]))


def _of_kind(spans: Sequence[Span], kind: str) -> list[Span]:
    return [s for s in spans if s.kind == kind]


# ------------------------------------------------------------ the experiments
def exp_submit(setup: Setup) -> Outcome:
    u = setup.unit
    recorder = _Recorder()
    pool = _warm_process_pool(setup)
    t0 = time.monotonic()
    with recorder.main("submit"):
        futures = [pool.submit(sleepy_task, n, n * u) for n in range(1, 11)]
    with recorder.main("shutdown(wait=True)"):
        pool.shutdown(wait=True)
    measured = time.monotonic() - t0
    spans = recorder.spans + _task_spans(futures)
    predicted = _list_schedule([n * u for n in range(1, 11)], POOL_SIZE)
    tasks = _of_kind(spans, "task")
    submit_loop = _of_kind(spans, "main")[0]
    run = Run("10 tasks on 4 processes", spans, t0, measured, predicted,
              setup.tolerance(predicted),
              "task n waits n units; each goes to the first free worker:"
              " 1-4 at once, 5 at 1, 6 at 2, 7 at 3, 8 at 4, 9 at 6, 10 at 8 -> ends at 18",
              "the tutorial prints its tasks' pids and '主' at once; it gives no total")
    return Outcome(
        "submit", "ten tasks on four processes",
        "submit() only hands the task over: the loop of 10 submits returns at once, "
        "and never more than 4 processes do the work.",
        os.getpid(), [run],
        checks={
            "the tasks ran in worker processes, never in the main process":
                all(s.pid != os.getpid() for s in tasks),
            f"at most {POOL_SIZE} processes ran the 10 tasks":
                len({s.pid for s in tasks}) <= POOL_SIZE,
        },
        facts={"submit_loop_milliseconds": 1000 * (submit_loop.end - submit_loop.start)})


def exp_result_in_loop(setup: Setup) -> Outcome:
    u = setup.unit
    recorder = _Recorder()
    pool = _warm_process_pool(setup)
    t0 = time.monotonic()
    futures = []
    for n in range(1, 11):
        with recorder.main(f"r{n}"):
            future = pool.submit(sleepy_task, n, n * u)
            future.result()  # the tutorial's print(future.result()) inside the loop
        futures.append(future)
    pool.shutdown(wait=True)
    measured = time.monotonic() - t0
    spans = recorder.spans + _task_spans(futures)
    predicted = sum(n * u for n in range(1, 11))
    run = Run("result() right after each submit", spans, t0, measured, predicted,
              setup.tolerance(predicted),
              "each task starts after the previous one's result: 1+2+...+10 = 55 units",
              "the output turns serial -- no better than calling task() 10 times")
    return Outcome(
        "result-in-loop", "result() inside the submit loop",
        "Asking for the result inside the submit loop waits for each task before "
        "submitting the next: asynchronous submission, serial work.",
        os.getpid(), [run],
        checks={"no two tasks ran at the same time (each began after the last ended)":
                _no_overlap(_of_kind(spans, "task"))})


def exp_shutdown(setup: Setup) -> Outcome:
    u = setup.unit
    recorder = _Recorder()
    pool = _warm_process_pool(setup)
    t0 = time.monotonic()
    futures = [pool.submit(sleepy_task, n, 5 * u) for n in range(1, 11)]
    with recorder.main("shutdown(wait=True)"):
        pool.shutdown(wait=True)
    all_done = all(f.done() for f in futures)
    try:
        pool.submit(sleepy_task, 0, 0)
        refused = False
    except RuntimeError:
        refused = True
    for n, future in enumerate(futures, 1):
        with recorder.main(f"p{n}"):
            future.result()
            time.sleep(u)  # the tutorial's parse(): 1 s of handling, in the main process
    measured = time.monotonic() - t0
    spans = recorder.spans + _task_spans(futures)
    predicted = _list_schedule([5 * u] * 10, POOL_SIZE) + 10 * u
    last_task_end = max(s.end for s in _of_kind(spans, "task"))
    parses = [s for s in _of_kind(spans, "main") if s.label.startswith("p")]
    run = Run("shutdown(wait=True), then handle the 10 results", spans, t0, measured,
              predicted, setup.tolerance(predicted),
              "3 rounds of 5-unit tasks on 4 processes (15) + 10 results handled"
              " one by one in the main process (10) = 25 units",
              "15 s + 10 s = 25 s")
    return Outcome(
        "shutdown", "shutdown(wait=True) is close + join",
        "shutdown(wait=True) closes the pool (no more submits) and joins it (every task "
        "is done when it returns); handling the results afterwards adds their time.",
        os.getpid(), [run],
        checks={
            "every task was done when shutdown(wait=True) returned": all_done,
            "submit after shutdown raised RuntimeError (closed)": refused,
            "every result was handled after the last task ended":
                all(p.start >= last_task_end for p in parses),
        })


def exp_coupled(setup: Setup) -> Outcome:
    u = setup.unit
    recorder = _Recorder()
    pool = _warm_process_pool(setup)
    t0 = time.monotonic()
    futures = [pool.submit(task_then_parse, n, 5 * u, u) for n in range(1, 11)]
    with recorder.main("shutdown(wait=True)"):
        pool.shutdown(wait=True)
    measured = time.monotonic() - t0
    spans = recorder.spans + _task_spans(futures)
    predicted = _list_schedule([6 * u] * 10, POOL_SIZE)
    pid_of_task = {s.label: s.pid for s in _of_kind(spans, "task")}
    handles = _of_kind(spans, "handle")
    run = Run("each task handles its own result", spans, t0, measured, predicted,
              setup.tolerance(predicted),
              "3 rounds of (5-unit task + 1-unit parse) on 4 processes = 18 units",
              "18 s, with only the 4 workers -- but work and handling are"
              " welded together")
    return Outcome(
        "coupled", "handling the result inside the task",
        "Handling the result inside the task is prompt, but welds two jobs together: "
        "every worker now also parses.",
        os.getpid(), [run],
        checks={"each result was handled in the worker process that produced it":
                all(h.pid == pid_of_task[h.label[1:]] != os.getpid() for h in handles)})


def exp_callbacks(setup: Setup) -> Outcome:
    u = setup.unit
    recorder = _Recorder()
    pool = _warm_process_pool(setup)
    t0 = time.monotonic()
    futures = []
    for n in range(1, 11):
        future = pool.submit(sleepy_task, n, 5 * u)
        future.add_done_callback(_callback(recorder, 0))
        futures.append(future)
    with recorder.main("shutdown(wait=True)"):
        pool.shutdown(wait=True)
    measured = time.monotonic() - t0
    spans = recorder.spans + _task_spans(futures)
    predicted = _list_schedule([5 * u] * 10, POOL_SIZE)
    task_end = {s.label: s.end for s in _of_kind(spans, "task")}
    callbacks = _of_kind(spans, "handle")
    run = Run("10 tasks with a done callback each", spans, t0, measured, predicted,
              setup.tolerance(predicted),
              "3 rounds of 5-unit tasks on 4 processes = 15 units; each callback is"
              " quick and runs as soon as its task is done",
              "parse() is called back by the submitting (main) process")
    return Outcome(
        "callbacks", "callbacks in a process pool",
        "A done callback handles each result as soon as it exists, without coupling it "
        "to the task; in a process pool the submitting process runs it.",
        os.getpid(), [run],
        checks={
            "every callback ran in the submitting process, not in a worker":
                len(callbacks) == 10 and all(c.pid == os.getpid() for c in callbacks),
            "every callback began after its task ended":
                all(c.start >= task_end[c.label[1:]] for c in callbacks),
        },
        facts={"callback_threads": sorted({c.thread for c in callbacks})})


def _four_tasks_with_callbacks(setup: Setup, pool: Any, task: Callable[..., TaskReturn],
                               arg: float) -> tuple[list[Span], float, float]:
    recorder = _Recorder()
    t0 = time.monotonic()
    futures = []
    for n in range(1, 5):
        future = pool.submit(task, n, arg)
        future.add_done_callback(_callback(recorder, setup.unit))
        futures.append(future)
    with recorder.main("shutdown(wait=True)"):
        pool.shutdown(wait=True)
    measured = time.monotonic() - t0
    return recorder.spans + _task_spans(futures), t0, measured


def _callbacks_checks(process_spans: list[Span], thread_spans: list[Span]) -> dict[str, bool]:
    process_callbacks = _of_kind(process_spans, "handle")
    thread_callbacks = _of_kind(thread_spans, "handle")
    worker_threads = {s.thread for s in _of_kind(thread_spans, "task")}
    return {
        "process pool: every callback ran in the parent process":
            len(process_callbacks) == 4
            and all(c.pid == os.getpid() for c in process_callbacks),
        "thread pool: every callback ran in a worker thread, not the main thread":
            len(thread_callbacks) == 4
            and all(c.thread in worker_threads and c.thread != "MainThread"
                    for c in thread_callbacks),
    }


def exp_io_bound(setup: Setup) -> Outcome:
    u = setup.unit
    pool = _warm_process_pool(setup)
    p_spans, p_t0, p_measured = _four_tasks_with_callbacks(setup, pool, sleepy_task, 5 * u)
    pool = setup.pools.ThreadPool(POOL_SIZE)
    t_spans, t_t0, t_measured = _four_tasks_with_callbacks(setup, pool, sleepy_task, 5 * u)
    runs = [
        Run("4 I/O tasks + 1-unit callbacks, 4 processes", p_spans, p_t0, p_measured,
            9 * u, setup.tolerance(9 * u),
            "the 4 tasks wait side by side (5), then the parent runs the 4 callbacks"
            " one after another (4) = 9 units", "5 + 4 = 9 s"),
        Run("4 I/O tasks + 1-unit callbacks, 4 threads", t_spans, t_t0, t_measured,
            6 * u, setup.tolerance(6 * u),
            "the 4 tasks wait side by side (5), then each worker runs its own"
            " callback, side by side (1) = 6 units", "5 + 1 = 6 s"),
    ]
    return Outcome(
        "io-bound", "I/O-bound work: processes vs threads",
        "For waiting (I/O) work, threads do as well as processes, and their callbacks run "
        "in whichever worker finished, so they overlap.",
        os.getpid(), runs, checks=_callbacks_checks(p_spans, t_spans))


def _cores_used(spans: Sequence[Span]) -> float:
    """How many cores' worth of CPU the tasks got while they ran, together."""
    tasks = _of_kind(spans, "task")
    wall = max(s.end for s in tasks) - min(s.start for s in tasks)
    return sum(s.cpu for s in tasks) / max(wall, 1e-9)


def _calibrate(target_cpu_seconds: float) -> int:
    """How many spin() rounds take *target_cpu_seconds* of CPU time here."""
    probe = 400_000
    start = time.thread_time()
    spin(probe)
    took = max(time.thread_time() - start, 1e-6)
    return max(1_000, int(probe * target_cpu_seconds / took))


def _cpu_note(got: float, assumed: float, load: float, cores: int) -> str:
    note = f"the tasks got {got:.2f} cores' worth of CPU; the theory assumes {assumed:g}"
    if load >= cores:
        note += f" -- the machine is busy (load average {load:.1f} on {cores} cores)"
    return note


def exp_cpu_bound(setup: Setup) -> Outcome:
    u = setup.unit
    iterations = _calibrate(5 * u)
    c = cpu_task(0, iterations)[1][0].cpu  # CPU seconds of one task (5 units, about)
    cores = usable_cpu_count()
    sharing = min(POOL_SIZE, cores)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    t_spans, t_t0, t_measured = _four_tasks_with_callbacks(
        setup, setup.pools.ThreadPool(POOL_SIZE), cpu_task, iterations)
    pool = _warm_process_pool(setup)
    p_spans, p_t0, p_measured = _four_tasks_with_callbacks(setup, pool, cpu_task, iterations)
    threads_got, processes_got = _cores_used(t_spans), _cores_used(p_spans)
    threads_predicted = 4 * c + u
    processes_predicted = 4 * c / sharing + 4 * u
    runs = [
        Run("4 CPU tasks + 1-unit callbacks, 4 threads", t_spans, t_t0, t_measured,
            threads_predicted, setup.tolerance(threads_predicted, cpu=True),
            f"one GIL: the 4 tasks (c = {c:.2f} s of CPU each) take turns on one core and"
            " end together at 4c; then the callbacks sleep side by side (1 unit)",
            "20 + 4 = 24 s (it counts the callbacks one after another;"
            " they sleep, so in a thread pool they overlap)",
            note=_cpu_note(threads_got, 1, load, cores)),
        Run(f"4 CPU tasks + 1-unit callbacks, 4 processes on {cores} cores", p_spans,
            p_t0, p_measured, processes_predicted,
            setup.tolerance(processes_predicted, cpu=True),
            f"4 tasks of c = {c:.2f} s of CPU share {sharing} free cores and end together"
            f" at 4c/{sharing}; then the parent runs the 4 callbacks one after another"
            " (4 units)",
            "5 + 4 = 9 s -- on 4 cores; with fewer, the tasks share them",
            note=_cpu_note(processes_got, sharing, load, cores)),
    ]
    return Outcome(
        "cpu-bound", "CPU-bound work: threads vs processes",
        "For computing, threads take turns under the GIL (no faster than one after "
        "another); processes use every core.",
        os.getpid(), runs,
        checks={
            "thread pool: every task ran in this one process (one GIL)":
                all(s.pid == os.getpid() for s in _of_kind(t_spans, "task")),
            "process pool: every task ran in a worker process":
                all(s.pid != os.getpid() for s in _of_kind(p_spans, "task")),
        },
        facts={"cpu_seconds_per_task": c, "usable_cores": cores, "load_average": load,
               "iterations": iterations, "cores_the_threads_got": threads_got,
               "cores_the_processes_got": processes_got})


# ------------------------------------------------------- the echo server
class _Served:
    """What the server's handlers note: spans, and the most handler threads alive."""

    def __init__(self, thread_prefix: str) -> None:
        self.recorder = _Recorder()
        self.thread_prefix = thread_prefix
        self.lock = threading.Lock()  # guards peak
        self.peak = 0

    def note_threads(self) -> None:
        alive = sum(1 for t in threading.enumerate() if t.name.startswith(self.thread_prefix))
        with self.lock:
            self.peak = max(self.peak, alive)


def _talk(conn: socket.socket, seconds: float, served: _Served) -> None:
    """The tutorial's talk(conn): echo upper-cased until the client hangs up."""
    start = time.monotonic()
    served.note_threads()
    label = "?"
    with conn:
        while True:
            try:
                data = conn.recv(1024)
            except ConnectionResetError:
                break
            if not data:
                break
            label = data.split()[-1].decode()  # b"hello from 17" -> "17"
            time.sleep(seconds)  # the server's own slow step: 1 unit of I/O per request
            conn.sendall(data.upper())
    served.recorder.add(_span("task", label, start))


def _accept(listener: socket.socket, clients: int,
            handle: Callable[[socket.socket], None]) -> None:
    """The body of the acceptor thread: hand each of *clients* connections on."""
    for _ in range(clients):
        conn, _address = listener.accept()
        conn.settimeout(None)
        handle(conn)


def _run_clients(address: Any, clients: int, timeout: float) -> dict[int, bytes]:
    """Connect *clients* clients at once from this one thread; return their echoes."""
    selector = selectors.DefaultSelector()
    sockets = []
    replies: dict[int, bytes] = {}
    try:
        for i in range(clients):
            sock = socket.create_connection(address, timeout=timeout)
            sockets.append(sock)
            message = f"hello from {i}".encode()
            sock.sendall(message)
            selector.register(sock, selectors.EVENT_READ, (i, len(message), bytearray()))
        deadline = time.monotonic() + timeout
        while len(replies) < clients:
            ready = selector.select(timeout=max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError(f"only {len(replies)} of {clients} clients got an echo")
            for key, _events in ready:
                i, expected, received = key.data
                chunk = key.fileobj.recv(1024)  # type: ignore[union-attr]
                received += chunk
                if len(received) >= expected or not chunk:
                    replies[i] = bytes(received)
                    selector.unregister(key.fileobj)
                    key.fileobj.close()  # type: ignore[union-attr]  # the server's talk ends
    finally:
        for sock in sockets:
            sock.close()
        selector.close()
    return replies


def _serve(clients: int, handle: Callable[[socket.socket], None],
           recorder: _Recorder) -> tuple[dict[int, bytes], float, float]:
    """Serve *clients* clients on loopback; handle(conn) gets each connection."""
    with socket.create_server(("127.0.0.1", 0), backlog=clients) as listener:
        listener.settimeout(60)  # never hang the demo if a client fails
        acceptor = threading.Thread(target=_accept, args=(listener, clients, handle),
                                    name="echo-acceptor")
        acceptor.start()
        t0 = time.monotonic()
        with recorder.main("clients"):
            replies = _run_clients(listener.getsockname(), clients, timeout=60)
        measured = time.monotonic() - t0
        acceptor.join()
    return replies, t0, measured


def exp_echo_server(setup: Setup) -> Outcome:
    u = setup.unit
    clients = ECHO_CLIENTS_QUICK if setup.quick else ECHO_CLIENTS
    # The tutorial's server: one new thread per connection.
    per_connection = _Served("echo-conn-")
    threads: list[threading.Thread] = []

    def start_a_thread(conn: socket.socket) -> None:
        thread = threading.Thread(target=_talk, args=(conn, u, per_connection),
                                  name=f"echo-conn-{len(threads)}")
        thread.start()
        threads.append(thread)

    replies_1, t0_1, measured_1 = _serve(clients, start_a_thread, per_connection.recorder)
    for thread in threads:
        thread.join()
    # The same server, its connections handled by a pool of POOL_SIZE threads.
    pooled = _Served("echo-pool")
    pool = setup.pools.ThreadPool(POOL_SIZE, thread_name_prefix="echo-pool")
    replies_2, t0_2, measured_2 = _serve(
        clients, lambda conn: pool.submit(_talk, conn, u, pooled), pooled.recorder)
    pool.shutdown(wait=True)
    expected = {i: f"HELLO FROM {i}".encode() for i in range(clients)}
    pooled_predicted = math.ceil(clients / POOL_SIZE) * u
    runs = [
        Run(f"{clients} clients, a thread per connection", per_connection.recorder.spans,
            t0_1, measured_1, u, setup.tolerance(u),
            f"{clients} threads serve all the clients at once: 1 unit",
            "fine for a few clients; 10,000 would mean 10,000 threads",
            drawn=False),
        Run(f"{clients} clients, {POOL_SIZE} pooled threads", pooled.recorder.spans, t0_2,
            measured_2, pooled_predicted, setup.tolerance(pooled_predicted),
            f"{POOL_SIZE} threads serve {clients} clients, 1 unit each:"
            f" {math.ceil(clients / POOL_SIZE)} rounds",
            "a pool caps the threads at what the machine can bear"),
    ]
    served_by = {s.thread for s in _of_kind(pooled.recorder.spans, "task")}
    return Outcome(
        "echo-server", "an echo server: a thread per connection vs a pool",
        "A thread per connection makes as many threads as there are clients; a pool "
        "serves them all with a bounded number, trading time for safety.",
        os.getpid(), runs,
        checks={
            "every client got its echo back, upper-cased (both servers)":
                replies_1 == expected == replies_2,
            f"pooled: never more than {POOL_SIZE} handler threads alive":
                pooled.peak <= POOL_SIZE and len(served_by) <= POOL_SIZE,
        },
        facts={"clients": clients, "per_connection_peak_threads": per_connection.peak,
               "pooled_peak_threads": pooled.peak, "pooled_threads_used": len(served_by)})


EXPERIMENTS: dict[str, Callable[[Setup], Outcome]] = {
    "submit": exp_submit,
    "result-in-loop": exp_result_in_loop,
    "shutdown": exp_shutdown,
    "coupled": exp_coupled,
    "callbacks": exp_callbacks,
    "io-bound": exp_io_bound,
    "cpu-bound": exp_cpu_bound,
    "echo-server": exp_echo_server,
}


# ------------------------------------------------------------- drawing
FILL = {"task": "=", "handle": "~", "main": "."}
COLOUR = {"task": "32", "handle": "33", "main": "36"}  # green, yellow, cyan
_POOL_THREAD = re.compile(r"Thread-\d+ \((.+)\)")  # "Thread-3 (_executor_manager_thread)"


def _lane_who(pid: int, thread: str, main_pid: int) -> str:
    """What ran in a lane: "worker process", "main thread", or the thread's name."""
    if pid != main_pid:
        return "worker process"
    if thread == "MainThread":
        return "main thread"
    match = _POOL_THREAD.fullmatch(thread)
    return match.group(1) if match else thread


def _lane_name(pid: int, thread: str, main_pid: int) -> str:
    who = _lane_who(pid, thread, main_pid)
    return f"{who[:LANE_LABEL - 13]:<{LANE_LABEL - 13}} pid {pid}"


def _lanes(run: Run, main_pid: int) -> list[tuple[int, str]]:
    """(pid, thread) of each lane: the main thread, its process's threads, workers."""
    first_start: dict[tuple[int, str], float] = {}
    for span in sorted(run.spans, key=lambda s: s.start):
        first_start.setdefault((span.pid, span.thread), span.start)

    def order(key: tuple[int, str]) -> tuple[int, tuple[Any, ...], float]:
        pid, thread = key
        if pid == main_pid:
            return (0 if thread == "MainThread" else 1, _natural(thread), 0.0)
        return (2, (), first_start[key])

    return sorted(first_start, key=order)


def _natural(name: str) -> tuple[Any, ...]:
    """A sort key that puts "echo-conn-2" before "echo-conn-10"."""
    parts = re.split(r"(\d+)", name)  # text, digits, text, ...: the types always line up
    return tuple(int(part) if index % 2 else part for index, part in enumerate(parts))


def _paint(text: list[str], kinds: list[str], span: Span, column: Callable[[float], int]
           ) -> None:
    start = min(column(span.start), WIDTH - 1)
    end = min(max(column(span.end), start + 1), WIDTH)
    painted = (span.label + FILL[span.kind] * WIDTH)[: end - start]
    text[start:end] = list(painted)
    kinds[start:end] = [span.kind] * (end - start)


def _coloured(text: list[str], kinds: list[str], colour: bool) -> str:
    if not colour:
        return "".join(text)
    out, current = [], ""
    for char, kind in zip(text, kinds):
        if kind != current:
            out.append("\033[0m" if not kind else f"\033[{COLOUR[kind]}m")
            current = kind
        out.append(char)
    return "".join(out) + ("\033[0m" if current else "")


def draw_timeline(run: Run, main_pid: int, colour: bool = False) -> list[str]:
    """The run as text: one lane per (pid, thread), time running left to right."""
    end = max([run.t0 + run.measured] + [s.end for s in run.spans])
    total = max(end - run.t0, 1e-9)

    def column(moment: float) -> int:
        return max(0, int((moment - run.t0) / total * WIDTH + 0.5))

    lines = []
    for pid, thread in _lanes(run, main_pid):
        text, kinds = [" "] * WIDTH, [""] * WIDTH
        for span in sorted(run.spans, key=lambda s: s.start):
            if (span.pid, span.thread) == (pid, thread):
                _paint(text, kinds, span, column)
        name = _lane_name(pid, thread, main_pid)[:LANE_LABEL]
        lines.append(f"  {name:<{LANE_LABEL}}|{_coloured(text, kinds, colour)}|")
    # Cell i is at offset i + 1 (after the "|"), so quarter q of the time is at 1 + q*W/4.
    ticks = " +" + ("-" * (WIDTH // 4 - 1) + "+") * 4
    scale = " " + "".join(f"{total * q / 4:<{WIDTH // 4}.2f}" for q in range(4))
    lines.append(f"  {'':<{LANE_LABEL}}{ticks}")
    lines.append(f"  {'seconds':<{LANE_LABEL}}{scale}{total:.2f}")
    return lines


LEGEND = ("  legend: 3==== task 3 | c3~~ its callback, p3~~ its result handled |"
          " .... the main thread waiting or working")


# ------------------------------------------------------- the HTML report
def _recording_of(run: Run, main_pid: int) -> _Recording:
    """A run as the HTML report draws it: its lanes in draw_timeline's order."""
    tracks = {}
    for pid, thread in _lanes(run, main_pid):
        who = _lane_who(pid, thread, main_pid)
        label = f"{who} {pid}" if pid != main_pid else who  # the page gives the main pid
        tracks[(pid, thread)] = _Track(pid, "" if pid != main_pid else thread, label)
    slices = []
    for span in run.spans:
        track, number = tracks[(span.pid, span.thread)], span.label[1:]
        if span.kind == "task":
            kind, name, ending = "task", f"task {span.label}", "result"
        elif span.kind == "handle" and span.label.startswith("c"):
            kind, name, ending = "callback", f"{span.label}: callback of task {number}", ""
        elif span.kind == "handle":
            kind, name, ending = "handle", f"{span.label}: task {number}'s result handled", ""
        else:
            kind, name, ending = "main", span.label, ""
        slices.append(_Slice(track, kind, name, span.start, span.end, ending=ending))
    notes = [f"measured {run.measured:.2f} s, predicted {run.predicted:.2f} s"
             f" +/- {run.tolerance:.2f} s; theory: {run.theory}",
             f"the tutorial: {run.tutorial}"] + ([run.note] if run.note else [])
    return _Recording(run.title, main_pid, list(tracks.values()), slices, notes=notes)


def _html_sections(outcomes: Sequence[Outcome]) -> list[_Section]:
    """One section per experiment, one timeline per run."""
    numbers = {name: n for n, name in enumerate(EXPERIMENTS, 1)}
    return [_Section(f"{numbers.get(o.name, 0)}. {o.name}: {o.title}", [o.lesson],
                     [_recording_of(run, o.main_pid) for run in o.runs], dict(o.checks))
            for o in outcomes]


def write_html(path: str, outcomes: Sequence[Outcome], setup: Setup) -> None:
    """The demo's recordings as one HTML page: a section per experiment."""
    title = (f"minipool demo on {setup.pools.name}'s pools: the tutorial's lessons, drawn"
             f" (1 unit = {setup.unit} s)")
    _write_page(path, title, _html_sections(outcomes))


def _trace_recording(outcomes: Sequence[Outcome], setup: Setup) -> _Recording:
    """Every run on one time axis (they ran one after another), and a lane of the runs."""
    main_pid = os.getpid()
    runs_track = _Track(main_pid, "the demo's runs", "the demo's runs")
    tracks: dict[_Track, None] = {runs_track: None}  # an ordered set
    slices = []
    for outcome in outcomes:
        for run in outcome.runs:
            recording = _recording_of(run, outcome.main_pid)
            tracks.update(dict.fromkeys(recording.tracks))
            slices += recording.slices
            slices.append(_Slice(runs_track, "run", f"{outcome.name}: {run.title}", run.t0,
                                 run.t0 + run.measured, note=recording.notes[0]))
    return _Recording(f"minipool demo ({setup.pools.name}'s pools)", main_pid, list(tracks),
                      slices)


def write_trace(path: str, outcomes: Sequence[Outcome], setup: Setup) -> None:
    """The demo's recordings as one Chrome/Perfetto trace (open it in ui.perfetto.dev)."""
    with open(path, "w", encoding="utf-8") as file:
        json.dump(_trace_document(_trace_recording(outcomes, setup)), file)


# ------------------------------------------------------------ reporting
def _verdict(run: Run, setup: Setup) -> str:
    if setup.quick:
        return "not judged (--quick)"
    return "OK" if run.within_tolerance else "OUT OF TOLERANCE (see the note at the end)"


def print_outcome(outcome: Outcome, number: int, setup: Setup, colour: bool) -> None:
    print(f"\n== {number}. {outcome.name}: {outcome.title} ==")
    print(f"  {outcome.lesson}")
    for run in outcome.runs:
        print(f"\n  {run.title}")
        if run.drawn:
            for line in draw_timeline(run, outcome.main_pid, colour):
                print(line)
        else:
            print("  (one lane per connection: too many to draw)")
        print(f"  measured {run.measured:.2f} s   predicted {run.predicted:.2f} s"
              f" +/- {run.tolerance:.2f} s   -> {_verdict(run, setup)}")
        print(f"  theory:   {run.theory}")
        print(f"  tutorial: {run.tutorial}")
        if run.note:
            print(f"  note:     {run.note}")
    for fact, value in outcome.facts.items():
        shown = f"{value:.3f}" if isinstance(value, float) else value
        print(f"  {fact.replace('_', ' ')}: {shown}")
    for claim, holds in outcome.checks.items():
        print(f"  [{'yes' if holds else 'NO!'}] {claim}")


def run_experiments(names: Sequence[str], impl: str = "minipool", quick: bool = False,
                    on_outcome: Optional[Callable[[int, Outcome], None]] = None
                    ) -> list[Outcome]:
    """Run the named experiments, in EXPERIMENTS' order; return their recordings.

    *on_outcome(number, outcome)* is called as each one finishes (number: its
    place in EXPERIMENTS, from 1).
    """
    setup = Setup(IMPLS[impl], QUICK_UNIT if quick else FULL_UNIT, quick)
    outcomes = []
    for number, (name, experiment) in enumerate(EXPERIMENTS.items(), 1):
        if name in names:
            outcomes.append(experiment(setup))
            if on_outcome is not None:
                on_outcome(number, outcomes[-1])
    return outcomes


def _as_json(outcomes: Sequence[Outcome], setup: Setup,
             load: tuple[LoadAverage, LoadAverage, int]) -> str:
    data = []
    for outcome in outcomes:
        item = dataclasses.asdict(outcome)
        for run, run_data in zip(outcome.runs, item["runs"]):
            run_data["within_tolerance"] = run.within_tolerance
        data.append(item)
    before, after, cores = load
    return json.dumps({"impl": setup.pools.name, "unit": setup.unit, "quick": setup.quick,
                       "load_average": {"before": before, "after": after},
                       "usable_cores": cores, "experiments": data}, indent=1)


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m minipool demo",
        description="Run the tutorial's pool experiments; draw and time each one.")
    parser.add_argument("--impl", choices=sorted(IMPLS), default="minipool",
                        help="whose pools to run on (default: minipool)")
    parser.add_argument("--only", action="append", choices=list(EXPERIMENTS),
                        metavar="NAME", help="run only this experiment (repeatable): "
                        + ", ".join(EXPERIMENTS))
    parser.add_argument("--quick", action="store_true",
                        help=f"1 unit = {QUICK_UNIT} s instead of {FULL_UNIT} s;"
                        " timings are shown but not judged")
    parser.add_argument("--json", action="store_true",
                        help="print the recordings as JSON instead of timelines")
    parser.add_argument("--no-color", action="store_true", help="never use colour")
    parser.add_argument("--html", metavar="FILE",
                        help="also write the timelines as one HTML report (a section per"
                        " experiment; open it in a browser)")
    parser.add_argument("--trace", metavar="FILE",
                        help="also write them as one Chrome/Perfetto trace (JSON; open it in"
                        " ui.perfetto.dev)")
    return parser.parse_args(list(argv))


def _load_average() -> LoadAverage:
    """The 1, 5 and 15 minute load averages (None where the OS has none, e.g. Windows)."""
    try:
        return os.getloadavg()
    except (AttributeError, OSError):
        return None


def _shown_load(load: LoadAverage) -> str:
    return "unknown" if load is None else ", ".join(f"{x:.1f}" for x in load)


def _drift_note(drifted: Sequence[tuple[Outcome, Run]], judged: int, before: LoadAverage,
                after: LoadAverage, cores: int) -> list[str]:
    """Why some measured totals missed their tolerance, and why that is not a failure."""
    lines = [f"note: {len(drifted)} of {judged} measured totals drifted outside their"
             " tolerance:"]
    for outcome, run in drifted:
        lines.append(f"  {outcome.name}: {run.title} -- measured {run.measured:.2f} s,"
                     f" predicted {run.predicted:.2f} +/- {run.tolerance:.2f} s")
    why = (f"Load average (1, 5, 15 min): {_shown_load(before)} before the tour,"
           f" {_shown_load(after)} after; {cores} usable cores ({os.cpu_count()} CPUs in"
           " the machine).")
    busiest = max([load[0] for load in (before, after) if load is not None], default=None)
    if busiest is not None and busiest >= cores:
        why += (" Other programs were sharing the CPUs, so the work took longer than the"
                " theory, which assumes free cores.")
    else:
        why += (" The load average does not show other programs using every core, but it"
                " is an average: a burst of other work, or a slow start of processes,"
                " stretches the totals too.")
    why += (" The timings are for watching; each lesson is judged by its conclusions"
            " (above), so the exit status stays 0. On a quieter machine the totals come"
            " close to the theory.")
    return lines + textwrap.wrap(why, width=96, initial_indent="  ", subsequent_indent="  ")


def main(argv: Sequence[str]) -> int:
    """``python -m minipool demo [--impl stdlib] [--only NAME] [--quick] [--json] [--html F]``.

    Exit status 0 when every conclusion held, 1 when one did not. A measured
    total outside its tolerance (the machine was busy, say) is reported, with
    the load average before and after, but does not change the exit status:
    the conclusions are about order and place, the totals about time.
    """
    args = _parse_args(argv)
    setup = Setup(IMPLS[args.impl], QUICK_UNIT if args.quick else FULL_UNIT, args.quick)
    names = args.only or list(EXPERIMENTS)
    colour = (sys.stdout.isatty() and not args.no_color and not args.json
              and "NO_COLOR" not in os.environ)
    started = time.monotonic()
    cores = usable_cpu_count()
    load_before = _load_average()
    if not args.json:
        print(f"minipool demo on {setup.pools.name}'s pools: 1 unit (the tutorial's second)"
              f" = {setup.unit} s; {cores} usable cores; load average"
              f" {_shown_load(load_before)}")
        print(LEGEND)

    def show(number: int, outcome: Outcome) -> None:
        if not args.json:
            print_outcome(outcome, number, setup, colour)

    outcomes = run_experiments(names, args.impl, args.quick, show)
    load_after = _load_average()
    conclusions = [h for o in outcomes for h in o.checks.values()]
    runs = [(o, r) for o in outcomes for r in o.runs]
    drifted = [] if setup.quick else [(o, r) for o, r in runs if not r.within_tolerance]
    if args.json:
        print(_as_json(outcomes, setup, (load_before, load_after, cores)))
    else:
        judged = "not judged (--quick)" if setup.quick else (
            f"{len(runs) - len(drifted)} of {len(runs)} totals within tolerance")
        print(f"\n{conclusions.count(True)} of {len(conclusions)} conclusions held; {judged};"
              f" the tour took {time.monotonic() - started:.1f} s.")
        if drifted:
            print("\n".join(_drift_note(drifted, len(runs), load_before, load_after, cores)))
        if not all(conclusions):
            print("A lesson did not hold (a [NO!] above): that is a bug in the pool"
                  " (or in the demo); the exit status is 1.")
    written = sys.stderr if args.json else sys.stdout  # --json: stdout is the JSON alone
    if args.html:
        write_html(args.html, outcomes, setup)
        print(f"wrote {args.html}: the timelines of {len(outcomes)} experiments, as HTML",
              file=written)
    if args.trace:
        write_trace(args.trace, outcomes, setup)
        print(f"wrote {args.trace}: the timelines of {len(outcomes)} experiments, as a trace",
              file=written)
    return 0 if all(conclusions) else 1
