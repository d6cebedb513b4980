"""``python -m minipool bench``: minipool, the stdlib and its peers, side by side.

Usage::

    python -m minipool bench              # the full run (minutes; 12 with the peers, busy machine)
    python -m minipool bench --quick      # smaller sizes, 3 rounds (30 s; 100 s with the peers)
    python -m minipool bench --smoke      # tiny sizes, one round: "does it work" (CI)
    python -m minipool bench --goals      # only the three rows issue 14's pipelining must meet
    python -m minipool bench --json       # the same numbers, as JSON on stdout
    python -m minipool bench --markdown   # a table for docs/performance.md
    python -m minipool bench --only process   # workloads whose key contains "process"
    python -m minipool bench --skip loky      # leave out one reference column (repeatable)

How it measures
---------------
Every workload runs on each implementation in turn, in one process,
interleaved round by round (minipool, stdlib, the references, minipool,
stdlib, ...), so that a slow patch of the machine (other processes, thermal
throttling) hits all alike. Per implementation it keeps every round's figure
and prints the median, the min-max spread and the ratio of medians
implementation / stdlib (below 1.00: better than the stdlib; for
"efficiency", above 1.00 is better). A table of all the ratios closes the run.

References (each runs in the same rounds, wherever it has an equivalent call):

* ``mp.Pool`` / ``mp.ThreadPool``: the stdlib's other pools, and on small
  tasks its fastest.
* The peers: loky, pebble and mpire, when they are installed
  (``pip install 'minipool[bench]'``). A missing peer's column is simply
  absent; one line names it. ``PEER_NOTES`` says which call each peer
  uses where it has no futures.
* ``floor``: a bare pickled call over a pipe to forked children, pipelined
  (``PipeFloor``), on the three goal rows: what a pipe on this machine allows.

Goal rows: ``Workload.goal`` marks the three rows that the process pool's
dispatcher is judged by (issue 14: submit+wait of no-ops, map with
chunksize=1000, ping-pong); ``--goals`` runs only them.

Timing covers only the workload: pools are started and warmed up (one task
run) before the clock starts, and shut down after it stops -- except in the
"cold start" workload, which times exactly that.

Speed is measured here, never in tests (``tests/test_bench.py`` only checks
that the benchmark runs and reports every workload and column).
"""

from __future__ import annotations

import argparse
import concurrent.futures  # the stdlib's pools: what minipool is measured against
import datetime
import functools
import gc
import importlib
import importlib.metadata
import itertools
import json
import multiprocessing
import multiprocessing.pool
import os
import pickle
import platform
import queue
import statistics
import sys
import threading
import time
import tracemalloc
from multiprocessing.connection import Connection
from typing import Any, Callable, Iterable, NamedTuple, Optional

import minipool

MINIPOOL = "minipool"
STDLIB = "stdlib"
MP_POOL = "mp.Pool"
MP_THREADPOOL = "mp.ThreadPool"
LOKY = "loky"
PEBBLE = "pebble"
MPIRE = "mpire"
FLOOR = "floor"

THREAD = "thread"
PROCESS = "process"

INSTALL_PEERS = "pip install 'minipool[bench]'"

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


def pid_after_a_pause(_: Any = None) -> int:
    time.sleep(0.005)  # long enough that one worker cannot take every warm-up task alone
    return os.getpid()


