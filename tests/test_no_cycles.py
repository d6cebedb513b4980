"""A task that raised leaves no reference cycle behind in a thread pool.

The cycle to avoid: the exception -> its traceback -> the worker's frame that
caught it -> the work item -> its future -> the exception. Until the cyclic
garbage collector runs, it keeps the exception, the future and, through the
frame's callers, the worker Thread object alive (CPython's suite reports such
a thread as dangling). Checked with the collector switched off.
"""

from __future__ import annotations

import gc
import weakref

import pytest

pytestmark = pytest.mark.timeout(30)


class TaskError(Exception):
    """An exception that can be weakly referenced (a plain ValueError cannot)."""


def raise_task_error() -> None:
    raise TaskError("boom")


@pytest.fixture
def collector_off():
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _exception_outlives_its_last_reference(pool) -> bool:
    future = pool.submit(raise_task_error)
    error = future.exception(timeout=10)
    assert isinstance(error, TaskError)
    ref = weakref.ref(error)
    del error, future
    pool.shutdown(wait=True)
    return ref() is not None


def test_a_task_exception_is_freed_without_the_cyclic_collector(impl, collector_off):
    assert not _exception_outlives_its_last_reference(impl.ThreadPool(1))


@pytest.mark.minipool_only
def test_a_configured_pools_task_exception_is_freed_without_the_cyclic_collector(
        impl, collector_off):
    assert not _exception_outlives_its_last_reference(impl.ThreadPool(1).configure(timeline=True))
