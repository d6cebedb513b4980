"""The compatibility harness: every behavioural test runs against both implementations.

A test that takes the ``impl`` fixture runs twice: once with the stdlib's
``concurrent.futures`` and once with ``minipool``. A test marked
``@pytest.mark.minipool_only`` checks something minipool adds beyond the
stdlib and runs against minipool alone.

Every test is also checked for leaks: threads and child processes that the
test started must be gone when it ends (see ``no_leaked_threads_or_children``).
"""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.process
import concurrent.futures.thread
import multiprocessing
import os
import sys
import threading
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

import minipool
import minipool.process
import minipool.thread


@dataclass(frozen=True)
class Impl:
    """One implementation of the concurrent.futures API, as the tests see it."""

    name: str
    futures: ModuleType  # the module: concurrent.futures or minipool
    ThreadPool: Any
    ProcessPool: Any
    BrokenThreadPool: type[BaseException]
    BrokenProcessPool: type[BaseException]

    @property
    def is_stdlib(self) -> bool:
        return self.name == "stdlib"

    def __repr__(self) -> str:
        return self.name


STDLIB = Impl(
    name="stdlib",
    futures=concurrent.futures,
    ThreadPool=concurrent.futures.ThreadPoolExecutor,
    ProcessPool=concurrent.futures.ProcessPoolExecutor,
    BrokenThreadPool=concurrent.futures.thread.BrokenThreadPool,
    BrokenProcessPool=concurrent.futures.process.BrokenProcessPool,
)
MINIPOOL = Impl(
    name="minipool",
    futures=minipool,
    ThreadPool=minipool.MiniThreadPool,
    ProcessPool=minipool.MiniProcessPool,
    BrokenThreadPool=minipool.thread.BrokenThreadPool,
    BrokenProcessPool=minipool.process.BrokenProcessPool,
)
IMPLS = {"stdlib": STDLIB, "minipool": MINIPOOL}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "impl" not in metafunc.fixturenames:
        return
    names = ["minipool"] if metafunc.definition.get_closest_marker("minipool_only") else [
        "stdlib", "minipool"]
    metafunc.parametrize("impl", [IMPLS[n] for n in names], ids=names)


# ------------------------------------------------------------------ leaks
LEAK_GRACE_SECONDS = 10.0  # how long a finished test's threads get to exit


# multiprocessing's own long-lived helpers, started once per interpreter on
# first use and shared by every pool: not a pool's leak.
_SERVICES = (b"multiprocessing.resource_tracker", b"multiprocessing.forkserver")


def _children() -> set[int]:
    """Pids of this process's live children, not counting multiprocessing's services."""
    pids: set[int] = set()
    try:
        for task in os.listdir(f"/proc/{os.getpid()}/task"):
            with open(f"/proc/{os.getpid()}/task/{task}/children") as f:
                pids.update(int(p) for p in f.read().split())
    except OSError:  # not Linux: multiprocessing's view is the best we have
        return {p.pid for p in multiprocessing.active_children()}
    return {p for p in pids if _is_running(p) and not _is_service(p)}


def _is_running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False  # gone


def _is_service(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except OSError:
        return False
    return any(name in cmdline for name in _SERVICES)


@pytest.fixture(autouse=True)
def no_leaked_threads_or_children() -> Any:
    """Fail the test if it leaves a thread or child process behind.

    Threads get LEAK_GRACE_SECONDS to finish (joined, not slept on), for
    tests that end with shutdown(wait=False).
    """
    threads_before = set(threading.enumerate())
    children_before = _children()
    yield
    deadline = time.monotonic() + LEAK_GRACE_SECONDS
    for thread in set(threading.enumerate()) - threads_before:
        thread.join(max(0.0, deadline - time.monotonic()))
    leaked = [t.name for t in set(threading.enumerate()) - threads_before if t.is_alive()]
    multiprocessing.active_children()  # reaps finished children
    while True:
        children = _children() - children_before
        if not children or time.monotonic() > deadline:
            break
        time.sleep(0.05)  # polling the OS for exits; no event to wait on
    assert not leaked, f"threads left running after the test: {leaked}"
    assert not children, f"child processes left running after the test: {sorted(children)}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    multiprocessing.active_children()
    stray = _children()
    if stray:
        sys.stderr.write(f"\nstray child processes after the suite: {sorted(stray)}\n")
        session.exitstatus = 1


# ------------------------------------------------ property suite (hypothesis)
# Registers the hypothesis profiles (dev, ci, deep) and loads ci as the
# default, before the hypothesis plugin applies --hypothesis-profile.
# Everything else of the property suite lives in tests/strategies.py and
# tests/test_prop_*.py.
import strategies  # noqa: E402, F401