def call_each(fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    """The floor's chunk: one pickled call that runs *fn* on every item."""
    return list(map(fn, items))


# ------------------------------------------------- implementations (adapters)
class Impl:
    """How the workloads drive one implementation: a pool, calls, a shutdown.

    A workload calls only these methods, so each implementation's own API
    (futures, AsyncResults, a bare pipe) stays in its subclass. *handles* is
    whatever ``start_all`` returns (a list of futures, of AsyncResults, ...).
    """

    name = ""
    kinds: tuple[str, ...] = (THREAD, PROCESS)  # the pools it has
    distribution = ""  # the package pip installs it from; "" for the stdlib and minipool

    def available(self) -> bool:
        return True

    def version(self) -> str:
        return importlib.metadata.version(self.distribution) if self.distribution else ""

    def runs(self, workload: Workload) -> bool:
        """Whether it has an equivalent of *workload*."""
        return workload.kind in self.kinds

    def pool(self, kind: str, workers: int, initializer: Optional[Callable[..., None]] = None,
             initargs: tuple[Any, ...] = ()) -> Any:
        raise NotImplementedError

    def warm_up(self, pool: Any) -> None:
        """Run one task, so that workers exist before the clock starts."""
        self.call(pool, noop, None)

    def start_all(self, pool: Any, fn: Callable[[Any], Any], items: Iterable[Any],
                  callback: Optional[Callable[[Any], None]] = None) -> Any:
        """Submit ``fn(item)`` for every item; return the handles, not waiting."""
        raise NotImplementedError

    def wait_all(self, handles: Any) -> None:
        raise NotImplementedError

    def results(self, handles: Any) -> list[Any]:
        raise NotImplementedError

    def call(self, pool: Any, fn: Callable[[Any], Any], item: Any) -> Any:
        """``fn(item)`` in the pool, waited for: one ping-pong."""
        raise NotImplementedError

    def map(self, pool: Any, fn: Callable[[Any], Any], items: Iterable[Any],
            chunksize: Optional[int]) -> list[Any]:
        """``map`` with this chunksize; None: the implementation's default."""
        raise NotImplementedError

    def close(self, pool: Any) -> None:
        """Done with *pool* for this run."""
        raise NotImplementedError

    def shut_down(self, pool: Any) -> None:
        """Shut *pool* down for good (the cold-start row times this)."""
        self.close(pool)

    def finish(self) -> None:
        """The benchmark is over: release anything kept between runs."""

    def event(self) -> Any:
        """An event that this implementation's workers can be handed."""
        assert FORK is not None
        return FORK.Event()


class Executors(Impl):
    """concurrent.futures' API: submit, map, shutdown (minipool and the stdlib)."""

    def __init__(self, name: str, package: Any) -> None:
        self.name = name
        self.package = package  # minipool or concurrent.futures

    def pool(self, kind: str, workers: int, initializer: Optional[Callable[..., None]] = None,
             initargs: tuple[Any, ...] = ()) -> Any:
        if kind == THREAD:
            return self.package.ThreadPoolExecutor(workers)
        return self.package.ProcessPoolExecutor(workers, mp_context=FORK,
                                                initializer=initializer, initargs=initargs)

    def start_all(self, pool: Any, fn: Callable[[Any], Any], items: Iterable[Any],
                  callback: Optional[Callable[[Any], None]] = None) -> Any:
        submit = pool.submit
        if callback is None:
            return [submit(fn, item) for item in items]
        futures = []
        for item in items:
            future = submit(fn, item)
            future.add_done_callback(callback)
            futures.append(future)
        return futures

    def wait_all(self, handles: Any) -> None:
        self.package.wait(handles)

    def results(self, handles: Any) -> list[Any]:
        return [future.result() for future in handles]

    def call(self, pool: Any, fn: Callable[[Any], Any], item: Any) -> Any:
        return pool.submit(fn, item).result()

    def map(self, pool: Any, fn: Callable[[Any], Any], items: Iterable[Any],
            chunksize: Optional[int]) -> list[Any]:
        if chunksize is None:
            return list(pool.map(fn, items))
        return list(pool.map(fn, items, chunksize=chunksize))

    def close(self, pool: Any) -> None:
        pool.shutdown(wait=True)


class AsyncResults(Impl):
    """Handles that have ``wait()`` and ``get()``: multiprocessing's and mpire's AsyncResult."""

    def wait_all(self, handles: Any) -> None:
        for result in handles:
            result.wait()

    def results(self, handles: Any) -> list[Any]:
        return [result.get() for result in handles]


class MultiprocessingPool(AsyncResults):
    """``multiprocessing.Pool`` (fork) or ``multiprocessing.pool.ThreadPool``."""

    def __init__(self, name: str, kind: str) -> None:
        self.name = name
        self.kinds = (kind,)

    def pool(self, kind: str, workers: int, initializer: Optional[Callable[..., None]] = None,
             initargs: tuple[Any, ...] = ()) -> Any:
        if kind == THREAD:
            return multiprocessing.pool.ThreadPool(workers)
        assert FORK is not None
        return FORK.Pool(workers, initializer=initializer, initargs=initargs)

    def warm_up(self, pool: Any) -> None:
        pool.apply(noop)

    def start_all(self, pool: Any, fn: Callable[[Any], Any], items: Iterable[Any],
                  callback: Optional[Callable[[Any], None]] = None) -> Any:
        return [pool.apply_async(fn, (item,), callback=callback) for item in items]

    def call(self, pool: Any, fn: Callable[[Any], Any], item: Any) -> Any:
        return pool.apply(fn, (item,))

    def map(self, pool: Any, fn: Callable[[Any], Any], items: Iterable[Any],
            chunksize: Optional[int]) -> list[Any]:
        return list(pool.map(fn, items, chunksize=chunksize))

    def close(self, pool: Any) -> None:
        pool.close()
        pool.join()


class Peer(Impl):
    """A library minipool is compared with; its column appears only if it is installed.

    The module is imported by name when the benchmark first needs it, so a
    missing peer costs nothing and mypy needs none of their stubs.
    """

    def __init__(self, name: str, distribution: str) -> None:
        self.name = name
        self.distribution = distribution
        self._module: Any = None

    def available(self) -> bool:
        try:
            self.module()
        except ImportError:
            return False
        return True

    def module(self) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self.name)
        return self._module


