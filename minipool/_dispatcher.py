"""The process pool's parent side: the dispatcher thread.

*The dispatcher thread* (``MiniProcessPool-N_dispatcher``) runs
``_Dispatcher.run``. It owns the workers: it starts them, hands them work,
reads their replies, sets the futures, notices their deaths and stops them.
It never references the pool (only the ``_Inbox``, ``_inbox.py``).

How a task flows through the dispatcher::

    _Inbox.pending (a deque)  +  _Inbox.wake_dispatcher()    [submitting thread]
      |                                                    [dispatcher thread]
      v
    _Dispatcher.run, in a loop:
      _start_workers_for_pending()   one _Worker per pending item that finds
                                     no idle worker, up to max_workers
      _hand_out_work()               _next_item(): the oldest item, marked
                                     running; worker.give(item): worker.task =
                                     item; worker.pipe.send_bytes(item.payload)
      _publish_free_workers()        nothing pending: the idle workers go to
                                     _Inbox.idle_workers, and a submit may give
                                     one its call itself (hand_to_idle_worker)
      _wait_and_handle()             _selector.select() on _Inbox.wakeup_reader,
                                     every _Worker.pipe, every process.sentinel
        a pipe is readable  -> _read_reply(worker) -> _on_message(worker, reply)
                               -> _settle(item.future, reply, ...): callbacks run here
        a sentinel is ready -> _on_exit(worker): its last replies, join, then
                               _on_unexpected_exit(worker) -> _break_pool(...)
                               (the words and the kill: _deaths.py, read last)

A configured pool runs a ``_ConfiguredDispatcher`` (``_process_extras.py``),
which overrides the methods marked "Hook": what to do when a worker dies
(``_on_unexpected_exit``), how long to wait (``_how_long_to_wait``), ...

One pipe per worker, not a shared ``multiprocessing.Queue`` (whose lock a
dying worker can take with it): a death can corrupt nothing but its own pipe,
and names the one task the worker had (docs/process-pool.md).

Guarantees / Assumptions
------------------------
* A call is written to a worker's pipe only while the worker is idle, and a
  worker writes only after reading a call, so pipe traffic is strict
  request/reply: neither side can be blocked writing while the other is.
* An idle worker belongs either to the dispatcher or, while it is in
  ``_Inbox.idle_workers``, to the first submit that takes it out; both move
  it under ``_Inbox.lock``, so it is never given two calls. ``_Worker.task``
  is written by whichever of them gives it a call, and read by the dispatcher
  only after the worker replies or dies, or under the lock.
* Nothing waits without also watching the workers' sentinels, so no
  ``result()``, ``shutdown()`` or interpreter exit can hang on a dead worker.
* Replacements (``max_tasks_per_child``) are started by the dispatcher
  thread, under ``fork`` too (which the stdlib refuses): a worker touches
  nothing of the parent's but its own pipe (``_process_worker.py``).
"""

from __future__ import annotations

import itertools
import pickle
import selectors
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any, Callable, NamedTuple, Optional

from ._inbox import _Inbox, _WorkItem
from ._process_worker import _worker_main
from ._timeouts import select_wait
from ._wire import _INIT_FAILED, _READY, _STOP, RemoteTraceback, _settle


class _Worker:
    """The dispatcher's view of one worker process."""

    def __init__(self, process: BaseProcess, pipe: Connection, *, initialized: bool) -> None:
        self.process = process
        self.pid = process.pid
        self.pipe = pipe  # the parent's end of this worker's own pipe
        self.task: Optional[_WorkItem] = None  # the item it is running
        self.tasks_done = 0
        self.stopping = False  # sent the stop message: its exit is expected
        self.pipe_open = True  # False once reading it failed: the worker is dying
        self.initialized = initialized  # its initializer returned (it said _READY), or none

    def is_idle(self) -> bool:
        return self.task is None and not self.stopping and self.pipe_open

    def give(self, item: _WorkItem) -> None:
        """Send *item* to the worker, which runs it now."""
        self.task = item
        try:
            self.pipe.send_bytes(item.payload)
        except OSError:
            # It is dying; its sentinel will name this task. The pipe is
            # still read: it may hold the worker's last words (say, that
            # its initializer failed), which explain the death better.
            pass

    def send_stop(self) -> None:
        """Tell the worker to exit when idle: from now on its exit is expected."""
        self.stopping = True
        try:
            self.pipe.send_bytes(_STOP)
        except OSError:
            pass  # already dying: its sentinel will tell


