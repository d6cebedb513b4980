"""A bad payload anywhere on a process pool's way back fails one future, never the pool.

Whatever a ``__reduce__`` raises -- an error, or ``SystemExit`` as in CPython's
own suite (ExitAtUnpickle, ExitAtPickle) -- while the worker unpickles a call,
or the parent unpickles a result or an exception, ends in a defined state:
that future fails with an error naming what could not be unpickled, every
other future completes, and the pool stays usable. (The stdlib breaks the
whole pool for these: docs/differences.md.)
"""

from __future__ import annotations

import multiprocessing
import pickle

import pytest

import minipool
from minipool.conformance import process_tasks as tasks

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=["fork", "spawn"])
def pool(request, impl):
    context = multiprocessing.get_context(request.param)
    with minipool.MiniProcessPool(2, mp_context=context) as pool:
        yield pool


@pytest.mark.minipool_only
def test_a_result_that_exits_when_unpickled_fails_only_its_future(pool):
    error = pool.submit(tasks.return_instance, tasks.ExitsWhenUnpickled).exception(timeout=30)
    assert isinstance(error, pickle.UnpicklingError)
    assert f"cannot unpickle the result of task {tasks.__name__}.return_instance(" in str(error)
    assert isinstance(error.__cause__, SystemExit)
    assert pool.submit(tasks.square, 4).result(timeout=30) == 16


@pytest.mark.minipool_only
def test_an_exception_that_exits_when_unpickled_fails_only_its_future(pool):
    error = pool.submit(tasks.raise_error_exiting_when_unpickled).exception(timeout=30)
    assert isinstance(error, pickle.UnpicklingError)
    assert "cannot unpickle the exception raised by task" in str(error)
    assert pool.submit(tasks.square, 4).result(timeout=30) == 16


@pytest.mark.minipool_only
def test_a_call_that_exits_when_unpickled_in_the_worker_fails_only_its_future(pool):
    error = pool.submit(tasks.return_argument_count,
                        tasks.ExitsWhenUnpickled()).exception(timeout=30)
    assert isinstance(error, pickle.UnpicklingError)
    assert "cannot unpickle the call in worker process" in str(error)
    assert "SystemExit" in str(error)
    assert pool.submit(tasks.square, 4).result(timeout=30) == 16


@pytest.mark.minipool_only
def test_a_map_chunk_whose_results_exit_when_unpickled_raises_and_the_pool_lives(pool):
    # 40 calls on 2 workers: automatic chunks; their results travel together.
    results = pool.map(tasks.return_instance, [tasks.ExitsWhenUnpickled] * 40)
    with pytest.raises(pickle.UnpicklingError, match="cannot unpickle the results of a chunk"):
        list(results)
    assert pool.submit(tasks.square, 4).result(timeout=30) == 16


def test_a_result_that_exits_when_pickled_in_the_worker_raises_system_exit(impl):
    # The stdlib's behaviour too (CPython's test_exit_during_result_pickle_on_worker).
    with impl.ProcessPool(1) as pool:
        with pytest.raises(SystemExit):
            pool.submit(tasks.return_instance, tasks.ExitsWhenPickled).result(timeout=30)
