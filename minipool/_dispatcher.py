"""The process pool's parent side: the dispatcher thread.

*The dispatcher thread* (``MiniProcessPool-N_dispatcher``) runs
``_Dispatcher.run``. It owns the workers: it starts them, hands them work,
reads their replies, sets the futures, notices their deaths and stops them.
It never references the pool (only the ``_Inbox``, ``_inbox.py``).

How a task flows through the dispatcher::

    _Inbox.pending (a deque)  +  _Inbox.wake_dispatcher()    [submitting thread]
      |                      (or, nothing pending: _Inbox.send_now, straight
      |                       into the shared channel)
      |                                                    [dispatcher thread]
      v
    _Dispatcher.run, in a loop:
      _start_workers_for_pending()   a _Worker for each call out beyond the
                                     workers there are, up to max_workers
      _hand_out_work()               the oldest pending items, marked running,
                                     while the channel has room (_channel_room):
                                     _Inbox.send_to_channel; then it tells the
                                     inbox _Inbox.channel_takers, _Inbox.free_workers
      _wait_and_handle()             _selector.select() on _Inbox.wakeup_reader,
                                     every _Worker.pipe, every process.sentinel
        a pipe is readable  -> _read_reply(worker): every frame it holds
                               -> _on_message -> _on_reply(worker, reply)
                               -> _Inbox.in_channel.pop(seq) -> _settle(...):
                                  callbacks run here
        a sentinel is ready -> _on_exit(worker): its last replies, join, its
                               task from its journal (_task_of), then
                               _on_unexpected_exit(worker) -> _break_pool(...)
                               (the words and the kill: _deaths.py, read last)

A configured pool runs a ``_ConfiguredDispatcher`` (``_process_extras.py``),
which overrides the methods marked "Hook": what to do when a worker dies
(``_on_unexpected_exit``), how long to wait (``_how_long_to_wait``), ...
Its calls do not use the channel (``uses_channel = False``): each goes to an
idle worker's own pipe (``_ConfiguredDispatcher._hand_out_work``), strict request/reply,
so that a death it survives always knows which calls never started.

One shared channel that free workers take calls from, as the stdlib's
workers take theirs from one queue: calls start in the order they were
submitted, and none waits behind a busy worker while another is free. Not a
``multiprocessing.Queue``, whose lock a dying worker can take with it: the
kernel hands out each message whole (``_channel.py``). Each worker still
replies on its own pipe, and its journal names the call it was running
when it died (docs/process-pool.md).

Guarantees / Assumptions
------------------------
* The dispatcher never blocks writing while a worker may be blocked writing
  to it: the channel's end does not block (``_Channel.send``); a large
  call's payload goes down a worker's pipe only when that worker asked for
  it (``_FETCH``) and is reading; configured pools' calls go to idle workers.
* ``_Inbox.in_channel`` holds every call handed to the workers and not yet
  replied to; ``_Worker.task`` is set only when a channel worker died, and
  for configured pools by whoever gives the worker its call.
* Nothing waits without also watching the workers' sentinels, so no
  ``result()``, ``shutdown()`` or interpreter exit can hang on a dead worker.
* Replacements (``max_tasks_per_child``) are started by the dispatcher
  thread, under ``fork`` too (which the stdlib refuses): a worker touches
  nothing of the parent's but its own pipe, journal and the channel
  (``_process_worker.py``).
"""

from __future__ import annotations

import itertools
import pickle
import selectors
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any, Callable, NamedTuple, Optional

from ._channel import _JOURNAL_READ_EVERY, _Channel, _Journal
from ._inbox import _Inbox, _WorkItem
from ._process_worker import _worker_main
from ._timeouts import select_wait
from ._wire import (
    _FETCH,
    _INIT_FAILED,
    _READY,
    _SEQ,
    _STOP,
    RemoteTraceback,
    _FrameReader,
    _settle,
)

# How soon calls the full channel did not take are tried again (_Inbox.unsent).
_RETRY_UNSENT = 0.005


