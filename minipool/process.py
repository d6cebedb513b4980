"""MiniProcessPool: run calls in a bounded set of worker processes.

Processes and threads
---------------------
* *Submitting threads* (parent process): any thread that calls ``submit``,
  ``map``, ``shutdown``, ``terminate_workers`` or ``kill_workers``.
* *The dispatcher thread* (parent process, one per pool, named
  ``MiniProcessPool-N_dispatcher``), running ``_Dispatcher.run``. It owns the
  workers: it starts them, hands them work, reads their replies, sets the
  futures, notices their deaths and stops them.
* *Worker processes* (at most ``max_workers``), each running ``_worker_main``.
  Each has its own duplex pipe to the parent, ``_Worker.channel``, used by no
  other process.

How a task flows::

    submit(fn, *args)                                      [submitting thread]
      |  _pickle_call(): the call is pickled here, so an unpicklable
      |  function or argument fails its future at once
      v
    _Inbox.pending (a deque)  +  _Inbox.wake_dispatcher()
      |                                                    [dispatcher thread]
      v
    _Dispatcher.run: _Dispatcher._selector waits on
      |    _Inbox.wakeup_reader, every _Worker.channel, every process.sentinel
      |  _hand_out_work(): the oldest item goes to an idle _Worker;
      |  worker.task = item; worker.channel.send_bytes(item.payload)
      v
    _worker_main -> _run_call(payload) -> channel.send_bytes(reply)
      |                                                    [worker process]
      v
    _Dispatcher._read_reply(worker) -> _settle(item, ...)  [dispatcher thread]
         future.set_result(...) / future.set_exception(...)
         -> done callbacks run here: in the parent, in the dispatcher thread
         the worker is idle again and gets the next item

How a death is seen::

    worker killed (SIGKILL, os._exit, segfault, OOM killer ...)
      -> its process.sentinel becomes ready in the dispatcher's _selector
      -> _on_exit(worker): deliver any reply it sent before dying, join it,
         then _break_pool(_death_message(pid, worker.task, exitcode))
      -> every unfinished future fails with BrokenProcessPool naming the task
         the dead worker was running, its pid and its exit code or signal;
         later submit() raises the same error. (A worker with an initializer
         sends _READY once it returned: one that died before is reported "in
         its initializer, before starting task ...".)

A pool configured with ``survive_crashes`` or ``task_timeout`` (``configure``;
see _extras.py, docs/crash-survival.md and docs/task-timeout.md) takes
another way at the last step::

    the worker sends _STARTED before each call (a tiny message; only then)
    _kill_overdue_workers(): a task past its deadline -> its worker is killed
    worker ends -> _on_exit(worker) -> _on_unexpected_exit(worker)
      worker.timed_out     -> _fail_timed_out_task: TaskTimeout, pool goes on
      survive_crashes      -> _survive_crash: the task goes to put_back (it
                              never started, or crash_retries are left) or
                              fails with WorkerCrashed; the pool goes on
      otherwise            -> _break_pool, as above

Why one channel per worker: a ``multiprocessing.Queue`` shared by all workers
has a lock; a worker killed while holding it (mid-read or mid-write) wedges
every other worker. Here a worker only ever touches its own pipe, so a death
can corrupt nothing but that pipe, and since the dispatcher gave that worker
exactly one task, it knows which task was lost. (See docs/process-pool.md.)

When workers start: under ``fork``, all ``max_workers`` at the first submit,
in the submitting thread and before the dispatcher thread exists (as the
stdlib does: a fork from a single-threaded process is the safe kind). Under
``spawn`` and ``forkserver``, the dispatcher starts them on demand, one per
pending item that finds no idle worker. Replacements (``max_tasks_per_child``)
are started by the dispatcher, under every start method -- under ``fork``
that is a fork from a multi-threaded process, which the stdlib refuses;
minipool allows it because a worker touches nothing of the parent's but its
own pipe (see "Guarantees / Assumptions").

Stopping: ``shutdown``, the pool's finalizer and the interpreter-exit hook
all call ``_Inbox.close``. The dispatcher then hands out what is pending,
waits for the running tasks, sends every worker the stop message (an empty
message), joins them and exits.

Guarantees / Assumptions
------------------------
* A worker runs one task at a time and only the dispatcher writes to its
  pipe, and only when it is idle, so pipe traffic is strict request/reply:
  neither side can be blocked writing while the other is blocked writing.
  (A configured pool's worker writes ``_STARTED`` before its reply, and a
  worker with an initializer writes ``_READY`` once after it: a few bytes,
  which always fit in the pipe's buffer, so they cannot block either.)
* A forked worker inherits copies of the parent's locks (possibly held by
  another thread at the moment of the fork). It never takes them: it runs
  only ``_worker_main`` on its own pipe, then leaves through ``os._exit``.
  User code in the task that takes such a lock (say, a logging handler's) is
  the risk the stdlib refuses ``fork`` + ``max_tasks_per_child`` for.
* The dispatcher thread is not a daemon, and the exit hook (``_exit.py``,
  shared with thread.py) closes every live pool's inbox before the
  interpreter waits for that thread, so
  work submitted before interpreter exit completes, and then the dispatcher
  joins its workers. The dispatcher never references the pool, so a pool
  dropped without ``shutdown`` is collected and its finalizer closes it.
* No user code runs under a pool lock. Done callbacks and the
  ``on_task_done``/``on_worker_exit`` hooks run when a future is settled or
  a worker is forgotten, and that happens only with ``_Inbox.lock``
  released: ``_Inbox.close`` and ``_break_pool`` take the pending items out
  under the lock and settle them after releasing it; ``_settle``,
  ``_fail_timed_out_task``, ``_survive_crash`` and ``_forget``'s hook run in
  the dispatcher thread holding no lock. So a callback may call ``submit``.
* Nothing waits without also watching the workers' sentinels, so no
  ``result()``, ``shutdown()`` or interpreter exit can hang on a dead worker.
  A task that never returns still blocks ``shutdown(wait=True)``, as in the
  stdlib; ``terminate_workers``/``kill_workers`` are the way out.
"""

from __future__ import annotations

import collections
import concurrent.futures  # identity only: a base class of MiniProcessPool (see there)
import functools
import io
import itertools
import logging
import multiprocessing
import multiprocessing.connection
import operator
import os
import pickle
import selectors
import signal
import threading
import time
import traceback
import weakref

# Deliberate borrowing: the stdlib's exception class, so that
# `except concurrent.futures.process.BrokenProcessPool` catches ours.
from concurrent.futures.process import BrokenProcessPool as BrokenProcessPool
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from multiprocessing.reduction import ForkingPickler
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Optional, TypeVar

from ._executor import Executor, _result_or_cancel
from ._exit import interpreter_is_exiting, usable_cpu_count, watch_until_exit
from ._extras import TaskTimeout, WorkerCrashed, _make_options, _Options, _PendingLimit
from ._future import Future
from ._naming import _describe_call, _name_of, _short_repr
from ._timeline import PoolStats, _stats_not_enabled, _TimedFuture, _Tracker
from ._timeouts import select_wait

if TYPE_CHECKING:
    from typing_extensions import ParamSpec, Self

    P = ParamSpec("P")

T = TypeVar("T")

__all__ = ["BrokenProcessPool", "MiniProcessPool", "ProcessPoolExecutor", "RemoteTraceback"]

LOGGER = logging.getLogger("minipool")

