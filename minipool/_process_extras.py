"""The process pool's extras: what ``MiniProcessPool.configure(...)`` plugs in.

Loaded only by ``configure()`` (a pool that is never configured never
imports this module). It plugs in one ``_ProcessExtras`` as the pool's
``_extras``; from then on the pool's ``submit`` is ``_ProcessExtras.submit``,
and the dispatcher it starts is a ``_ConfiguredDispatcher``: the core
``_Dispatcher`` with its hooks overridden.

How a task flows through a configured pool (the core steps in brackets)::

    _ProcessExtras.submit               [submitting thread]
      _PendingLimit.reserve(item)        max_pending: may wait for room
      _Tracker.task_submitted(future)    timeline
      [inbox.pending.append(item)]
    _ConfiguredDispatcher                [dispatcher thread]
      _hand_out_work  not the shared channel: each idle worker gets one call
                      down its own pipe (worker.task = item; worker.give)
      _next_item      put_back first (tasks whose worker died), then [pending];
                      gives back the item's max_pending place
      _handed_out     _Tracker.task_started
                                         [worker process: _configured_worker_main]
      _on_reply       _STARTED -> _note_started: the task's deadline starts now
                      a reply -> _note_reply, then [_settle]
      _how_long_to_wait / _check_deadlines
                      sleep until the first deadline; kill a worker whose task
                      overran (its sentinel then calls _on_exit)
      _on_unexpected_exit(worker)
        _timed_out       -> _fail_timed_out_task: TaskTimeout, the pool goes on
        survive_crashes  -> _survive_crash: the task goes to put_back (it never
                            started, or crash_retries are left) or fails with
                            WorkerCrashed (_crash_error); the pool goes on
        otherwise        -> [_break_pool]

Workers of a configured dispatcher send ``_STARTED`` before each call
(``announce_start``): a task whose worker died before that message never
ran and can be sent again, and a task's deadline counts from it, not from
when it was handed out (a spawned worker may still be starting up then).

State: ``put_back``, ``_deadlines``, ``_announced`` and ``_timed_out`` are
owned by the dispatcher thread.
"""

from __future__ import annotations

import collections
import multiprocessing
import selectors
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

from ._deaths import _describe_exit, _kill
from ._dispatcher import _Dispatcher, _Settings, _start, _Worker
from ._extras import TaskTimeout, WorkerCrashed, _make_options, _Options, _PendingLimit
from ._future import Future
from ._inbox import _Inbox, _WorkItem
from ._process_worker import _initialized, _run_call
from ._stats import PoolStats, _stats_not_enabled
from ._timeline import _TimedFuture, _Tracker
from ._wire import _STARTED, _STOP, _pickle_call, _send_frame, _settle

if TYPE_CHECKING:
    from .process import MiniProcessPool

T = TypeVar("T")

# How many times a task is handed again to a new worker after its worker died
# before starting it (a worker that dies in its initializer each time must not
# make the dispatcher loop forever).
_MAX_UNSTARTED_RETRIES = 3


def per_worker_dispatcher(inbox: _Inbox, settings: _Settings) -> _Dispatcher:
    """An unconfigured pool's dispatcher where the shared channel cannot be
    made (no ``SOCK_SEQPACKET``: macOS): each call to an idle worker's own pipe."""
    return _ConfiguredDispatcher(inbox, settings, _make_options(), None, None)


def configure_process_pool(pool: MiniProcessPool, **keywords: Any) -> None:
    """``MiniProcessPool.configure``: check the keywords, plug a ``_ProcessExtras`` in."""
    options = _make_options(**keywords)
    inbox = pool._inbox
    with inbox.lock:
        if pool._dispatcher_thread is not None or pool._extras is not None:
            raise RuntimeError("configure() must be called once, before the first submit")
        pool._extras = _ProcessExtras(inbox, options)


class _RetriedItem(_WorkItem):
    """A work item of a configured pool: it counts its workers' deaths."""

    crashes = 0  # how many of its workers died while running it
    unstarted_retries = 0  # how many workers died before starting it