class _Settings(NamedTuple):
    """The pool's constructor arguments the dispatcher needs."""

    context: BaseContext
    max_workers: int
    max_tasks_per_child: Optional[int]
    initializer: Optional[Callable[..., object]]
    initargs: tuple[Any, ...]
    name: str  # the pool's name: MiniProcessPool-N


class _Dispatcher:
    """The pool's parent-side thread (``run``) and the state it owns.

    Only the dispatcher thread touches ``workers`` -- except that under
    ``fork`` the submitting thread starts the first workers before the
    dispatcher thread exists (``start_workers_now``), and that a submit gives
    a call to a worker offered in ``_Inbox.idle_workers``.
    """

    announce_start = False  # hook: a configured dispatcher's workers send _STARTED
    offers_idle_workers = True  # hook: a configured dispatcher hands out every call

    def __init__(self, inbox: _Inbox, settings: _Settings) -> None:
        """Call with ``inbox.lock`` held, as the first submit starts the dispatcher."""
        self.inbox = inbox
        self.settings = settings
        self.workers: list[_Worker] = []
        self._started = itertools.count()
        # What _wait_and_handle waits on, for the pool's life: the wake-up pipe
        # ("wakeup", None), each worker's pipe ("reply", worker) while open and
        # its sentinel ("exit", worker). Why one: docs/performance.md.
        self._selector = selectors.DefaultSelector()
        self._selector.register(inbox.open_wakeup(), selectors.EVENT_READ, ("wakeup", None))

    # ------------------------------------------------------ starting workers
    def start_workers_now(self, count: int) -> None:
        """Start up to *count* workers: under fork, the first submit, before the
        dispatcher thread exists. A failure is left for the dispatcher to report."""
        try:
            while len(self.workers) < count:
                self._register(_launch(self.settings, next(self._started), self.announce_start))
        except Exception:  # reported by _start_workers_for_pending, in the dispatcher
            pass

    def _register(self, worker: _Worker) -> bool:
        """Hook: make a started worker the pool's (``inbox.lock`` held). False if
        terminate_workers()/kill_workers() began meanwhile: the caller kills it."""
        process = worker.process
        self.workers.append(worker)
        self.inbox.processes[process.pid or 0] = process
        self._selector.register(worker.pipe, selectors.EVENT_READ, ("reply", worker))
        self._selector.register(process.sentinel, selectors.EVENT_READ, ("exit", worker))
        worker.stopping = self.inbox.terminating
        return not worker.stopping

    def _queued(self) -> int:
        """Hook: how many items wait for a worker. Call with ``inbox.lock`` held."""
        return len(self.inbox.pending)

    def _another_worker_is_needed(self) -> bool:
        """Call with ``inbox.lock`` held."""
        idle = sum(1 for worker in self.workers if worker.is_idle())
        return (self.inbox.broken is None and self._queued() > idle
                and len(self.workers) < self.settings.max_workers)

    def _start_workers_for_pending(self) -> None:
        """Start the workers pending work needs, with ``inbox.lock`` released (a
        start takes milliseconds under spawn). Only ``_register`` takes the lock:

          1. the dispatcher starts worker P, lock released: P is in no list;
          2. terminate_workers()/kill_workers() sets ``terminating`` and signals
             the processes of ``inbox.processes`` (without P);
          3. ``_register`` sees ``terminating``: the dispatcher kills P itself.
        """
        try:
            while True:
                with self.inbox.lock:
                    if not self._another_worker_is_needed():
                        return
                worker = _launch(self.settings, next(self._started), self.announce_start)
                with self.inbox.lock:
                    keep = self._register(worker)
                if not keep:
                    from ._deaths import _kill  # the failure path: _deaths.py

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
        """Hook: True once the pool is broken, or closed with nothing left to run."""
        with self.inbox.lock:
            if self.inbox.broken is not None:
                return True
            if not self.inbox.closed or self.inbox.pending:
                return False
        return all(worker.task is None for worker in self.workers)

    def _publish_free_workers(self) -> None:
        """Tell the inbox how many workers are free (``_Inbox.free_workers``)
        and, with nothing pending, which are idle (``_Inbox.idle_workers``)."""
        with self.inbox.lock:
            busy = sum(1 for worker in self.workers if worker.task is not None)
            self.inbox.free_workers = self.settings.max_workers - busy
            if self.offers_idle_workers and not self.inbox.pending:
                self.inbox.idle_workers = [w for w in self.workers if w.is_idle()]

    def _next_item(self) -> Optional[_WorkItem]:
        """Hook: the oldest pending item that was not cancelled, now marked running."""
        while True:
            with self.inbox.lock:
                if not self.inbox.pending:
                    return None
                item = self.inbox.pending.popleft()
                self.inbox.free_workers -= 1  # exact again at _publish_free_workers
            if item.future.set_running_or_notify_cancel():
                return item

    def _hand_out_work(self) -> None:
        with self.inbox.lock:  # no submit may take an idle worker while we hand out
            self.inbox.idle_workers = []  # (_Inbox.hand_to_idle_worker says why)
            takers = [worker for worker in self.workers if worker.is_idle()]
        for worker in takers:
            item = self._next_item()
            if item is None:
                return
            self._handed_out(worker, item)
            worker.give(item)

    def _handed_out(self, worker: _Worker, item: _WorkItem) -> None:
        """Hook: *worker* was given *item* (a configured pool notes it)."""

    def _how_long_to_wait(self) -> Optional[float]:
        """Hook: the longest ``_wait_and_handle`` may sleep (None: until something happens)."""
        return None

    def _check_deadlines(self) -> None:
        """Hook: after each wait (a configured pool kills workers that overran)."""

    def _wait_and_handle(self) -> None:
        timeout = select_wait(self._how_long_to_wait())
        ready = [key.data for key, _ in self._selector.select(timeout)]
        self._check_deadlines()
        with self.inbox.lock:
            self.inbox.take_wakeup()
        # Replies first: a worker that replied and then died delivers its reply.
        for what, worker in ready:
            if what == "reply" and worker.pipe_open and not self.inbox.is_broken():
                self._read_reply(worker)
        for what, worker in ready:
            if what == "exit" and worker in self.workers and not self.inbox.is_broken():
                self._on_exit(worker)

    def _close_pipe(self, worker: _Worker) -> None:
        """Stop reading a dying worker's pipe; its sentinel will tell the rest."""
        if worker.pipe_open:
            worker.pipe_open = False
            self._selector.unregister(worker.pipe)

    # -------------------------------------------------------------- replies
    def _read_reply(self, worker: _Worker) -> None:
        try:
            data = worker.pipe.recv_bytes()
        except (EOFError, OSError):
            self._close_pipe(worker)  # it died mid-reply; its sentinel will tell
            return
        self._on_message(worker, data)

    def _on_message(self, worker: _Worker, data: bytes) -> None:
        """Hook: what *worker* sent: its initializer returned or failed, or a reply."""
        if data == _READY:
            worker.initialized = True
            return
        if data[:1] == _INIT_FAILED:
            self._on_initializer_failure(worker, pickle.loads(memoryview(data)[1:]))
            return
        item, worker.task = worker.task, None
        worker.tasks_done += 1
        max_tasks = self.settings.max_tasks_per_child
        if max_tasks is not None and worker.tasks_done >= max_tasks:
            worker.send_stop()  # retired; a replacement starts when work needs it
        if item is not None:
            _settle(item.future, data, worker.pid, item.describe)

    def _on_initializer_failure(self, worker: _Worker, text: str) -> None:
        from ._deaths import _explain_initializer_failure  # the failure path: _deaths.py

        message = _explain_initializer_failure(self.settings.initializer, worker.pid, text)
        self._break_pool(message, cause=RemoteTraceback(worker.pid, text))

    # --------------------------------------------------------------- deaths
    def _on_exit(self, worker: _Worker) -> None:
        """The worker's process ended: as asked, or it died."""
        while worker.pipe_open and worker.pipe.poll():
            self._read_reply(worker)  # what it sent before it ended
            if self.inbox.is_broken():
                return
        worker.process.join()
        with self.inbox.lock:
            expected = worker.task is None and (worker.stopping or self.inbox.closed)
        if not expected:
            self._on_unexpected_exit(worker)
        self._forget(worker)

    def _on_unexpected_exit(self, worker: _Worker) -> None:
        """Hook: a worker ended that was not told to. Here: the pool breaks."""
        from ._deaths import _death_message  # the failure path: _deaths.py

        self._break_pool(_death_message(worker.pid, worker.task, worker.process.exitcode,
                                        initialized=worker.initialized,
                                        task_started=self._task_started(worker)))

    def _task_started(self, worker: _Worker) -> bool:
        """Hook: did the worker start its task? Here: once its initializer returned."""
        return worker.initialized

    def _forget(self, worker: _Worker) -> None:
        """Drop an ended worker. Its process must have been joined."""
        with self.inbox.lock:
            self.workers.remove(worker)
            self.inbox.processes.pop(worker.pid or 0, None)
            self.inbox.idle_workers = [w for w in self.inbox.idle_workers if w is not worker]
        self._close_pipe(worker)
        self._selector.unregister(worker.process.sentinel)
        worker.pipe.close()
        worker.process.close()

    def _running_items(self) -> list[_WorkItem]:
        """Hook: the items handed out and not finished; they are dropped here."""
        running = [worker.task for worker in self.workers if worker.task is not None]
        for worker in self.workers:
            worker.task = None
        return running

    def _break_pool(self, message: str, cause: Optional[BaseException] = None) -> None:
        """Mark the pool broken, kill every worker, fail every unfinished future."""
        from ._deaths import _fail_with, _kill  # the failure path: _deaths.py

        with self.inbox.lock:
            if self.inbox.broken is None:
                self.inbox.broken = message
            abandoned = list(self.inbox.pending)
            self.inbox.pending.clear()
        running = self._running_items()
        self.inbox.run_close_hooks()  # a submit waiting for room raises now
        for worker in self.workers:
            _kill(worker.process)
        _fail_with(message, cause, running, abandoned)

    def _stop_all_workers(self) -> None:
        for worker in self.workers:
            if not worker.stopping:
                worker.send_stop()
        for worker in list(self.workers):
            worker.process.join()
            self._forget(worker)


def _launch(settings: _Settings, number: int, announce_start: bool) -> _Worker:
    """Start worker process *number*, with its own duplex pipe."""
    parent_end, child_end = settings.context.Pipe(duplex=True)
    process = settings.context.Process(  # type: ignore[attr-defined]
        target=_worker_main,
        args=(child_end, settings.initializer, settings.initargs, announce_start),
        name=f"{settings.name}_worker_{number}")
    try:
        process.start()
    except BaseException:
        parent_end.close()
        raise
    finally:
        child_end.close()  # the worker has its own copy
    return _Worker(process, parent_end, initialized=settings.initializer is None)