_STOP = b""  # the stop message: a worker that receives it exits
# survive_crashes and task_timeout only: a worker says it is about to run the
# call it received. A task whose worker died before this message never ran
# and can be sent again; a task's deadline counts from this message. (Not a
# pickle: every pickle starts with b"\x80".)
_STARTED = b"s"
# Pools with an initializer only: a worker says its initializer returned, so
# that a worker dying before this message is known to have died in it, not
# in its task. One message per worker, not per task; the default pool (no
# initializer) never sends it.
_READY = b"r"
# How many times a task is handed again to a new worker after its worker died
# before starting it (a worker that dies in its initializer each time must not
# make the dispatcher loop forever).
_MAX_UNSTARTED_RETRIES = 3


def _describe_exit(exitcode: Optional[int]) -> str:
    if exitcode is None:
        return "ended with an unknown exit status"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"number {-exitcode}"
        return f"was killed by signal {name} (exit code {exitcode})"
    return f"exited with code {exitcode}"


def _death_message(pid: Optional[int], task: Optional[_WorkItem], exitcode: Optional[int],
                   *, initialized: bool = True, task_started: bool = True) -> str:
    if not initialized:
        doing = "in its initializer"
        if task is not None:
            doing += f", before starting task {task.describe()}"
    elif task is None:
        doing = "while idle"
    elif task_started:
        doing = f"while running task {task.describe()}"
    else:
        doing = f"before starting task {task.describe()}"
    return (f"A process in the process pool was terminated abruptly: worker process {pid} "
            f"{_describe_exit(exitcode)} {doing}. The process pool is not usable anymore.")


# ----------------------------------------------------------------- pickling
def _dumps(obj: object) -> bytes:
    """Pickle as multiprocessing does (its reducers know pipes, sockets ...)."""
    return bytes(ForkingPickler.dumps(obj))


def _same_kind_of_error(original: Exception, message: str) -> Exception:
    """An exception of *original*'s type (TypeError, PicklingError ...) saying *message*.

    Keeping the type keeps ``except pickle.PicklingError`` and ``except
    TypeError`` working as they do with the stdlib's pool.
    """
    try:
        error = type(original)(message)
    except Exception:  # a type that wants other arguments
        error = pickle.PicklingError(message)
    error.__cause__ = original
    return error


def _unpickling_error(original: BaseException, message: str) -> Exception:
    """The error a future gets when what a worker sent cannot be unpickled.

    An Exception keeps its type (see _same_kind_of_error). Anything else that
    a ``__reduce__`` raised -- ``SystemExit``, ``KeyboardInterrupt`` -- becomes
    an ``UnpicklingError``: a bad payload fails one future; it must never end
    the dispatcher thread (every pending future would then wait forever) or
    the program of the thread that reads the result.
    """
    if isinstance(original, Exception):
        return _same_kind_of_error(original, message)
    error = pickle.UnpicklingError(message)
    error.__cause__ = original
    return error


def _reason(exc: BaseException) -> str:
    """What went wrong, for a message: an error's text; else (SystemExit(3)) its repr."""
    if isinstance(exc, Exception) and str(exc):
        return str(exc)
    return repr(exc)


def _first_unpicklable_part(fn: Callable[..., Any], args: tuple[Any, ...],
                            kwargs: dict[str, Any]) -> str:
    parts: list[tuple[str, object]] = [("the function", fn)]
    parts += [(f"argument {i}", value) for i, value in enumerate(args)]
    parts += [(f"keyword argument {key!r}", value) for key, value in kwargs.items()]
    for name, value in parts:
        try:
            _dumps(value)
        except Exception:
            return name
    return "the call"


def _pickle_call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    """The call, pickled; if it cannot be, an error naming the part that could not."""
    try:
        return _dumps((fn, args, kwargs))
    except Exception as exc:
        part = _first_unpicklable_part(fn, args, kwargs)
        raise _same_kind_of_error(
            exc, f"cannot pickle {part} of task {_describe_call(fn, args, kwargs)}: {exc}"
        ) from exc


class RemoteTraceback(Exception):
    """The ``__cause__`` of an exception raised in a worker: its traceback, as text."""

    def __init__(self, pid: Optional[int], traceback_text: str) -> None:
        super().__init__(pid, traceback_text)
        self.pid = pid
        self.traceback_text = traceback_text

    def __str__(self) -> str:
        return f'\n"""\n(in worker process {self.pid})\n{self.traceback_text}"""'


# ------------------------------------------------------ the worker process
# A reply, worker -> parent, is one kind byte, then a pickle:
#   _RESULT    + the pickled value
#   _EXCEPTION + a pickled (pickled exception, its formatted traceback)
#   _INIT_FAILED + the pickled formatted traceback of the initializer
# The kind byte is read before anything is unpickled, so a value or an
# exception the parent cannot unpickle fails only its future (see _settle).
# Speed: the value is pickled once, straight after the kind byte, and the
# parent unpickles it from a memoryview of the message. (Pickling it on its
# own and then pickling that inside a (kind, body, text) tuple copied every
# result twice more: 1 MiB results went from ratio 2.0 to 0.62.)
_RESULT = b"R"
_EXCEPTION = b"E"
_INIT_FAILED = b"I"


def _reply(kind: bytes, obj: object) -> memoryview:
    """*kind*, then *obj* pickled as multiprocessing does, in one buffer (no copy)."""
    buffer = io.BytesIO()
    buffer.write(kind)
    ForkingPickler(buffer).dump(obj)
    return buffer.getbuffer()


def _worker_main(channel: Connection, initializer: Optional[Callable[..., object]],
                 initargs: tuple[Any, ...], announce_start: bool = False) -> None:
    """The body of every worker process: run calls from *channel* until told to stop."""
    if initializer is not None:
        try:
            initializer(*initargs)
        except BaseException:
            channel.send_bytes(_reply(_INIT_FAILED, traceback.format_exc()))
            return
        channel.send_bytes(_READY)
    with _CallWatcher(channel) as watcher:
        while watcher.call_arrives():
            call = channel.recv_bytes()
            if call == _STOP:
                return
            if announce_start:
                channel.send_bytes(_STARTED)
            channel.send_bytes(_run_call(call))
            del call  # do not keep the finished call's arguments alive while idle


class _CallWatcher:
    """Waits for the next message on a worker's channel, or its parent's death.

    A forked worker inherits the parent's end of its own pipe, so it would
    never see end-of-file there: it watches the parent's sentinel too.
    Speed: one selector for the worker's life. multiprocessing.connection.wait()
    builds and fills a new one on every call, which was a third of a no-op
    task's time in the worker.
    """

    def __init__(self, channel: Connection) -> None:
        self._selector = selectors.DefaultSelector()
        self._selector.register(channel.fileno(), selectors.EVENT_READ, "call")
        parent = multiprocessing.parent_process()
        if parent is not None:
            self._selector.register(parent.sentinel, selectors.EVENT_READ, "parent died")

    def call_arrives(self) -> bool:
        """Wait for the next message; False if the parent process died first."""
        while True:
            ready = [key.data for key, _ in self._selector.select()]
            if ready:
                return "call" in ready

    def __enter__(self) -> _CallWatcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._selector.close()


def _run_call(call: bytes) -> memoryview:
    """Unpickle and run one call; return the reply."""
    try:
        fn, args, kwargs = pickle.loads(call)
    except BaseException as exc:  # even SystemExit from a __reduce__: see _unpickling_error
        return _exception_reply(_unpickling_error(
            exc, f"cannot unpickle the call in worker process {os.getpid()}: {_reason(exc)}"))
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:
        return _exception_reply(exc)
    try:
        return _reply(_RESULT, result)
    except Exception as exc:
        task = _describe_call(fn, args, kwargs)
        return _exception_reply(_same_kind_of_error(
            exc, f"cannot pickle the result of task {task}, {_short_repr(result)}: {exc}"))
    except BaseException as exc:  # SystemExit from a __reduce__: the outcome, as in the stdlib
        return _exception_reply(exc)


def _exception_reply(exc: BaseException) -> memoryview:
    return _reply(_EXCEPTION, _exception_body(exc))