class Loky(Peer, Executors):
    """loky: ``get_reusable_executor``, a concurrent.futures executor (processes only).

    Reusable means shared: it hands back the same executor while the
    arguments match (and starts a new one when they differ, or after a
    shutdown). So ``close`` leaves it running for the next run, as loky's
    users do; ``shut_down`` (the cold-start row) and ``finish`` (the end of
    the benchmark) shut it down. It starts its workers its own way (fork+exec,
    as spawn does; loky warns against fork), which ``warm_up`` waits for.
    """

    kinds = (PROCESS,)

    def __init__(self) -> None:
        Peer.__init__(self, LOKY, "loky")
        self._executor: Any = None  # the last one handed out

    def pool(self, kind: str, workers: int, initializer: Optional[Callable[..., None]] = None,
             initargs: tuple[Any, ...] = ()) -> Any:
        self._executor = self.module().get_reusable_executor(
            max_workers=workers, initializer=initializer, initargs=initargs)
        return self._executor

    def close(self, pool: Any) -> None:
        pass  # reusable: the next run gets it back

    def shut_down(self, pool: Any) -> None:
        pool.shutdown(wait=True)

    def finish(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def wait_all(self, handles: Any) -> None:
        concurrent.futures.wait(handles)  # loky's futures are concurrent.futures'

    def event(self) -> Any:
        # A fork context's event cannot be handed to a worker that loky spawned.
        return self.module().backend.context.get_context().Event()


class Pebble(Peer, Executors):
    """pebble: ``ProcessPool`` (fork) / ``ThreadPool``; ``schedule`` returns futures."""

    def __init__(self) -> None:
        Peer.__init__(self, PEBBLE, "pebble")

    def pool(self, kind: str, workers: int, initializer: Optional[Callable[..., None]] = None,
             initargs: tuple[Any, ...] = ()) -> Any:
        if kind == THREAD:
            return self.module().ThreadPool(max_workers=workers)
        return self.module().ProcessPool(max_workers=workers, initializer=initializer,
                                         initargs=initargs, context=FORK)

    def start_all(self, pool: Any, fn: Callable[[Any], Any], items: Iterable[Any],
                  callback: Optional[Callable[[Any], None]] = None) -> Any:
        schedule = pool.schedule
        futures = [schedule(fn, args=(item,)) for item in items]
        if callback is not None:
            for future in futures:
                future.add_done_callback(callback)
        return futures

    def wait_all(self, handles: Any) -> None:
        concurrent.futures.wait(handles)

    def call(self, pool: Any, fn: Callable[[Any], Any], item: Any) -> Any:
        return pool.schedule(fn, args=(item,)).result()

    def map(self, pool: Any, fn: Callable[[Any], Any], items: Iterable[Any],
            chunksize: Optional[int]) -> list[Any]:
        return list(pool.map(fn, items, chunksize=chunksize or 1).result())  # its default: 1

    def close(self, pool: Any) -> None:
        pool.close()
        pool.join()


class MpirePool(NamedTuple):
    workers: Any  # mpire.WorkerPool
    worker_init: Optional[Callable[[], None]]  # mpire takes it per call, not per pool


class Mpire(Peer, AsyncResults):
    """mpire: ``WorkerPool(keep_alive=True)``; it has no futures (see ``PEER_NOTES``).

    Processes only: its threading backend is built for map, not for single
    calls (10-14x the stdlib on the thread rows in a trial run).
    """

    kinds = (PROCESS,)

    def __init__(self) -> None:
        Peer.__init__(self, MPIRE, "mpire")

    def pool(self, kind: str, workers: int, initializer: Optional[Callable[..., None]] = None,
             initargs: tuple[Any, ...] = ()) -> Any:
        method = "threading" if kind == THREAD else "fork"
        worker_init = None if initializer is None else functools.partial(initializer, *initargs)
        return MpirePool(self.module().WorkerPool(n_jobs=workers, start_method=method,
                                                  keep_alive=True), worker_init)

    def warm_up(self, pool: Any) -> None:
        # A one-item map, not apply: in mpire 2.10, map after apply on a
        # kept-alive pool raises TypeError; apply after map works.
        pool.workers.map(noop, [None], worker_init=pool.worker_init)

    def start_all(self, pool: Any, fn: Callable[[Any], Any], items: Iterable[Any],
                  callback: Optional[Callable[[Any], None]] = None) -> Any:
        apply_async = pool.workers.apply_async
        return [apply_async(fn, args=(item,), callback=callback, worker_init=pool.worker_init)
                for item in items]

    def call(self, pool: Any, fn: Callable[[Any], Any], item: Any) -> Any:
        return pool.workers.apply(fn, args=(item,))

    def map(self, pool: Any, fn: Callable[[Any], Any], items: Iterable[Any],
            chunksize: Optional[int]) -> list[Any]:
        # chunk_size=None: mpire's default, n_jobs * 64 chunks.
        return list(pool.workers.map(fn, items, chunk_size=chunksize))

    def close(self, pool: Any) -> None:
        pool.workers.stop_and_join()


# ------------------------------------------------------------------ the floor
def serve_calls(requests: Connection, replies: Connection) -> None:
    """A floor child: receive, unpickle, call, pickle, send; an empty message stops it."""
    while True:
        message = requests.recv_bytes()
        if not message:
            return
        fn, args = pickle.loads(message)
        replies.send_bytes(pickle.dumps(fn(*args)))


class PipeFloor:
    """What a pipe on this machine allows: bare pickled calls to forked children.

    Nothing of a pool: no futures, no dispatcher, no lock; each child has a
    pipe for requests and a pipe for replies. The calling thread writes every
    request of a batch at once while the reader thread reads the replies, so
    the children never wait for the parent between calls (pipelined).

    Threads and processes::

        run(calls)                                        [calling thread]
          |  _wanted = len(calls); for call number k:
          |  _requests[k % workers].send_bytes(pickle.dumps((fn, args)))
          v
        serve_calls: recv_bytes, fn(*args), send_bytes   [child k % workers]
          v
        _read_replies                                     [reader thread]
             _replies[k % workers].recv_bytes() -> pickle.loads -> _results
             the batch's last reply -> _finished.put(_results)
          v
        finish() -> _finished.get()                       [calling thread]

    Guarantees / Assumptions:

    * Call k goes to child k % workers and each child answers in order, so
      reading the children round-robin reads the replies in call order: no
      selector is needed.
    * One batch at a time: the calling thread sets ``_wanted`` and
      ``_results`` only while no reply is due (all of the last batch's are
      in, and the new batch's first request is not written yet), so the
      reader never sees them change under it.
    * Nothing blocks for good: the reader only waits for a reply whose
      request is written (or for the end), and always reads on, so a child
      never stays blocked on a full reply pipe; the calling thread's writes
      wait only for a child that is working.
    """

    def __init__(self, workers: int) -> None:
        assert FORK is not None
        self._requests: list[Connection] = []  # written by the calling thread only
        self._replies: list[Connection] = []  # read by the reader thread only
        self._children: list[multiprocessing.process.BaseProcess] = []
        for _ in range(workers):
            request_end, request_writer = FORK.Pipe(duplex=False)
            reply_reader, reply_end = FORK.Pipe(duplex=False)
            child = FORK.Process(target=serve_calls, args=(request_end, reply_end), daemon=True)
            child.start()
            request_end.close()
            reply_end.close()  # now only the child holds it: its exit is the reader's EOF
            self._requests.append(request_writer)
            self._replies.append(reply_reader)
            self._children.append(child)
        self._sent = 0  # calls written so far (calling thread only)
        self._wanted = 0  # replies in the current batch
        self._results: list[Any] = []  # the current batch's replies (reader appends)
        self._finished: queue.SimpleQueue[list[Any]] = queue.SimpleQueue()
        self._reader = threading.Thread(target=self._read_replies, name="PipeFloor-reader",
                                        daemon=True)
        self._reader.start()

    def start(self, calls: list[tuple[Callable[..., Any], tuple[Any, ...]]]) -> None:
        self._results = []
        self._wanted = len(calls)
        requests, workers = self._requests, len(self._requests)
        for call in calls:
            requests[self._sent % workers].send_bytes(pickle.dumps(call))
            self._sent += 1

    def finish(self) -> list[Any]:
        return self._finished.get()

    def run(self, calls: list[tuple[Callable[..., Any], tuple[Any, ...]]]) -> list[Any]:
        self.start(calls)
        return self.finish()

    def _read_replies(self) -> None:
        replies, workers = self._replies, len(self._replies)
        received = 0
        while True:
            try:
                data = replies[received % workers].recv_bytes()
            except (EOFError, OSError):  # close(), or a child died: end any batch short
                self._finished.put(self._results)
                return
            received += 1
            self._results.append(pickle.loads(data))
            if len(self._results) == self._wanted:
                self._finished.put(self._results)

    def close(self) -> None:
        for requests in self._requests:
            requests.send_bytes(b"")
        for child in self._children:
            child.join()
        self._reader.join()
        for connection in self._requests + self._replies:
            connection.close()


class Floor(Impl):
    """The pipe floor (``PipeFloor``), on the goal rows only."""

    name = FLOOR
    kinds = (PROCESS,)

    def runs(self, workload: Workload) -> bool:
        return workload.goal

    def pool(self, kind: str, workers: int, initializer: Optional[Callable[..., None]] = None,
             initargs: tuple[Any, ...] = ()) -> Any:
        return PipeFloor(workers)

    def start_all(self, pool: Any, fn: Callable[[Any], Any], items: Iterable[Any],
                  callback: Optional[Callable[[Any], None]] = None) -> Any:
        pool.start([(fn, (item,)) for item in items])
        return pool

    def wait_all(self, handles: Any) -> None:
        handles.finish()

    def results(self, handles: Any) -> list[Any]:
        return list(handles.finish())

    def call(self, pool: Any, fn: Callable[[Any], Any], item: Any) -> Any:
        return pool.run([(fn, (item,))])[0]

    def map(self, pool: Any, fn: Callable[[Any], Any], items: Iterable[Any],
            chunksize: Optional[int]) -> list[Any]:
        assert chunksize is not None, "the floor has no default chunking"
        items = list(items)
        chunks = [items[i:i + chunksize] for i in range(0, len(items), chunksize)]
        return list(itertools.chain.from_iterable(
            pool.run([(call_each, (fn, chunk)) for chunk in chunks])))

    def close(self, pool: Any) -> None:
        pool.close()


IMPLS: dict[str, Impl] = {
    MINIPOOL: Executors(MINIPOOL, minipool),
    STDLIB: Executors(STDLIB, concurrent.futures),
}
# The reference columns, in the order they are run and printed.
REFERENCES: list[Impl] = [
    MultiprocessingPool(MP_POOL, PROCESS),
    MultiprocessingPool(MP_THREADPOOL, THREAD),
    Loky(),
    Pebble(),
    Mpire(),
    Floor(),
]
PEER_NOTES = {
    LOKY: "loky: get_reusable_executor(max_workers=2), reused from run to run as loky "
          "means it (shut down in the cold-start row and at the end); its workers start by "
          "fork+exec, loky's own method, which only the cold-start row feels",
    PEBBLE: "pebble: ProcessPool(context=fork) / ThreadPool; schedule() for submit; "
            "map(chunksize=1) is its default",
    MPIRE: "mpire (process rows only) has no futures: submit+wait is apply_async + "
           "AsyncResult.wait(), ping-pong is apply(); WorkerPool(start_method='fork', "
           "keep_alive=True), warmed up by a one-item map; map's default is n_jobs*64 chunks",
    FLOOR: "floor: bare pickled calls over a pipe to forked children, pipelined "
           "(PipeFloor); ping-pong is one call at a time through its reader thread",
}


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

def submit_and_wait(impl: Impl, pool: Any, n: int, fn: Callable[[Any], Any] = noop) -> float:
    with Timer() as t:
        impl.wait_all(impl.start_all(pool, fn, range(n)))
    return t.seconds


def ping_pong(impl: Impl, pool: Any, n: int) -> float:
    call = impl.call
    with Timer() as t:
        for i in range(n):
            call(pool, noop, i)
    return t.seconds


def warm_up(impl: Impl, pool: Any, kind: str, workers: int) -> None:
    """One task; in a process pool, then until every worker has answered.

    Forked workers are up at once, but loky's start by fork+exec and import
    for a while: the clock must not count that.
    """
    impl.warm_up(pool)
    if kind == THREAD:
        return
    answered: set[int] = set()
    deadline = time.monotonic() + 60
    while len(answered) < workers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{impl.name}: {len(answered)} of {workers} workers "
                               "answered in 60 s")
        answered.update(impl.results(impl.start_all(pool, pid_after_a_pause,
                                                     range(2 * workers))))