class _Worker:
    """The dispatcher's view of one worker process."""

    def __init__(self, process: BaseProcess, pipe: Connection, *, initialized: bool,
                 journal: Optional[_Journal] = None) -> None:
        self.process = process
        self.pid = process.pid
        self.pipe = pipe  # the parent's end of this worker's own pipe
        self.replies = _FrameReader(pipe.fileno())  # what reads the worker's messages
        # The item it is running: for channel calls, known only once it died
        # (_task_of: from its journal); a configured pool's, set as it gives it.
        self.task: Optional[_WorkItem] = None
        self.journal = journal  # default pools: what names its call if it dies (_channel.py)
        self.tasks_done = 0
        self.stopping = False  # its exit is expected: sent the stop message, or retired
        self.pipe_open = True  # False once reading it failed: the worker is dying
        self.initialized = initialized  # its initializer returned (it said _READY), or none

    def give(self, item: _WorkItem) -> None:
        """Send *item*'s payload down the worker's own pipe: a large channel
        call it took and asked for (``_FETCH``), or a configured pool's call."""
        try:
            self.pipe.send_bytes(item.payload)
        except OSError:
            # It is dying; its sentinel will tell. The pipe is still read: it
            # may hold the worker's last words (say, that its initializer
            # failed), which explain the death better.
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
    dispatcher thread exists (``start_workers_now``).
    """

    uses_channel = True  # hook: a configured dispatcher hands each call to one worker

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
        self.channel = _Channel() if self.uses_channel else None
        inbox.channel = self.channel

    # ------------------------------------------------------ starting workers
    def start_workers_now(self, count: int) -> None:
        """Start up to *count* workers: under fork, the first submit, before the
        dispatcher thread exists. A failure is left for the dispatcher to report."""
        try:
            while len(self.workers) < count:
                self._register(self._launch())
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

    def _launch(self) -> _Worker:
        """Hook: start a worker that takes calls from the channel."""
        assert self.channel is not None
        return _launch(self.settings, next(self._started), self.channel)

    def _calls_without_a_worker(self) -> int:
        """Hook: how many calls no worker would take now: more calls out than
        there are workers. Call with ``inbox.lock`` held."""
        return len(self.inbox.pending) + len(self.inbox.in_channel) - len(self.workers)

    def _another_worker_is_needed(self) -> bool:
        """Call with ``inbox.lock`` held."""
        return (self.inbox.broken is None and self._calls_without_a_worker() > 0
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
                worker = self._launch()
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
            if self.channel is not None:
                self.channel.close()

    def _finished(self) -> bool:
        """Hook: True once the pool is broken, or closed with nothing left to run."""
        with self.inbox.lock:
            if self.inbox.broken is not None:
                return True
            if not self.inbox.closed or self.inbox.pending or self.inbox.in_channel:
                return False
        return all(worker.task is None for worker in self.workers)

    def _takers(self) -> int:
        """The workers that may take calls: all but those about to exit."""
        return sum(1 for worker in self.workers if not worker.stopping)

    def _channel_room(self, takers: int) -> int:
        """How many more calls may go into the channel: as the stdlib's call
        queue, up to one waiting per worker and one more, besides those running."""
        return 2 * takers + 1 - len(self.inbox.in_channel)

    def _hand_out_work(self) -> None:
        """Hook: move pending calls into the channel while it has room, oldest
        first, marked running (a cancelled one is dropped). Then tell the inbox
        how many workers may take calls (``_Inbox.channel_takers``) and how
        many pending calls would be handed out now (``_Inbox.free_workers``)."""
        with self.inbox.lock:
            self.inbox.send_unsent()
            takers = self._takers()
            room = self._channel_room(takers)
            while room > 0 and self.inbox.pending and not self.inbox.unsent:
                item = self.inbox.pending.popleft()
                if item.future.set_running_or_notify_cancel():
                    self.inbox.send_to_channel(item)
                    room -= 1
            self.inbox.channel_takers = takers
            self.inbox.free_workers = self._channel_room(takers)

    def _how_long_to_wait(self) -> Optional[float]:
        """Hook: the longest ``_wait_and_handle`` may sleep (None: until something
        happens). Calls the full channel did not take are tried again soon."""
        return _RETRY_UNSENT if self.inbox.unsent else None

    def _check_deadlines(self) -> None:
        """Hook: after each wait (a configured pool kills workers that overran)."""

    def _wait_and_handle(self) -> None:
        timeout = select_wait(self._how_long_to_wait())
        ready = [key.data for key, _ in self._selector.select(timeout)]
        self._check_deadlines()
        if ("wakeup", None) in ready:
            with self.inbox.lock:
                self.inbox.take_wakeup()
        # Replies first: a worker that replied and then died delivers its reply.
        for what, worker in ready:
            if what == "reply" and worker.pipe_open and not self._broken():
                self._read_reply(worker)
        for what, worker in ready:
            if what == "exit" and worker in self.workers and not self._broken():
                self._on_exit(worker)

    def _broken(self) -> bool:
        """``inbox.broken`` is set only by this thread (``_break_pool``): no lock."""
        return self.inbox.broken is not None

    def _close_pipe(self, worker: _Worker) -> None:
        """Stop reading a dying worker's pipe; its sentinel will tell the rest."""
        if worker.pipe_open:
            worker.pipe_open = False
            self._selector.unregister(worker.pipe)

    # -------------------------------------------------------------- replies
    def _read_reply(self, worker: _Worker) -> None:
        """Handle every message the worker's pipe holds now."""
        try:
            messages = worker.replies.read_frames()
        except (EOFError, OSError):
            self._close_pipe(worker)  # it died mid-reply; its sentinel will tell
            return
        for data in messages:
            if self._broken():
                return
            self._on_message(worker, data)

    def _on_message(self, worker: _Worker, data: bytes) -> None:
        """What *worker* sent: its initializer returned or failed, or a reply."""
        if data == _READY:
            worker.initialized = True
            return
        if data[:1] == _INIT_FAILED:
            self._on_initializer_failure(worker, pickle.loads(memoryview(data)[1:]))
            return
        self._on_reply(worker, data)

    def _on_reply(self, worker: _Worker, data: bytes) -> None:
        """Hook: the worker asks for a large call's payload, or replies."""
        (seq,) = _SEQ.unpack_from(data, 1)
        if data[:1] == _FETCH:
            with self.inbox.lock:
                item = self.inbox.in_channel.get(seq)
            if item is not None:
                worker.give(item)
            return
        with self.inbox.lock:
            item = self.inbox.in_channel.pop(seq, None)
        worker.tasks_done += 1
        if worker.journal is not None and worker.tasks_done % _JOURNAL_READ_EVERY == 0:
            worker.journal.read()  # so that it never fills
        max_tasks = self.settings.max_tasks_per_child
        if max_tasks is not None and worker.tasks_done >= max_tasks:
            worker.stopping = True  # it exits on its own after this call
        if item is not None:
            _settle(item.future, data, worker.pid, item.describe, seq_size=_SEQ.size)

    def _task_of(self, worker: _Worker) -> Optional[_WorkItem]:
        """Hook: a dead worker's task: the last call its journal names, if it
        sent no reply for it (``_channel.py``)."""
        if worker.journal is None:
            return None
        worker.journal.read()
        seq = worker.journal.last_taken
        if seq is None:
            return None  # it never took a call
        with self.inbox.lock:
            return self.inbox.in_channel.get(seq)

    def _on_initializer_failure(self, worker: _Worker, text: str) -> None:
        from ._deaths import _explain_initializer_failure  # the failure path: _deaths.py

        message = _explain_initializer_failure(self.settings.initializer, worker.pid, text)
        self._break_pool(message, cause=RemoteTraceback(worker.pid, text))

    # --------------------------------------------------------------- deaths
    def _on_exit(self, worker: _Worker) -> None:
        """The worker's process ended: as asked, or it died."""
        while worker.pipe_open and worker.pipe.poll():
            self._read_reply(worker)  # what it sent before it ended
            if self._broken():
                return
        worker.process.join()
        worker.task = self._task_of(worker)
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
        self._close_pipe(worker)
        self._selector.unregister(worker.process.sentinel)
        worker.pipe.close()
        if worker.journal is not None:
            worker.journal.close()
        worker.process.close()

    def _running_items(self) -> list[_WorkItem]:
        """Hook: the items handed out and not finished; they are dropped here."""
        running = [worker.task for worker in self.workers if worker.task is not None]
        for worker in self.workers:
            worker.task = None
        with self.inbox.lock:  # channel calls: a dead worker's task is among them
            running += [item for item in self.inbox.in_channel.values() if item not in running]
            self.inbox.in_channel.clear()
            self.inbox.unsent.clear()
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