def _exception_body(exc: BaseException) -> tuple[bytes, str]:
    """(the pickled exception, its formatted traceback): what _remote_error undoes."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        body = _dumps(exc)
    except Exception as error:
        message = f"cannot pickle the exception {_short_repr(exc)} raised by the task: {error}"
        body = _dumps_error(_same_kind_of_error(error, message))
    return body, text


def _dumps_error(error: Exception) -> bytes:
    try:
        return _dumps(error)
    except Exception:
        return _dumps(pickle.PicklingError(str(error)))


# ----------------------------------------------- the parent: shared state
class _WorkItem:
    """One submitted call: its Future, and the call pickled for a worker.

    ``fn``, ``args`` and ``kwargs`` are kept only to name the task in errors.
    """

    def __init__(self, future: Future[Any], payload: bytes, fn: Callable[..., Any],
                 args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.future = future
        self.payload = payload
        self.fn = fn
        self.args = args
        self.kwargs = kwargs

    # survive_crashes only (class defaults, so a default pool pays nothing):
    crashes = 0  # how many of its workers died while running it
    unstarted_retries = 0  # how many workers died before starting it

    def describe(self) -> str:
        return _describe_call(self.fn, self.args, self.kwargs)


class _Inbox:
    """What the submitting threads and the dispatcher thread share.

    ``lock`` guards every attribute below. It makes "check the flags, then
    enqueue" one step for ``submit``, which prevents:

      1. submit() sees broken is None;
      2. the dispatcher breaks the pool and fails every pending item, then
         exits;
      3. submit() appends its item -- nobody will ever take it, and its
         future never completes.

    and likewise for ``closed`` (shutdown) in place of ``broken``.

    The wake-up pipe: a message is in it exactly when ``_wakeup_sent`` is
    True (both change only under ``lock``). So ``wake_dispatcher`` writes at
    most one tiny message and never blocks, even with the lock held, and the
    dispatcher's read in ``take_wakeup`` never blocks either.
    """

    def __init__(self, max_workers: int) -> None:
        self.lock = threading.Lock()
        self.pending: collections.deque[_WorkItem] = collections.deque()
        # How many of the oldest pending items free workers would take right
        # now: max_workers minus the workers running a task. Written by the
        # dispatcher: lowered as it takes an item (_next_item), recomputed on
        # each turn of its loop (_publish_free_workers). close(cancel_pending)
        # lets that many run -- the calls a worker is about to start, as the
        # stdlib lets run the calls it moved ahead to its workers -- and
        # cancels the rest.
        self.free_workers = max_workers
        self.closed = False  # set once, by close()
        # set once, by terminate_workers()/kill_workers(): the workers' deaths
        # are wanted, so survive_crashes must not run their tasks again
        self.terminating = False
        self.broken: Optional[str] = None  # set once, by the dispatcher
        # The live worker processes, by pid: read by terminate/kill_workers.
        self.processes: dict[int, BaseProcess] = {}
        # The wake-up pipe: opened as the dispatcher starts (open_wakeup) and
        # closed by it as it ends, so a pool never submitted to opens no fd.
        self.wakeup_reader: Optional[Connection] = None
        self._wakeup_writer: Optional[Connection] = None
        self._wakeup_sent = False
        self._wakeup_closed = False
        # configure(max_pending=...): submit's back-pressure; closed with the
        # inbox (and when the pool breaks), so a waiting submit wakes up.
        self.limit: Optional[_PendingLimit] = None

    def check_accepting(self) -> None:
        """Raise the error a submit gets now, if any. Call with ``lock`` held."""
        if self.broken is not None:
            raise BrokenProcessPool(self.broken)
        if self.closed:
            raise RuntimeError("cannot schedule new futures after shutdown")
        if interpreter_is_exiting():
            raise RuntimeError("cannot schedule new futures after interpreter shutdown")

    def open_wakeup(self) -> Connection:
        """Open the wake-up pipe; its read end, for the dispatcher's selector.

        Call with ``lock`` held, once, as the dispatcher starts.
        """
        self.wakeup_reader, self._wakeup_writer = multiprocessing.Pipe(duplex=False)
        return self.wakeup_reader

    def wake_dispatcher(self) -> None:
        """Make the dispatcher's ``_selector.select()`` return. Call with ``lock`` held.

        Before the dispatcher starts there is no pipe, and nothing to wake:
        its first turn looks at ``pending`` before it ever waits.
        """
        if self._wakeup_writer is not None and not self._wakeup_sent and not self._wakeup_closed:
            self._wakeup_writer.send_bytes(b"!")
            self._wakeup_sent = True

    def take_wakeup(self) -> None:
        """Empty the wake-up pipe. Call with ``lock`` held (dispatcher only)."""
        if self._wakeup_sent and self.wakeup_reader is not None:
            self.wakeup_reader.recv_bytes()
            self._wakeup_sent = False

    def close_wakeup(self) -> None:
        with self.lock:
            self._wakeup_closed = True
            for end in (self.wakeup_reader, self._wakeup_writer):
                if end is not None:
                    end.close()

    def close(self, cancel_pending: bool = False) -> None:
        """Stop accepting work; what is pending still runs, unless *cancel_pending*.

        With *cancel_pending*, the pending items that free workers are about
        to take still run (see ``free_workers``); the rest are cancelled.

        Idempotent; safe from any thread, a finalizer or the exit hook.
        """
        with self.lock:
            cancelled = []
            if cancel_pending:
                # terminate/kill_workers: the workers are going, so nothing is about to start.
                keep = 0 if self.terminating else max(0, self.free_workers)
                while len(self.pending) > keep:
                    cancelled.append(self.pending.pop())
                cancelled.reverse()
            self.closed = True
            self.wake_dispatcher()
        if self.limit is not None:
            self.limit.close()
        for item in cancelled:  # outside the lock: cancel() runs callbacks
            item.future.cancel()
            item.future.set_running_or_notify_cancel()


# ------------------------------------------- the parent: the dispatcher
class _Worker:
    """The dispatcher's view of one worker process."""

    def __init__(self, process: BaseProcess, channel: Connection, *, initialized: bool) -> None:
        self.process = process
        self.pid = process.pid
        self.channel = channel  # the parent's end of this worker's own pipe
        self.task: Optional[_WorkItem] = None  # the item it is running
        self.tasks_done = 0
        self.stopping = False  # sent the stop message: its exit is expected
        self.channel_open = True  # False once reading it failed: the worker is dying
        # Its initializer returned (it said _READY), or it has none.
        self.initialized = initialized
        # Configured pools only (see _Dispatcher.configure):
        self.task_started = False  # survive_crashes: it said _STARTED for its task
        self.deadline: Optional[float] = None  # task_timeout: when its task overruns
        self.timed_out = False  # task_timeout: the dispatcher killed it for overrunning

    def is_idle(self) -> bool:
        return self.task is None and not self.stopping and self.channel_open