def with_warm(impl: Impl, kind: str, workers: int, run: Callable[[Any], float]) -> float:
    pool = impl.pool(kind, workers)
    try:
        warm_up(impl, pool, kind, workers)
        return run(pool)
    finally:
        impl.close(pool)


def thread_submit_wait(impl: Impl, n: int) -> float:
    return with_warm(impl, THREAD, 4, lambda pool: submit_and_wait(impl, pool, n))


def thread_ping_pong(impl: Impl, n: int) -> float:
    return with_warm(impl, THREAD, 4, lambda pool: ping_pong(impl, pool, n))


def thread_sleeps(impl: Impl, n: int) -> float:
    """Seconds over the ideal (n x 10 ms spread over 50 threads)."""
    ideal = n * 0.01 / 50
    return with_warm(impl, THREAD, 50,
                     lambda pool: submit_and_wait(impl, pool, n, sleep_10ms) - ideal)


def thread_done_callbacks(impl: Impl, n: int) -> float:
    def run(pool: Any) -> float:
        counted: list[None] = []

        def callback(_: Any) -> None:
            counted.append(None)

        with Timer() as t:
            impl.wait_all(impl.start_all(pool, noop, range(n), callback))
            # Callbacks may run after the task is done: wait until all ran.
            while len(counted) < n:
                time.sleep(0.0001)  # polling a counter; the callbacks are microseconds away
        return t.seconds

    return with_warm(impl, THREAD, 4, run)