def _launch(settings: _Settings, number: int, channel: _Channel) -> _Worker:
    """Start worker process *number* of a default pool: it takes calls from
    the *channel*, and writes the number of each to its journal."""
    journal, journal_end = settings.context.Pipe(duplex=False)
    try:
        return _start(settings, number, _worker_main, (settings.initializer, settings.initargs),
                      {"channel": channel.workers_end, "journal": journal_end,
                       "max_tasks": settings.max_tasks_per_child}, journal=_Journal(journal))
    except BaseException:
        journal.close()
        raise
    finally:
        journal_end.close()  # the worker has its own copy


def _start(settings: _Settings, number: int, target: Callable[..., None],
           args: tuple[Any, ...], kwargs: dict[str, Any], *,
           journal: Optional[_Journal] = None) -> _Worker:
    """Start worker process *number*: ``target(its end of its own pipe, *args, **kwargs)``."""
    parent_end, child_end = settings.context.Pipe(duplex=True)
    process = settings.context.Process(  # type: ignore[attr-defined]
        target=target, args=(child_end, *args), kwargs=kwargs,
        name=f"{settings.name}_worker_{number}")
    try:
        process.start()
    except BaseException:
        parent_end.close()
        raise
    finally:
        child_end.close()  # the worker has its own copy
    return _Worker(process, parent_end, initialized=settings.initializer is None,
                   journal=journal)