class _Dispatcher:
    """The pool's parent-side thread (``run``) and the state it owns.

    Only the dispatcher thread touches ``workers`` -- except that under
    ``fork`` the submitting thread starts the first workers before the
    dispatcher thread exists (``start_workers_now``).
    """

    def __init__(self, inbox: _Inbox, context: BaseContext, *, max_workers: int,
                 max_tasks_per_child: Optional[int],
                 initializer: Optional[Callable[..., object]], initargs: tuple[Any, ...],
                 name: str) -> None:
        self.inbox = inbox
        self.context = context
        self.max_workers = max_workers
        self.max_tasks_per_child = max_tasks_per_child
        self.initializer = initializer
        self.initargs = initargs
        self.name = name
        self.workers: list[_Worker] = []
        self._started = itertools.count()
        # What _wait_and_handle waits on: the inbox's wake-up pipe, and each
        # worker's channel (while open) and process sentinel. Each key's data
        # says what it is: ("wakeup", None), ("reply", worker), ("exit", worker).
        # Speed: one selector for the pool's life, updated as workers come
        # and go. multiprocessing.connection.wait() builds and fills a new
        # one on every call: 2W+1 registrations per reply read.
        # Opened by open() as the dispatcher starts, closed by run() as it
        # ends: a pool never submitted to opens no fd.
        self._selector: selectors.BaseSelector
        # Configured pools only (configure(), before the dispatcher starts):
        self.options: Optional[_Options] = None
        self.tracker: Optional[_Tracker] = None
        self.announce_start = False  # survive_crashes: workers send _STARTED
        # survive_crashes: tasks whose worker died, to run again before anything
        # pending. Their futures are already RUNNING (so shutdown's
        # cancel_futures does not touch them). Owned by the dispatcher thread.
        self.put_back: collections.deque[_WorkItem] = collections.deque()

    def open(self, wakeup_reader: Connection) -> None:
        """Open the selector, watching *wakeup_reader*. Call before anything else."""
        self._selector = selectors.DefaultSelector()
        self._selector.register(wakeup_reader, selectors.EVENT_READ, ("wakeup", None))

    # ------------------------------------------------------ starting workers
    def start_workers_now(self, count: int) -> None:
        """Start up to *count* workers. Call with ``inbox.lock`` held (fork only).

        The first submit calls it, before the dispatcher thread exists, so
        nothing else can be starting or killing workers meanwhile. A failure
        is left for the dispatcher: it will try again and report.
        """
        try:
            while len(self.workers) < count:
                self._register(self._launch_worker())
        except Exception:  # reported by _start_workers_for_pending, in the dispatcher
            pass

    def _launch_worker(self) -> _Worker:
        """Start one worker process. Needs no lock: only its registration does."""
        parent_end, child_end = self.context.Pipe(duplex=True)
        process = self.context.Process(  # type: ignore[attr-defined]
            target=_worker_main,
            args=(child_end, self.initializer, self.initargs, self.announce_start),
            name=f"{self.name}_worker_{next(self._started)}")
        try:
            process.start()
        except BaseException:
            parent_end.close()
            raise
        finally:
            child_end.close()  # the worker has its own copy
        return _Worker(process, parent_end, initialized=self.initializer is None)

    def _register(self, worker: _Worker) -> bool:
        """Make a started worker the pool's. Call with ``inbox.lock`` held.

        Returns False if terminate_workers()/kill_workers() began while it
        started: it is then marked stopping, and the caller must kill it.
        """
        process = worker.process
        self.workers.append(worker)
        self.inbox.processes[process.pid or 0] = process
        self._selector.register(worker.channel, selectors.EVENT_READ, ("reply", worker))
        self._selector.register(process.sentinel, selectors.EVENT_READ, ("exit", worker))
        if self.tracker is not None and process.pid is not None:
            self.tracker.worker_started(process.pid)
        worker.stopping = self.inbox.terminating
        return not worker.stopping

    def _another_worker_is_needed(self) -> bool:
        """Call with ``inbox.lock`` held."""
        idle = sum(1 for worker in self.workers if worker.is_idle())
        return (self.inbox.broken is None
                and len(self.inbox.pending) + len(self.put_back) > idle
                and len(self.workers) < self.max_workers)

    def _start_workers_for_pending(self) -> None:
        """Start the workers that pending work needs, each with ``inbox.lock`` released.

        Under spawn and forkserver a start takes milliseconds (a new
        interpreter; longer with large initargs), and a submit waiting for
        the lock all that time is what this avoids. The lock guarded the
        registration, which still happens under it (``_register``), and
        this race, which the registration now settles:

          1. the dispatcher starts worker P, lock released: P is in no list;
          2. terminate_workers()/kill_workers() takes the lock, sets
             ``terminating``, copies ``inbox.processes`` (without P) and
             signals those;
          3. the dispatcher registers P under the lock, sees ``terminating``
             and kills P itself, so that P does not outlive the kill.

        Nothing else changes meanwhile: only the dispatcher thread starts
        workers, owns ``workers`` and breaks the pool.
        """
        try:
            while True:
                with self.inbox.lock:
                    if not self._another_worker_is_needed():
                        return
                worker = self._launch_worker()
                with self.inbox.lock:
                    keep = self._register(worker)
                if not keep:
                    _kill(worker.process)  # step 3 above
        except Exception as exc:
            self._break_pool(f"Could not start a worker process: {exc!r}. "
                             "The process pool is not usable anymore.")

    # ------------------------------------------------------------ main loop
    def run(self) -> None:
        """The body of the dispatcher thread."""
        try:
            while True:
                self._start_workers_for_pending()
                self._hand_out_work()
                self._publish_free_workers()
                if self._finished():
                    return
                self._wait_and_handle()
        except BaseException as exc:  # a bug here must not leave futures hanging
            self._break_pool(f"The dispatcher thread failed: {exc!r}. "
                             "The process pool is not usable anymore.")
            raise
        finally:
            self._stop_all_workers()
            self._selector.close()
            self.inbox.close_wakeup()

    def _finished(self) -> bool:
        with self.inbox.lock:
            if self.inbox.broken is not None:
                return True
            if not self.inbox.closed or self.inbox.pending:
                return False
        if self.put_back:
            return False
        return all(worker.task is None for worker in self.workers)

    def _publish_free_workers(self) -> None:
        """Tell the inbox how many workers are free (see ``_Inbox.free_workers``)."""
        busy = sum(1 for worker in self.workers if worker.task is not None)
        with self.inbox.lock:
            self.inbox.free_workers = self.max_workers - busy

    def _is_broken(self) -> bool:
        with self.inbox.lock:
            return self.inbox.broken is not None

    def _next_item(self) -> Optional[_WorkItem]:
        """The oldest pending item that was not cancelled, now marked running."""
        if self.put_back:
            return self.put_back.popleft()  # already running: its worker died
        while True:
            with self.inbox.lock:
                if not self.inbox.pending:
                    return None
                item = self.inbox.pending.popleft()
                self.inbox.free_workers -= 1  # exact again at _publish_free_workers
                if self.inbox.limit is not None:
                    self.inbox.limit.release(item)  # room for a waiting submit
            if item.future.set_running_or_notify_cancel():
                return item

    def _hand_out_work(self) -> None:
        for worker in self.workers:
            if not worker.is_idle():
                continue
            item = self._next_item()
            if item is None:
                return
            worker.task = item
            if self.options is not None:
                self._note_handed_out(worker, item)
            try:
                worker.channel.send_bytes(item.payload)
            except OSError:
                # It is dying; its sentinel will name this task. The pipe is
                # still read: it may hold the worker's last words (say, that
                # its initializer failed), which explain the death better.
                pass

    def _wait_and_handle(self) -> None:
        timeout = None if self.options is None else self._time_to_next_deadline()
        ready = [key.data for key, _ in self._selector.select(select_wait(timeout))]
        if self.options is not None:
            self._kill_overdue_workers()
        with self.inbox.lock:
            self.inbox.take_wakeup()
        # Replies first: a worker that replied and then died delivers its reply.
        for what, worker in ready:
            if what == "reply" and worker.channel_open and not self._is_broken():
                self._read_reply(worker)
        for what, worker in ready:
            if what == "exit" and worker in self.workers and not self._is_broken():
                self._on_exit(worker)

    def _close_channel(self, worker: _Worker) -> None:
        """Stop reading a dying worker's channel; its sentinel will tell the rest."""
        if worker.channel_open:
            worker.channel_open = False
            self._selector.unregister(worker.channel)

    # -------------------------------------------------------------- replies
    def _read_reply(self, worker: _Worker) -> None:
        try:
            data = worker.channel.recv_bytes()
        except (EOFError, OSError):
            self._close_channel(worker)  # it died mid-reply; its sentinel will tell
            return
        if data == _STARTED:
            self._note_started(worker)
            return
        if data == _READY:
            worker.initialized = True
            return
        if data[:1] == _INIT_FAILED:
            self._on_initializer_failure(worker, pickle.loads(memoryview(data)[1:]))
            return
        item, worker.task = worker.task, None
        worker.tasks_done += 1
        if self.options is not None:
            self._note_reply(worker)
        if self.max_tasks_per_child is not None and worker.tasks_done >= self.max_tasks_per_child:
            self._send_stop(worker)  # retired; a replacement starts when work needs it
        if item is not None:
            _settle(item, data, worker.pid)

    def _on_initializer_failure(self, worker: _Worker, text: str) -> None:
        initializer = _name_of(self.initializer)
        LOGGER.critical("Exception in initializer %s (worker process %s):\n%s",
                        initializer, worker.pid, text)
        last_line = text.strip().splitlines()[-1] if text.strip() else "an exception"
        self._break_pool(
            f"The initializer {initializer} failed in worker process {worker.pid} "
            f"({last_line}). The process pool is not usable anymore.",
            cause=RemoteTraceback(worker.pid, text))

    def _send_stop(self, worker: _Worker) -> None:
        worker.stopping = True
        try:
            worker.channel.send_bytes(_STOP)
        except OSError:
            pass  # already dying: its sentinel will tell

    # --------------------------------------------------------------- deaths
    def _on_exit(self, worker: _Worker) -> None:
        """The worker's process ended: as asked, or it died."""
        while worker.channel_open and worker.channel.poll():
            self._read_reply(worker)  # what it sent before it ended
            if self._is_broken():
                return
        worker.process.join()
        with self.inbox.lock:
            expected = worker.task is None and (worker.stopping or self.inbox.closed)
        if not expected:
            self._on_unexpected_exit(worker)
        self._forget(worker)

    def _on_unexpected_exit(self, worker: _Worker) -> None:
        """A worker ended that was not told to: it crashed, or it overran task_timeout."""
        if worker.timed_out:
            self._fail_timed_out_task(worker)
        elif self.options is not None and self.options.survive_crashes:
            self._survive_crash(worker)
        else:
            # Only a configured pool's workers say _STARTED; otherwise a task
            # counts as started once the worker's initializer returned.
            started = worker.task_started if self.announce_start else worker.initialized
            self._break_pool(_death_message(worker.pid, worker.task, worker.process.exitcode,
                                            initialized=worker.initialized,
                                            task_started=started))

    def _forget(self, worker: _Worker) -> None:
        """Drop an ended worker. Its process must have been joined."""
        with self.inbox.lock:
            self.workers.remove(worker)
            self.inbox.processes.pop(worker.pid or 0, None)
        if self.tracker is not None and worker.pid is not None:
            self.tracker.worker_exited(worker.pid, worker.process.exitcode)
        self._close_channel(worker)
        self._selector.unregister(worker.process.sentinel)
        worker.channel.close()
        worker.process.close()

    def _break_pool(self, message: str, cause: Optional[BaseException] = None) -> None:
        """Mark the pool broken, kill every worker, fail every unfinished future."""
        with self.inbox.lock:
            if self.inbox.broken is None:
                self.inbox.broken = message
            abandoned = list(self.inbox.pending)
            self.inbox.pending.clear()
        running = [worker.task for worker in self.workers if worker.task is not None]
        running += self.put_back
        self.put_back.clear()
        if self.inbox.limit is not None:
            self.inbox.limit.close()  # a submit waiting for room raises now
        for worker in self.workers:
            worker.task = None
            _kill(worker.process)
        for item in running:
            item.future.set_exception(_broken(message, cause))
        for item in abandoned:
            if item.future.set_running_or_notify_cancel():
                item.future.set_exception(_broken(message, cause))

    def _stop_all_workers(self) -> None:
        for worker in self.workers:
            if not worker.stopping:
                self._send_stop(worker)
        for worker in list(self.workers):
            worker.process.join()
            self._forget(worker)

    # ------------------------------------ extras (configured pools only; _extras.py)
    def configure(self, options: _Options) -> None:
        """Take the pool's extras. Call before the dispatcher thread exists."""
        self.options = options
        # A task's deadline counts from its start, not from when it was
        # handed out (a spawned worker may still be starting up then).
        self.announce_start = options.survive_crashes or options.task_timeout is not None
        if options.tracks:
            self.tracker = _Tracker(options.on_task_done, options.on_worker_exit)

    def _note_handed_out(self, worker: _Worker, item: _WorkItem) -> None:
        assert self.options is not None
        worker.task_started = False
        if self.tracker is not None and worker.pid is not None:
            self.tracker.task_started(item.future, worker.pid, item.describe)

    def _note_started(self, worker: _Worker) -> None:
        """The worker said _STARTED: its task is running now."""
        worker.task_started = True
        if self.options is not None and self.options.task_timeout is not None:
            worker.deadline = time.monotonic() + self.options.task_timeout

    def _note_reply(self, worker: _Worker) -> None:
        worker.deadline = None
        if self.tracker is not None and worker.pid is not None:
            self.tracker.worker_idle(worker.pid)

    def _time_to_next_deadline(self) -> Optional[float]:
        """Seconds until the first running task overruns (None: no deadline)."""
        deadlines = [worker.deadline for worker in self.workers if worker.deadline is not None]
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - time.monotonic())

    def _kill_overdue_workers(self) -> None:
        """Kill each worker whose task overran; its sentinel then calls _on_exit."""
        now = time.monotonic()
        for worker in self.workers:
            if worker.deadline is not None and worker.deadline <= now:
                worker.deadline = None
                worker.timed_out = True
                _kill(worker.process)

    def _fail_timed_out_task(self, worker: _Worker) -> None:
        item, worker.task = worker.task, None
        if item is None:
            return  # its reply arrived just before the kill: the task finished
        assert self.options is not None and self.options.task_timeout is not None
        limit, task = self.options.task_timeout, item.describe()
        item.future.set_exception(TaskTimeout(
            f"task {task} ran longer than its task_timeout of {limit} s; its worker "
            f"process {worker.pid} was killed and is replaced", task=task, limit=limit,
            worker=worker.pid))

    def _survive_crash(self, worker: _Worker) -> None:
        """survive_crashes: only the dead worker's task fails (or runs again).

        The worker itself is gone (``_forget``); ``_start_workers_for_pending``
        starts a replacement as soon as work needs one.
        """
        item, worker.task = worker.task, None
        if item is None:
            return  # it died while idle: nothing was lost
        if self._may_run_again(worker, item):
            if self.tracker is not None:
                self.tracker.task_requeued(item.future)
            self.put_back.append(item)
            return
        item.future.set_exception(_crash_error(worker, item))

    def _may_run_again(self, worker: _Worker, item: _WorkItem) -> bool:
        """Send the task to another worker? Not once terminate/kill_workers began.

        A plain shutdown() still runs what was queued, and a task whose worker
        died before starting it is still queued work; so is a crashed task
        with crash_retries left.
        """
        assert self.options is not None
        with self.inbox.lock:
            if self.inbox.terminating:
                return False
        if not worker.task_started:  # it died before starting the task: the task is innocent
            item.unstarted_retries += 1
            return item.unstarted_retries <= _MAX_UNSTARTED_RETRIES
        item.crashes += 1
        return item.crashes <= self.options.crash_retries