def process_submit_wait(impl: Impl, n: int) -> float:
    return with_warm(impl, PROCESS, 2, lambda pool: submit_and_wait(impl, pool, n))


def process_ping_pong(impl: Impl, n: int) -> float:
    return with_warm(impl, PROCESS, 2, lambda pool: ping_pong(impl, pool, n))


def process_map(impl: Impl, n: int, chunksize: Optional[int]) -> float:
    def run(pool: Any) -> float:
        with Timer() as t:
            results = impl.map(pool, noop, range(n), chunksize)
        assert results == list(range(n))
        return t.seconds

    return with_warm(impl, PROCESS, 2, run)


def process_map_default(impl: Impl, n: int) -> float:
    return process_map(impl, n, None)


def process_map_chunked(impl: Impl, n: int) -> float:
    return process_map(impl, n, 1000)


def cpu_efficiency(impl: Impl, n: int) -> float:
    """Time inside the tasks / (2 workers x wall time): 1.0 is ideal."""
    iterations = 400_000  # about 20-40 ms per task on a 2020s core

    def run(pool: Any) -> float:
        with Timer() as t:
            # chunksize=1: one task per call (minipool's map still sends its
            # automatic chunks with chunksize=1: see docs/performance.md).
            inside: float = sum(impl.map(pool, spin, [iterations] * n, 1))
        return inside / (2 * t.seconds)

    return with_warm(impl, PROCESS, 2, run)


