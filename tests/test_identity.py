"""The stdlib executor classes are minipool's base classes for identity only.

``MiniThreadPool`` is a ``concurrent.futures.ThreadPoolExecutor`` and
``MiniProcessPool`` a ``ProcessPoolExecutor`` (both ``concurrent.futures.Executor``s)
so that libraries which check ``isinstance`` take them. These tests prove the
borrowing is identity only: every method the stdlib classes define is
minipool's own, or a private helper that only the stdlib's own methods call
(and those are all replaced); the stdlib's ``__init__`` never runs, so none of
its machinery is made; and the helpers are never called.
"""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.process
import concurrent.futures.thread
import inspect
import sys
import threading

import pytest

import minipool

pytestmark = [pytest.mark.minipool_only, pytest.mark.timeout(60)]

PAIRS = [
    (minipool.Executor, concurrent.futures.Executor),
    (minipool.MiniThreadPool, concurrent.futures.ThreadPoolExecutor),
    (minipool.MiniProcessPool, concurrent.futures.ProcessPoolExecutor),
]

# What minipool inherits from the stdlib classes on purpose, with why it is
# harmless. Each method below is called only by the stdlib's own __init__,
# submit or shutdown, which minipool replaces (checked by
# test_no_stdlib_helper_runs_while_a_pool_works).
INHERITED_AND_INERT = {
    # ThreadPoolExecutor: a class-level counter for default thread names
    # (read by its __init__), its worker-starting step (its submit), and its
    # "a worker's initializer failed" step (its worker threads).
    "_counter": "read only by the stdlib's __init__",
    "_adjust_thread_count": "called only by the stdlib's submit",
    "_initializer_failed": "called only by the stdlib's worker threads",
    # ProcessPoolExecutor: its manager thread and process-spawning steps.
    "_start_executor_manager_thread": "called only by the stdlib's submit",
    "_adjust_process_count": "called only by the stdlib's submit and manager thread",
    "_launch_processes": "called only by the stdlib's submit",
    "_spawn_process": "called only by the stdlib's _adjust_process_count",
}


def _defined_by(cls: type, name: str) -> type:
    return next(k for k in cls.__mro__ if name in vars(k))


def _stdlib_callables(stdlib_cls: type) -> set[str]:
    names = {name for k in stdlib_cls.__mro__[:-1] for name in vars(k)}
    return {name for name in names - set(vars(object))
            if name not in ("__dict__", "__weakref__", "__module__", "__doc__")
            and callable(getattr(stdlib_cls, name, None))}


@pytest.mark.parametrize("mini, stdlib", PAIRS, ids=lambda c: c.__name__)
def test_pools_are_instances_of_the_stdlib_classes(mini, stdlib):
    assert issubclass(mini, stdlib)
    assert issubclass(mini, concurrent.futures.Executor)


@pytest.mark.parametrize("mini, stdlib", PAIRS, ids=lambda c: c.__name__)
def test_every_stdlib_method_is_minipools_own_or_an_inert_private_helper(mini, stdlib):
    borrowed = {name for name in _stdlib_callables(stdlib)
                if not _defined_by(mini, name).__module__.startswith("minipool")}
    assert borrowed <= set(INHERITED_AND_INERT), borrowed - set(INHERITED_AND_INERT)
    assert all(name.startswith("_") for name in borrowed)


@pytest.mark.parametrize("mini, stdlib", PAIRS[1:], ids=lambda c: c.__name__)
def test_the_constructor_takes_exactly_the_stdlib_parameters(mini, stdlib):
    def shape(cls):
        return [(p.name, p.kind, p.default) for p in inspect.signature(cls).parameters.values()]

    expected = shape(stdlib)
    if mini is minipool.MiniProcessPool and sys.version_info < (3, 11):
        # The stdlib added max_tasks_per_child in 3.11; minipool has it on every Python.
        expected.append(("max_tasks_per_child", inspect.Parameter.KEYWORD_ONLY, None))
    assert shape(mini) == expected


@pytest.mark.parametrize("mini", [minipool.MiniThreadPool, minipool.MiniProcessPool],
                         ids=lambda c: c.__name__)
def test_max_workers_is_readable_as_libraries_read_it(mini):
    with mini(max_workers=3) as pool:
        assert pool._max_workers == 3  # dask reads it to size its scheduler


def test_no_stdlib_helper_runs_while_a_pool_works(monkeypatch):
    calls = []
    for stdlib in (concurrent.futures.ThreadPoolExecutor,
                   concurrent.futures.ProcessPoolExecutor):
        for name in INHERITED_AND_INERT:
            if callable(vars(stdlib).get(name)):
                monkeypatch.setattr(stdlib, name,
                                    lambda *a, _n=name, **k: calls.append(_n))
    # The stdlib's exit hook and worker registries: nothing may register there.
    monkeypatch.setattr(threading, "_register_atexit",
                        lambda *a, **k: calls.append("threading._register_atexit"))
    thread_queues = dict(concurrent.futures.thread._threads_queues)
    process_wakeups = dict(concurrent.futures.process._threads_wakeups)

    with minipool.MiniThreadPool(2) as pool:
        assert list(pool.map(abs, [-1, -2, 3])) == [1, 2, 3]
        assert pool.submit(pow, 2, 5).result() == 32
    with minipool.MiniProcessPool(2) as pool:
        assert list(pool.map(abs, [-1, -2, 3])) == [1, 2, 3]
        assert pool.submit(pow, 2, 5).result() == 32

    assert calls == []
    assert dict(concurrent.futures.thread._threads_queues) == thread_queues
    assert dict(concurrent.futures.process._threads_wakeups) == process_wakeups


@pytest.mark.parametrize("mini", [minipool.MiniThreadPool, minipool.MiniProcessPool],
                         ids=lambda c: c.__name__)
def test_the_stdlib_init_never_runs(mini):
    with mini(max_workers=1) as pool:
        pool.submit(int).result()
        # Attributes only the stdlib's __init__ creates.
        for name in ("_shutdown_lock", "_work_queue", "_threads", "_processes",
                     "_executor_manager_thread", "_call_queue", "_pending_work_items"):
            assert not hasattr(pool, name), name
