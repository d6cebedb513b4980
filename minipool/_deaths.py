"""A worker's death: killing one with every process it started, and the words
that explain one. The dispatcher and the pool import it inside the methods
where a worker dies or must be killed, not at the top: a reader can follow the
default path (``process.py``) without it, and read this part last.

No threads, no state. When minipool kills a worker (task_timeout,
terminate_workers, kill_workers, a broken pool), the processes its task
started (a subprocess.Popen, a multiprocessing.Pool of its own ...) go too:
killed alone, the worker would leave them running, re-parented to init. The
workers stay in the parent's process group, so Ctrl-C in a terminal still
reaches them and their children, as with the stdlib's pool (a process group
of their own would also stop a worker that reads the terminal, with SIGTTIN).

    _kill(process)                -> _signal_tree(process, SIGKILL)
    terminate_workers()           -> _signal_tree(process, SIGTERM)
    _signal_tree: SIGSTOP the tree (_children_of, from /proc), signal it, SIGCONT it

    _Dispatcher._on_unexpected_exit     -> _death_message(pid, task, exitcode)
    _Dispatcher._on_initializer_failure -> _explain_initializer_failure(...)
    _Dispatcher._break_pool             -> _fail_with(message, ...): BrokenProcessPool
"""

from __future__ import annotations

import logging
import os
import signal

# Deliberate borrowing: the stdlib's exception class, so that
# `except concurrent.futures.process.BrokenProcessPool` catches ours.
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Optional

from ._naming import _name_of

if TYPE_CHECKING:
    from ._inbox import _WorkItem

LOGGER = logging.getLogger("minipool")


def _kill(process: BaseProcess) -> None:
    """SIGKILL a worker and every process it started (see ``_signal_tree``)."""
    _signal_tree(process, signal.SIGKILL)


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


# ---------------------------------------------------------------- the words
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


def _explain_initializer_failure(initializer: object, pid: Optional[int], text: str) -> str:
    """Log the initializer's traceback *text*, as the stdlib does; the pool's error."""
    LOGGER.critical("Exception in initializer %s (worker process %s):\n%s",
                    _name_of(initializer), pid, text)
    last_line = text.strip().splitlines()[-1] if text.strip() else "an exception"
    return (f"The initializer {_name_of(initializer)} failed in worker process {pid} "
            f"({last_line}). The process pool is not usable anymore.")


def _fail_with(message: str, cause: Optional[BaseException], running: list[_WorkItem],
               pending: list[_WorkItem]) -> None:
    """Fail each future with its own BrokenProcessPool(*message*); a pending one
    that was cancelled meanwhile stays cancelled."""
    for item in running:
        item.future.set_exception(_broken(message, cause))
    for item in pending:
        if item.future.set_running_or_notify_cancel():
            item.future.set_exception(_broken(message, cause))


def _broken(message: str, cause: Optional[BaseException]) -> BrokenProcessPool:
    error = BrokenProcessPool(message)
    error.__cause__ = cause
    return error