def cold_start(impl: Impl, n: int) -> float:
    """n times: start a pool of 2 workers, get one result, shut it down."""
    with Timer() as t:
        for _ in range(n):
            pool = impl.pool(PROCESS, 2)
            impl.warm_up(pool)
            impl.shut_down(pool)
    return t.seconds


def big_results(impl: Impl, n: int) -> float:
    def run(pool: Any) -> float:
        with Timer() as t:
            total = sum(len(value) for value in
                        impl.results(impl.start_all(pool, one_mib, [None] * n)))
        assert total == n << 20
        return t.seconds

    return with_warm(impl, PROCESS, 2, run)


def pending_memory(impl: Impl, n: int) -> float:
    """Bytes of parent memory per pending task (tracemalloc), workers blocked."""
    gate = impl.event()
    pool = impl.pool(PROCESS, 1, initializer=set_gate, initargs=(gate,))
    try:
        warm_up(impl, pool, PROCESS, 1)
        blocker = impl.start_all(pool, wait_for_gate, [None])
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            pending = impl.start_all(pool, noop, range(n))
            time.sleep(0.2)  # let the pool's own threads move what they will
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        gate.set()
        impl.wait_all(blocker)
        impl.wait_all(pending)
        return (after - before) / n
    finally:
        gate.set()
        impl.close(pool)


class Workload(NamedTuple):
    key: str
    title: str
    run: Callable[[Impl, int], float]
    size: int  # the full run's n
    quick_size: int
    smoke_size: int
    unit: str  # "s", "B/task" or "eff"
    target: str
    kind: str  # THREAD or PROCESS: which references have an equivalent
    rounds: Optional[int] = None  # fewer rounds than the default for slow ones
    # One of the three rows the process pool's dispatcher is judged by (issue
    # 14: pipelined dispatch); the pipe floor runs on these.
    goal: bool = False


WORKLOADS = [
    Workload("thread-submit-wait", "thread: submit+wait {n} no-ops (4 workers)",
             thread_submit_wait, 50_000, 10_000, 200, "s", "<= 0.5", THREAD),
    Workload("thread-ping-pong", "thread: ping-pong (submit, result) x{n}",
             thread_ping_pong, 5_000, 2_000, 50, "s", "<= 0.7", THREAD),
    Workload("thread-sleeps", "thread: {n} x 10 ms sleeps on 50 threads, over ideal",
             thread_sleeps, 500, 500, 50, "s", "", THREAD),
    Workload("thread-callbacks", "thread: {n} tasks with a done-callback each",
             thread_done_callbacks, 20_000, 5_000, 100, "s", "<= 0.5", THREAD),
    Workload("process-submit-wait", "process: submit+wait {n} no-ops (2 workers)",
             process_submit_wait, 5_000, 1_000, 50, "s", "<= 0.25", PROCESS, goal=True),
    Workload("process-map-default", "process: map over {n} ints, default args",
             process_map_default, 200_000, 10_000, 100, "s", "<= 0.01", PROCESS, 3),
    Workload("process-map-chunked", "process: map over {n} ints, chunksize=1000",
             process_map_chunked, 200_000, 50_000, 2_000, "s", "<= 0.45", PROCESS, goal=True),
    Workload("process-ping-pong", "process: ping-pong (submit, result) x{n}",
             process_ping_pong, 1_000, 300, 20, "s", "<= 0.40", PROCESS, goal=True),
    Workload("process-cpu-bound", "process: CPU-bound, {n} tasks on 2 workers",
             cpu_efficiency, 40, 16, 2, "eff", ">= 0.97 eff", PROCESS),
    Workload("process-cold-start", "process: cold start+1 result+shutdown x{n} (fork)",
             cold_start, 10, 4, 1, "s", "<= 1.0", PROCESS),
    Workload("process-big-results", "process: {n} tasks returning 1 MiB each",
             big_results, 200, 50, 4, "s", "<= 0.9", PROCESS),
    Workload("process-pending-memory", "process: parent memory, {n} pending tasks",
             pending_memory, 20_000, 5_000, 100, "B/task", "<= 0.7", PROCESS),
]