class _ProcessExtras:
    """The extras of one configured pool: its submit, its stats, its dispatcher."""

    def __init__(self, inbox: _Inbox, options: _Options) -> None:
        self.inbox = inbox
        self.options = options
        self.limit: Optional[_PendingLimit] = None
        if options.max_pending is not None:
            self.limit = _PendingLimit(options.max_pending, options.submit_timeout)
            inbox.on_close.append(self.limit.close)
        self.tracker: Optional[_Tracker] = None
        if options.tracks:
            self.tracker = _Tracker(options.on_task_done, options.on_worker_exit)

    def make_dispatcher(self, settings: _Settings) -> _Dispatcher:
        return _ConfiguredDispatcher(self.inbox, settings, self.options, self.tracker, self.limit)

    def stats(self) -> PoolStats:
        if self.tracker is None:
            raise _stats_not_enabled()
        return self.tracker.snapshot()

    def submit(self, pool: MiniProcessPool, fn: Callable[..., T], args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> Future[T]:
        """``submit`` for a configured pool: the core steps, plus the extras.

        (The pool comes as an argument: the extras keep no reference to it, so
        a pool dropped without shutdown is still collected at once.)
        """
        # A tracking pool's futures also time their callbacks (_timeline._TimedFuture).
        future: Future[T] = Future() if self.tracker is None else _TimedFuture()
        try:
            payload = _pickle_call(fn, args, kwargs)
        except Exception as exc:
            pickling_error: Optional[Exception] = exc
        else:
            pickling_error = None
        inbox, tracker = self.inbox, self.tracker
        item = _RetriedItem(future, payload if pickling_error is None else b"", fn, args, kwargs)
        limit = self.limit if pickling_error is None else None
        if limit is not None and threading.current_thread() is not pool._dispatcher_thread:
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
                    pool._start_dispatcher_once()
                    inbox.wake_dispatcher()
        except BaseException:
            if limit is not None:
                limit.release(item)
            raise
        if pickling_error is not None:
            future.set_exception(pickling_error)  # fails now; never reaches a worker
        return future


class _ConfiguredDispatcher(_Dispatcher):
    """The core dispatcher with the extras' hooks; see the module docstring."""

    uses_channel = False  # every call goes to one worker: through _next_item and _handed_out
    announce_start = False  # its workers send _STARTED (survive_crashes, task_timeout)

    def __init__(self, inbox: _Inbox, settings: _Settings, options: _Options,
                 tracker: Optional[_Tracker], limit: Optional[_PendingLimit]) -> None:
        super().__init__(inbox, settings)
        self.options = options
        self.tracker = tracker
        self.limit = limit
        self.announce_start = options.survive_crashes or options.task_timeout is not None
        # Tasks whose worker died, to run again before anything pending. Their
        # futures are already RUNNING (so shutdown's cancel_futures does not
        # touch them).
        self.put_back: collections.deque[_WorkItem] = collections.deque()
        self._deadlines: dict[_Worker, float] = {}  # task_timeout: when its task overruns
        self._announced: set[_Worker] = set()  # it said _STARTED for its current task
        self._timed_out: set[_Worker] = set()  # killed for overrunning its task_timeout

    # -------------------------------------------------------- workers
    def _launch(self) -> _Worker:
        return _start(self.settings, next(self._started), _configured_worker_main,
                      (self.settings.initializer, self.settings.initargs, self.announce_start), {})

    def _register(self, worker: _Worker) -> bool:
        keep = super()._register(worker)
        if self.tracker is not None and worker.pid is not None:
            self.tracker.worker_started(worker.pid)
        return keep

    def _forget(self, worker: _Worker) -> None:
        self._deadlines.pop(worker, None)
        self._announced.discard(worker)
        self._timed_out.discard(worker)
        if self.tracker is not None and worker.pid is not None:  # runs on_worker_exit
            self.tracker.worker_exited(worker.pid, worker.process.exitcode)
        super()._forget(worker)

    # -------------------------------------------------------- the queue
    # Not the shared channel: each call goes to an idle worker's own pipe, so
    # that the dispatcher knows, when a worker dies, which call it had.
    def _calls_without_a_worker(self) -> int:
        idle = sum(1 for worker in self.workers if _is_idle(worker))
        return len(self.inbox.pending) + len(self.put_back) - idle

    def _finished(self) -> bool:
        return not self.put_back and super()._finished()

    def _hand_out_work(self) -> None:
        for worker in [worker for worker in self.workers if _is_idle(worker)]:
            item = self._next_item()
            if item is None:
                break
            self._handed_out(worker, item)
            worker.task = item
            worker.give(item)
        with self.inbox.lock:  # how many pending calls free workers would take now
            busy = sum(1 for worker in self.workers if worker.task is not None)
            self.inbox.free_workers = self.settings.max_workers - busy

    def _next_item(self) -> Optional[_WorkItem]:
        """put_back first, then the oldest pending item not cancelled, now running."""
        if self.put_back:
            return self.put_back.popleft()  # already running: its worker died
        while True:
            with self.inbox.lock:
                if not self.inbox.pending:
                    return None
                item = self.inbox.pending.popleft()
                self.inbox.free_workers -= 1  # exact again at the end of _hand_out_work
            if item.future.set_running_or_notify_cancel():
                if self.limit is not None:
                    self.limit.release(item)  # room for a waiting submit
                return item

    def _running_items(self) -> list[_WorkItem]:
        running = super()._running_items() + list(self.put_back)
        self.put_back.clear()
        return running

    # -------------------------------------------------------- a task's steps
    def _handed_out(self, worker: _Worker, item: _WorkItem) -> None:
        self._announced.discard(worker)
        if self.tracker is not None and worker.pid is not None:
            self.tracker.task_started(item.future, worker.pid, item.describe)

    def _on_reply(self, worker: _Worker, data: bytes) -> None:
        if data == _STARTED:
            self._note_started(worker)
            return
        self._note_reply(worker)
        item, worker.task = worker.task, None
        worker.tasks_done += 1
        max_tasks = self.settings.max_tasks_per_child
        if max_tasks is not None and worker.tasks_done >= max_tasks:
            worker.send_stop()  # retired; a replacement starts when work needs it
        if item is not None:
            _settle(item.future, data, worker.pid, item.describe)

    def _task_of(self, worker: _Worker) -> Optional[_WorkItem]:
        return worker.task  # set as it was given the call

    def _note_started(self, worker: _Worker) -> None:
        """The worker said _STARTED: its task is running now."""
        self._announced.add(worker)
        if self.options.task_timeout is not None:
            self._deadlines[worker] = time.monotonic() + self.options.task_timeout

    def _note_reply(self, worker: _Worker) -> None:
        self._deadlines.pop(worker, None)
        if self.tracker is not None and worker.pid is not None:
            self.tracker.worker_idle(worker.pid)

    # -------------------------------------------------------- deadlines
    def _how_long_to_wait(self) -> Optional[float]:
        """Seconds until the first running task overruns (None: no deadline)."""
        if not self._deadlines:
            return None
        return max(0.0, min(self._deadlines.values()) - time.monotonic())

    def _check_deadlines(self) -> None:
        """Kill each worker whose task overran; its sentinel then calls _on_exit."""
        now = time.monotonic()
        for worker, deadline in list(self._deadlines.items()):
            if deadline <= now:
                del self._deadlines[worker]
                self._timed_out.add(worker)
                _kill(worker.process)

    # -------------------------------------------------------- deaths
    def _task_started(self, worker: _Worker) -> bool:
        # Only a configured pool's workers say _STARTED; without it, a task
        # counts as started once the worker's initializer returned.
        return worker in self._announced if self.announce_start else worker.initialized

    def _on_unexpected_exit(self, worker: _Worker) -> None:
        if worker in self._timed_out:
            self._fail_timed_out_task(worker)
        elif self.options.survive_crashes:
            self._survive_crash(worker)
        else:
            super()._on_unexpected_exit(worker)

    def _fail_timed_out_task(self, worker: _Worker) -> None:
        item, worker.task = worker.task, None
        if item is None:
            return  # its reply arrived just before the kill: the task finished
        limit, task = self.options.task_timeout, item.describe()
        assert limit is not None
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
        assert isinstance(item, _RetriedItem)
        if self._may_run_again(worker, item):
            if self.tracker is not None:
                self.tracker.task_requeued(item.future)
            self.put_back.append(item)
            return
        item.future.set_exception(_crash_error(worker, item, worker in self._announced))

    def _may_run_again(self, worker: _Worker, item: _RetriedItem) -> bool:
        """Send the task to another worker? Not once terminate/kill_workers began.

        A plain shutdown() still runs what was queued, and a task whose worker
        died before starting it is still queued work; so is a crashed task
        with crash_retries left.
        """
        with self.inbox.lock:
            if self.inbox.terminating:
                return False
        if worker not in self._announced:  # it died before starting the task: the task is innocent
            item.unstarted_retries += 1
            return item.unstarted_retries <= _MAX_UNSTARTED_RETRIES
        item.crashes += 1
        return item.crashes <= self.options.crash_retries


# ------------------------------------------------------- in the worker process
def _configured_worker_main(pipe: Connection, initializer: Optional[Callable[..., object]],
                            initargs: tuple[Any, ...], announce_start: bool) -> None:
    """The body of a configured pool's worker: its calls come down its own
    pipe, one at a time; it says _STARTED before each, if *announce_start*."""
    if not _initialized(pipe, initializer, initargs):
        return
    with _CallWatcher(pipe) as watcher:
        while watcher.call_arrives():
            call = pipe.recv_bytes()
            if call == _STOP:
                return
            if announce_start:
                _send_frame(pipe, _STARTED)
            _send_frame(pipe, _run_call(call))
            del call  # do not keep the finished call's arguments alive while idle


class _CallWatcher:
    """Waits for the next message on a worker's pipe, or its parent's death.

    One selector for the worker's life, not ``multiprocessing.connection.wait()``,
    which builds a new one per call (why: docs/performance.md, "One selector").
    """

    def __init__(self, pipe: Connection) -> None:
        self._selector = selectors.DefaultSelector()
        self._selector.register(pipe.fileno(), selectors.EVENT_READ, "call")
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


# ------------------------------------------------------- helpers
def _is_idle(worker: _Worker) -> bool:
    return worker.task is None and not worker.stopping and worker.pipe_open


def _crash_error(worker: _Worker, item: _RetriedItem, started: bool) -> WorkerCrashed:
    exitcode = worker.process.exitcode
    task = item.describe()
    if started:
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