def _crash_error(worker: _Worker, item: _WorkItem) -> WorkerCrashed:
    exitcode = worker.process.exitcode
    task = item.describe()
    if worker.task_started:
        doing = f"while running task {task}"
        if item.crashes > 1:
            doing += f" (its {_ordinal(item.crashes)} crash: crash_retries used up)"
    else:
        doing = (f"before starting task {task} ({item.unstarted_retries} workers died "
                 "before starting it)")
    signal_name = None
    if exitcode is not None and exitcode < 0:
        try:
            signal_name = signal.Signals(-exitcode).name
        except ValueError:
            pass
    message = (f"A process in the process pool was terminated abruptly: worker process "
               f"{worker.pid} {_describe_exit(exitcode)} {doing}. The worker is replaced; "
               f"the other tasks go on (survive_crashes=True).")
    return WorkerCrashed(message, task=task, pid=worker.pid, exitcode=exitcode,
                         signal_name=signal_name, attempts=item.crashes + item.unstarted_retries)


def _ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th ... 11th, 12th, 13th ... 21st, 22nd ..."""
    if n % 100 in (11, 12, 13):
        return f"{n}th"
    return f"{n}{({1: 'st', 2: 'nd', 3: 'rd'}).get(n % 10, 'th')}"


def _broken(message: str, cause: Optional[BaseException]) -> BrokenProcessPool:
    error = BrokenProcessPool(message)
    error.__cause__ = cause
    return error


def _kill(process: BaseProcess) -> None:
    """SIGKILL a worker and every process it started (see ``_signal_tree``)."""
    _signal_tree(process, signal.SIGKILL)


# --------------------------------------- killing a worker and what it started
# When minipool kills a worker (task_timeout, terminate_workers, kill_workers,
# a broken pool), the processes its task started (a subprocess.Popen, a
# multiprocessing.Pool of its own ...) go too: killed alone, the worker would
# leave them running, re-parented to init. The workers stay in the parent's
# process group, so Ctrl-C in a terminal still reaches them and their
# children, as with the stdlib's pool (a process group of their own would
# also stop a worker that reads the terminal, with SIGTTIN).
def _signal_tree(process: BaseProcess, signum: int) -> None:
    """Send *signum* to a worker process and all its descendants.

    The tree is frozen before it is walked, so that it cannot grow meanwhile:

      1. SIGSTOP the worker: it starts no new process from now on (a fork
         it was inside either completed, and the child is listed, or is
         restarted after the stop: the kernel checks for pending signals
         at the end of fork);
      2. list the children of each stopped process (``_children_of``: the
         kernel's list is reliable for a stopped process), SIGSTOP them,
         and go on with their children;
      3. send *signum* to every process found, then SIGCONT them all (a
         stopped process acts on SIGKILL, but keeps a SIGTERM pending until
         it is continued).

    A stopped process cannot reap its children, so a pid listed in step 2
    stays that child's until step 3, even if the child exits meanwhile.
    Outside the tree, and so left alone: processes that left it before
    step 1 (a daemon that double-forked, anything whose parent exited and
    that was re-parented to init). Without ``/proc`` (not Linux), only the
    worker gets *signum*.
    """
    try:
        if process.pid is None or process.exitcode is not None:
            return  # never started, or ended and reaped: its pid is not ours any more
    except ValueError:
        return  # closed: the dispatcher joined and forgot it
    if not _send(process.pid, signal.SIGSTOP):
        return
    tree = [process.pid]
    try:
        for parent in tree:  # grows as the loop runs: a breadth-first walk
            for child in _children_of(parent):
                if child not in tree and _send(child, signal.SIGSTOP):
                    tree.append(child)
    finally:
        for pid in tree:
            _send(pid, signum)
        for pid in tree:
            _send(pid, signal.SIGCONT)


def _children_of(pid: int) -> list[int]:
    """The children of *pid*, from every one of its threads (Linux's /proc)."""
    children: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:  # gone, or no /proc
        return children
    for thread in threads:
        try:
            with open(f"/proc/{pid}/task/{thread}/children") as listing:
                children += [int(child) for child in listing.read().split()]
        except OSError:  # the thread ended
            pass
    return children


def _send(pid: int, signum: int) -> bool:
    """``os.kill``; False if that process is gone (or not ours to signal)."""
    try:
        os.kill(pid, signum)
    except OSError:
        return False
    return True


def _settle(item: _WorkItem, reply: bytes, pid: Optional[int]) -> None:
    """Set the item's future from a worker's reply (callbacks run here)."""
    kind, body = reply[:1], memoryview(reply)[1:]
    if kind == _RESULT:
        try:
            value = pickle.loads(body)
        except BaseException as exc:  # even SystemExit: see _unpickling_error
            item.future.set_exception(_unpickling_error(
                exc, f"cannot unpickle the result of task {item.describe()}: {_reason(exc)}"))
            return
        item.future.set_result(value)
        return
    exception_body, text = pickle.loads(body)  # bytes and str: always unpickle
    item.future.set_exception(_remote_error(exception_body, text, pid, item.describe))


def _remote_error(body: bytes, text: str, pid: Optional[int],
                  describe_task: Callable[[], str]) -> BaseException:
    """The exception a task raised in a worker, its traceback as its ``__cause__``."""
    try:
        error = pickle.loads(body)
    except BaseException as exc:  # even SystemExit: see _unpickling_error
        error = _unpickling_error(
            exc, f"cannot unpickle the exception raised by task {describe_task()}: {_reason(exc)}")
    error.__cause__ = RemoteTraceback(pid, text)
    assert isinstance(error, BaseException)
    return error


# ------------------------------------------------------------------ the pool
def _default_max_workers() -> int:
    """The stdlib's default for the running Python."""
    return usable_cpu_count()


def _worker_count(max_workers: int) -> int:
    """*max_workers* as an int; TypeError for a float, as the stdlib's process pool.

    (Its thread pool, and MiniThreadPool, take a float.) Anything with
    ``__index__`` counts, True included, as in the stdlib.
    """
    try:
        return operator.index(max_workers)
    except TypeError:
        raise TypeError(f"max_workers must be an integer, not {max_workers!r}") from None


def _default_context(max_tasks_per_child: Optional[int]) -> BaseContext:
    """The stdlib's choice (3.11+): spawn with max_tasks_per_child, else the default."""
    if max_tasks_per_child is not None:
        return multiprocessing.get_context("spawn")
    return multiprocessing.get_context()


def _run_chunk(fn: Callable[..., T], chunk: tuple[tuple[Any, ...], ...]) -> list[T]:
    """Run in a worker: one work item of map(chunksize=n)."""
    return [fn(*args) for args in chunk]


def _chunks(calls: Iterator[tuple[Any, ...]], size: int) -> Iterator[tuple[tuple[Any, ...], ...]]:
    while True:
        chunk = tuple(itertools.islice(calls, size))
        if not chunk:
            return
        yield chunk


def _flatten(chunk_results: Iterator[list[T]]) -> Iterator[T]:
    # Dropping this generator drops chunk_results, whose own cleanup then
    # cancels the chunks not yet started. Each value is popped before it is
    # yielded, so the chunk's list does not keep a value the caller dropped.
    for results in chunk_results:
        results.reverse()
        while results:
            yield results.pop()


# -------------------------------------- map(chunksize=1): automatic chunks
# Speed: map() with the default chunksize=1 sends its calls in chunks anyway,
# like multiprocessing.Pool.map. One message per call costs a round trip to a
# worker each; process map over 200k ints went from ratio ~0.6 (one future
# per call, as in the stdlib) to 0.01 (20 s -> 0.21 s). What a caller sees stays
# as with one task per call: each call's outcome travels on its own, so the
# values before a failing call are yielded and its exception is raised at its
# own position (with its RemoteTraceback); a chunk that cannot be pickled is
# sent call by call, so a bad argument fails at its own position too. What
# differs: a chunk runs as a whole, so stopping early (or a timeout) cancels
# only the chunks not yet handed to a worker; the rest of a started chunk
# still runs. (docs/differences.md, docs/performance.md)
_MAX_AUTOMATIC_CHUNK = 1024


def _automatic_chunksize(calls: int, workers: int) -> int:
    """Four chunks per worker (as multiprocessing.Pool), at most 1024 calls each.

    Several chunks per worker keep them all busy to the end when calls take
    unequal times; the cap bounds what an early stop leaves running. Fewer
    than 4 calls per worker: one call per task, as without chunking.
    """
    return max(1, min(_MAX_AUTOMATIC_CHUNK, -(-calls // (4 * workers))))


def _run_chunk_outcomes(fn: Callable[..., Any], chunk: tuple[tuple[Any, ...], ...]) -> bytes:
    """Run in a worker: one automatic chunk. Every call's outcome, pickled.

    An outcome is (True, value) or (False, _exception_body(exc)). If some
    value cannot be pickled, only its call fails, as it would on its own.
    """
    outcomes: list[tuple[bool, Any]] = []
    for args in chunk:
        try:
            outcomes.append((True, fn(*args)))
        except BaseException as exc:
            outcomes.append((False, _exception_body(exc)))
            del exc  # break the cycle exc -> traceback -> this frame -> exc
    try:
        return _dumps((os.getpid(), outcomes))
    except Exception:
        checked = [_picklable_outcome(fn, args, outcome) for args, outcome in zip(chunk, outcomes)]
        return _dumps((os.getpid(), checked))


def _picklable_outcome(fn: Callable[..., Any], args: tuple[Any, ...],
                       outcome: tuple[bool, Any]) -> tuple[bool, Any]:
    ok, value = outcome
    if not ok:
        return outcome
    try:
        _dumps(value)
    except Exception as exc:
        task = _describe_call(fn, args, {})
        error = _same_kind_of_error(
            exc, f"cannot pickle the result of task {task}, {_short_repr(value)}: {exc}")
        return (False, _exception_body(error))
    return outcome


# One entry of an automatic map: a future, and the calls it carries -- a
# chunk (its result is _run_chunk_outcomes's) or None (one call: its value).
_MapPart = tuple[Future[Any], Optional[tuple[tuple[Any, ...], ...]]]


def _results_of_parts(parts: collections.deque[_MapPart], fn: Callable[..., T],
                      deadline: Optional[float]) -> Iterator[T]:
    try:
        while parts:
            # No local names a yielded value (nor its future): once the caller
            # drops a result, it is freed, as with the stdlib's map.
            if parts[0][1] is None:  # one call: its future holds the value
                yield _result_or_cancel(parts.popleft()[0], deadline)
                continue
            future, chunk = parts.popleft()  # a chunk: its future holds bytes
            assert chunk is not None
            packed = _result_or_cancel(future, deadline)
            del future
            yield from _chunk_values(packed, fn, chunk)
    finally:
        for future, _ in parts:  # the caller stopped early, or a call failed
            future.cancel()


def _chunk_values(packed: bytes, fn: Callable[..., T],
                  chunk: tuple[tuple[Any, ...], ...]) -> Iterator[T]:
    """The chunk's values in order; a call's exception is raised at its position.

    No local names a yielded value: once the caller drops it, it is freed.
    """
    try:
        pid, outcomes = pickle.loads(packed)
    except BaseException as exc:  # even SystemExit: see _unpickling_error
        raise _unpickling_error(exc, f"cannot unpickle the results of a chunk of map calls "
                                     f"starting with {_describe_call(fn, chunk[0], {})}: "
                                     f"{_reason(exc)}") from exc
    outcomes.reverse()  # so that pop() takes them in order
    for args in chunk:
        if not outcomes[-1][0]:
            body, text = outcomes.pop()[1]
            raise _remote_error(body, text, pid, functools.partial(_describe_call, fn, args, {}))
        yield outcomes.pop()[1]


# The stdlib's ProcessPoolExecutor is a second base class, a deliberate
# borrowing for identity only: libraries check isinstance(pool,
# concurrent.futures.ProcessPoolExecutor). Its __init__ never runs, so none of
# its machinery (call queue, manager thread, wake-up pipe, exit hook) is ever
# made; every public method it defines is defined here or in Executor, and its
# private helpers are reachable only from those (tests/test_identity.py).
class MiniProcessPool(Executor, concurrent.futures.ProcessPoolExecutor):
    """An executor that runs each call in one of up to *max_workers* processes."""

    _pool_numbers = itertools.count()

    def __init__(
        self,
        max_workers: Optional[int] = None,
        mp_context: Optional[BaseContext] = None,
        initializer: Optional[Callable[..., object]] = None,
        initargs: tuple[Any, ...] = (),
        *,
        max_tasks_per_child: Optional[int] = None,
    ) -> None:
        if max_workers is None:
            max_workers = _default_max_workers()
        elif max_workers <= 0:  # first, as in the stdlib: -1.0 is a ValueError
            raise ValueError("max_workers must be greater than 0")
        else:
            max_workers = _worker_count(max_workers)
        if mp_context is None:
            mp_context = _default_context(max_tasks_per_child)
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        if max_tasks_per_child is not None:
            if not isinstance(max_tasks_per_child, int):
                raise TypeError("max_tasks_per_child must be an integer")
            if max_tasks_per_child <= 0:
                raise ValueError("max_tasks_per_child must be >= 1")
        self._max_workers = max_workers
        self._mp_context = mp_context
        self._fork = mp_context.get_start_method() == "fork"
        self._inbox = _Inbox(max_workers)
        self._dispatcher = _Dispatcher(
            self._inbox, mp_context, max_workers=max_workers,
            max_tasks_per_child=max_tasks_per_child, initializer=initializer,
            initargs=initargs, name=f"MiniProcessPool-{next(self._pool_numbers)}")
        # Started by the first submit; read and written under _inbox.lock.
        self._dispatcher_thread: Optional[threading.Thread] = None
        self._options: Optional[_Options] = None  # configure(): then fixed
        watch_until_exit(self._inbox)
        # If the pool is garbage collected without shutdown, let the work finish.
        weakref.finalize(self, self._inbox.close).atexit = False

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        # _options is read here without the lock, and again under it in
        # _enqueue. Without the second read, a submit racing configure():
        #   1. submit() reads _options: None, so it pickles a plain call;
        #   2. configure() takes the lock, finds no dispatcher yet, configures;
        #   3. submit() takes the lock and queues a plain item into a
        #      configured pool (no timeline: the dispatcher fails on it).
        # Under the lock, either configure() came first (the item is queued
        # as a configured one) or the submit did (configure() then refuses).
        if self._options is not None:
            return self._submit_configured(fn, args, kwargs)
        try:
            payload = _pickle_call(fn, args, kwargs)
        except Exception as exc:
            return self._enqueue(fn, args, kwargs, b"", exc)
        return self._enqueue(fn, args, kwargs, payload, None)

    def _enqueue(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any],
                 payload: bytes, pickling_error: Optional[Exception]) -> Future[T]:
        """Queue the pickled call (or fail it with *pickling_error*); its Future."""
        future: Future[T] = Future()
        inbox = self._inbox
        with inbox.lock:
            configured = self._options is not None  # read again under the lock: see submit
            if not configured:
                inbox.check_accepting()
                if pickling_error is None:
                    inbox.pending.append(_WorkItem(future, payload, fn, args, kwargs))
                    self._start_dispatcher_once()
                    inbox.wake_dispatcher()
        if configured:  # configure() took the lock first: this submit comes after it
            return self._enqueue_configured(fn, args, kwargs, payload, pickling_error)
        if pickling_error is not None:
            future.set_exception(pickling_error)  # fails now; never reaches a worker
        return future

    def _start_dispatcher_once(self) -> None:
        """Call with ``_inbox.lock`` held."""
        if self._dispatcher_thread is not None:
            return
        self._dispatcher.open(self._inbox.open_wakeup())  # the pool's first fds
        if self._fork:  # fork now, while no thread of this pool runs
            self._dispatcher.start_workers_now(self._max_workers)
        thread = threading.Thread(target=self._dispatcher.run,
                                  name=f"{self._dispatcher.name}_dispatcher", daemon=False)
        thread.start()
        self._dispatcher_thread = thread

    def map(
        self,
        fn: Callable[..., T],
        *iterables: Iterable[Any],
        timeout: Optional[float] = None,
        chunksize: int = 1,
        buffersize: Optional[int] = None,
    ) -> Iterator[T]:
        """Like ``Executor.map``; with *chunksize* > 1, calls travel in batches.

        A batch of *chunksize* calls is one work item (one round trip to a
        worker); results still come back one by one, in input order.
        *buffersize* then counts batches.

        With the default chunksize=1 (no *buffersize*, no ``configure``), the calls still
        travel in automatic chunks, yet each call's outcome comes back on
        its own: see ``_automatic_chunksize``.
        """
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        if chunksize == 1 and buffersize is None and self._options is None:
            return self._map_in_automatic_chunks(fn, iterables, timeout)
        if chunksize == 1:
            return super().map(fn, *iterables, timeout=timeout, buffersize=buffersize)
        per_chunk = super().map(functools.partial(_run_chunk, fn),
                                _chunks(zip(*iterables), chunksize),
                                timeout=timeout, buffersize=buffersize)
        return _flatten(per_chunk)

    def _map_in_automatic_chunks(self, fn: Callable[..., T], iterables: tuple[Iterable[Any], ...],
                                 timeout: Optional[float]) -> Iterator[T]:
        deadline = None if timeout is None else time.monotonic() + timeout
        calls = list(zip(*iterables))  # read at once, as the stdlib's map does
        size = _automatic_chunksize(len(calls), self._max_workers)
        runner = functools.partial(_run_chunk_outcomes, fn)
        parts: collections.deque[_MapPart] = collections.deque()
        try:
            for chunk in _chunks(iter(calls), size):
                if size == 1:
                    parts.append((self.submit(fn, *chunk[0]), None))
                    continue
                try:
                    payload = _pickle_call(runner, (chunk,), {})
                except Exception:  # some call cannot be pickled: send them one by one
                    parts.extend((self.submit(fn, *args), None) for args in chunk)
                    continue
                parts.append((self._enqueue(runner, (chunk,), {}, payload, None), chunk))
        except BaseException:
            for future, _ in parts:  # submit refused (shutdown, broken): drop the rest
                future.cancel()
            raise
        return _results_of_parts(parts, fn, deadline)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._inbox.close(cancel_pending=cancel_futures)
        with self._inbox.lock:
            thread = self._dispatcher_thread
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join()

    def terminate_workers(self) -> None:
        """Shut down at once: cancel pending work and SIGTERM every worker.

        Futures of running tasks fail with BrokenProcessPool (Python 3.14's API).
        """
        for process in self._shutdown_now():
            _signal_tree(process, signal.SIGTERM)

    def kill_workers(self) -> None:
        """Like ``terminate_workers``, with SIGKILL (Python 3.14's API)."""
        for process in self._shutdown_now():
            _kill(process)

    # ------------------------------------------ extras (opt-in, see _extras.py)
    def configure(
        self,
        *,
        survive_crashes: bool = False,
        crash_retries: int = 0,
        task_timeout: Optional[float] = None,
        max_pending: Optional[int] = None,
        submit_timeout: Optional[float] = None,
        timeline: bool = False,
        on_task_done: Optional[Callable[[Future[Any]], object]] = None,
        on_worker_exit: Optional[Callable[[int, Optional[int]], object]] = None,
    ) -> Self:
        """Switch on minipool's extras; call before the first submit. Returns the pool.

        * *survive_crashes*: a worker that dies fails only the task it was
          running, with ``WorkerCrashed`` (a ``BrokenProcessPool``); it is
          replaced and the pool goes on. A task whose worker died before
          starting it is sent to another worker. *crash_retries*: run a
          crashed task again, up to that many times, before failing it.
        * *task_timeout*: a task running longer than that many seconds has
          its worker killed (and replaced) and fails with ``TaskTimeout``.
        * *max_pending*, *submit_timeout*: back-pressure on ``submit``, as in
          ``MiniThreadPool.configure``. Submits from done callbacks (which
          run in the dispatcher thread) never wait.
        * *timeline*, *on_task_done(future)*, *on_worker_exit(pid,
          exitcode)*: timelines, ``stats()`` and hooks (the hooks run in the
          dispatcher thread, or for a cancel in the cancelling thread).
        """
        options = _make_options(
            survive_crashes=survive_crashes, crash_retries=crash_retries,
            task_timeout=task_timeout, max_pending=max_pending, submit_timeout=submit_timeout,
            timeline=timeline, on_task_done=on_task_done, on_worker_exit=on_worker_exit)
        with self._inbox.lock:
            if self._dispatcher_thread is not None or self._options is not None:
                raise RuntimeError("configure() must be called once, before the first submit")
            if options.max_pending is not None:
                self._inbox.limit = _PendingLimit(options.max_pending, options.submit_timeout)
            self._dispatcher.configure(options)
            self._options = options
        return self

    def stats(self) -> PoolStats:
        """Counts, queue depth and per-worker state (needs ``configure(timeline=True)``)."""
        if self._dispatcher.tracker is None:
            raise _stats_not_enabled()
        return self._dispatcher.tracker.snapshot()

    def _submit_configured(self, fn: Callable[..., T], args: tuple[Any, ...],
                           kwargs: dict[str, Any]) -> Future[T]:
        """``submit`` for a configured pool: the same steps, plus the extras."""
        try:
            payload = _pickle_call(fn, args, kwargs)
        except Exception as exc:
            return self._enqueue_configured(fn, args, kwargs, b"", exc)
        return self._enqueue_configured(fn, args, kwargs, payload, None)

    def _enqueue_configured(self, fn: Callable[..., T], args: tuple[Any, ...],
                            kwargs: dict[str, Any], payload: bytes,
                            pickling_error: Optional[Exception]) -> Future[T]:
        """``_enqueue`` for a configured pool: the same steps, plus the extras."""
        inbox, tracker = self._inbox, self._dispatcher.tracker
        # A tracking pool's futures also time their callbacks (_timeline._TimedFuture).
        future: Future[T] = Future() if tracker is None else _TimedFuture()
        item = _WorkItem(future, payload, fn, args, kwargs)
        limit = inbox.limit if pickling_error is None else None
        if limit is not None and threading.current_thread() is not self._dispatcher_thread:
            limit.reserve(item)  # back-pressure: may wait, may raise TimeoutError
        try:
            with inbox.lock:
                inbox.check_accepting()
                if tracker is not None:
                    tracker.task_submitted(future)
                if pickling_error is None:
                    if limit is not None:  # a cancelled queued task frees its place at once
                        future.add_done_callback(lambda _: limit.release(item))
                    inbox.pending.append(item)
                    self._start_dispatcher_once()
                    inbox.wake_dispatcher()
        except BaseException:
            if limit is not None:
                limit.release(item)
            raise
        if pickling_error is not None:
            future.set_exception(pickling_error)  # fails now; never reaches a worker
        return future

    def _shutdown_now(self) -> list[BaseProcess]:
        with self._inbox.lock:
            self._inbox.terminating = True
            processes = list(self._inbox.processes.values())
        self.shutdown(wait=False, cancel_futures=True)
        return processes


ProcessPoolExecutor = MiniProcessPool