# ---------------------------------------------------------------- running
def measure(workload: Workload, n: int, rounds: int,
            references: list[Impl]) -> dict[str, list[float]]:
    impls = [IMPLS[MINIPOOL], IMPLS[STDLIB]] + [r for r in references if r.runs(workload)]
    figures: dict[str, list[float]] = {impl.name: [] for impl in impls}
    for _ in range(rounds):
        for impl in impls:  # interleaved: A B C A B C ...
            gc.collect()
            figures[impl.name].append(workload.run(impl, n))
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
        "goal": workload.goal,
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


def format_ratio(ratio: Optional[float]) -> str:
    return "-" if ratio is None else f"{ratio:.2f}"


def tag(row: dict[str, Any]) -> str:
    """``[target <= 0.25, goal]`` after a row's title."""
    marks = ([f"target {row['target']}"] if row["target"] else []) + (
        ["goal"] if row["goal"] else [])
    return f"   [{', '.join(marks)}]" if marks else ""


def format_row(row: dict[str, Any]) -> list[str]:
    lines = [row["title"] + tag(row)]
    for impl, values in row["figures"].items():
        spread = (f"{format_figure(min(values), row['unit'])} .. "
                  f"{format_figure(max(values), row['unit'])}")
        ratio = row["ratio"].get(impl)
        shown = f"ratio {ratio:5.2f}" if ratio is not None else ""
        lines.append(f"    {impl:14} {format_figure(row['median'][impl], row['unit']):>10}"
                     f"   ({spread})  {shown}")
    return lines


def reference_columns(rows: list[dict[str, Any]]) -> list[str]:
    """The reference columns that some row has, in REFERENCES' order; the
    two multiprocessing pools share one column ("mp.Pool")."""
    seen = {impl for row in rows for impl in row["ratio"]}
    columns = []
    for reference in REFERENCES:
        column = MP_POOL if reference.name == MP_THREADPOOL else reference.name
        if (reference.name in seen or (column == MP_POOL and MP_THREADPOOL in seen)) \
                and column not in columns:
            columns.append(column)
    return columns


def column_ratio(row: dict[str, Any], column: str) -> Optional[float]:
    ratios: dict[str, Optional[float]] = row["ratio"]
    if column == MP_POOL and MP_POOL not in ratios:
        return ratios.get(MP_THREADPOOL)
    return ratios.get(column)


def ratio_table(rows: list[dict[str, Any]]) -> str:
    """Every ratio of the run in one table: a row per workload, a column per implementation."""
    columns = reference_columns(rows)
    width = max(len(row["title"]) for row in rows) + 2
    header = (f"{'workload (* = goal row)':{width}} {'target':>11} {MINIPOOL:>8} "
              + " ".join(f"{c:>7}" for c in columns))
    lines = [header]
    for row in rows:
        title = ("* " if row["goal"] else "  ") + row["title"]
        lines.append(f"{title:{width}} {row['target'] or '-':>11} "
                     f"{format_ratio(row['ratio'][MINIPOOL]):>8} "
                     + " ".join(f"{format_ratio(column_ratio(row, c)):>7}" for c in columns))
    return "\n".join(lines)


def markdown_table(report: dict[str, Any]) -> str:
    """The report as docs/performance.md's table (ratios to the stdlib's median)."""
    rows = report["workloads"]
    columns = reference_columns(rows)
    header = ["workload", "stdlib", "minipool", "ratio", "target"] + [
        "mp.Pool / ThreadPool" if c == MP_POOL else c for c in columns]
    lines = [markdown_line(header), markdown_line(["---"] * len(header))]
    for row in rows:
        unit, median = row["unit"], row["median"]
        lines.append(markdown_line(
            [f"**{row['title']}** (goal)" if row["goal"] else row["title"],
             format_figure(median[STDLIB], unit), format_figure(median[MINIPOOL], unit),
             f"**{format_ratio(row['ratio'][MINIPOOL])}**", row["target"] or "-"]
            + [format_ratio(column_ratio(row, c)) for c in columns]))
    return "\n".join(lines)


def markdown_line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


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


def peers_report(references: list[Impl], skipped: list[str]) -> dict[str, Any]:
    """Which peers run (with their versions) and which are missing."""
    peers = [r for r in REFERENCES if isinstance(r, Peer) and r.name not in skipped]
    return {
        "installed": {p.name: p.version() for p in peers if p in references},
        "missing": [p.name for p in peers if p not in references],
        "install": INSTALL_PEERS,
    }


def peers_line(peers: dict[str, Any]) -> str:
    installed = ", ".join(f"{name} {version}" for name, version in peers["installed"].items())
    line = f"peers: {installed or 'none'}"
    if peers["missing"]:
        line += (f"; not installed: {', '.join(peers['missing'])}"
                 f" (to compare with them: {peers['install']})")
    return line


def notes(rows: list[dict[str, Any]]) -> list[str]:
    shown = reference_columns(rows)
    return [note for name, note in PEER_NOTES.items() if name in shown]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m minipool bench",
                                     description="minipool, the stdlib and its peers, "
                                                 "side by side.")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true",
                      help="smaller sizes, 3 rounds (30 s; 100 s with the peers)")
    size.add_argument("--smoke", action="store_true", help="tiny sizes, 1 round (seconds)")
    parser.add_argument("--rounds", type=int, help="rounds per workload (default 5)")
    parser.add_argument("--only", action="append", default=[],
                        help="run the workloads whose key contains this (repeatable)")
    parser.add_argument("--goals", action="store_true",
                        help="run only the goal rows of the process pool's pipelining")
    parser.add_argument("--no-references", action="store_true",
                        help="minipool and the stdlib only: no mp.Pool, peers or floor")
    parser.add_argument("--skip", action="append", default=[], metavar="NAME",
                        help="leave out one reference column, e.g. loky (repeatable)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print JSON instead of a table")
    output.add_argument("--markdown", action="store_true",
                        help="print a markdown table at the end")
    return parser.parse_args(argv)


def chosen_workloads(args: argparse.Namespace) -> list[Workload]:
    return [w for w in WORKLOADS
            if (not args.only or any(o in w.key for o in args.only))
            and (not args.goals or w.goal)]


def chosen_references(args: argparse.Namespace) -> list[Impl]:
    if args.no_references:
        return []
    return [r for r in REFERENCES if r.name not in args.skip and r.available()]


def size_and_rounds(workload: Workload, args: argparse.Namespace) -> tuple[int, int]:
    if args.smoke:
        n, rounds = workload.smoke_size, 1
    elif args.quick:
        n, rounds = workload.quick_size, 3
    else:
        n, rounds = workload.size, workload.rounds or 5
    return n, rounds if args.rounds is None else args.rounds


def main(argv: list[str]) -> int:
    args = parse(argv)
    if FORK is None:
        print("bench needs the fork start method (Linux, macOS)", file=sys.stderr)
        return 2
    chosen = chosen_workloads(args)
    if not chosen:
        print(f"no workload matches {args.only}; keys: {[w.key for w in WORKLOADS]}",
              file=sys.stderr)
        return 2
    unknown = [name for name in args.skip if name not in [r.name for r in REFERENCES]]
    if unknown:
        print(f"--skip {unknown}: no such column; columns: {[r.name for r in REFERENCES]}",
              file=sys.stderr)
        return 2
    references = chosen_references(args)
    peers = peers_report(references, args.skip) if not args.no_references else None
    info = machine()
    if not args.json:
        print(f"Python {info['python']} on {info['platform']}, {info['cpus']} CPUs, "
              f"load average {info['loadavg']}, {info['date']}")
        if peers is not None:
            print(peers_line(peers))
        print("median (min .. max) per implementation; ratio = median / stdlib's median\n")
    rows = []
    try:
        for workload in chosen:
            n, rounds = size_and_rounds(workload, args)
            row = summarise(workload, n, measure(workload, n, rounds, references))
            rows.append(row)
            if not args.json:
                print("\n".join(format_row(row)), flush=True)
    finally:
        for reference in references:
            reference.finish()
    info["loadavg_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    if args.json:
        json.dump({"machine": info, "peers": peers, "workloads": rows}, sys.stdout, indent=1)
        print()
        return 0
    print(f"\nload average after: {info['loadavg_after']}")
    print("\nratios to the stdlib (below 1.00 is faster; for eff, above 1.00 is better)\n")
    print(ratio_table(rows))
    for note in notes(rows):
        print(f"  - {note}")
    if args.markdown:
        print("\n" + markdown_table({"machine": info, "workloads": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
