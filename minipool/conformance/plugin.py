"""The compat suite's pytest plugin: every behavioural test runs against both implementations.

A test that takes the ``impl`` fixture runs twice: once with the stdlib's
``concurrent.futures`` and once with ``minipool``. A test marked
``@pytest.mark.minipool_only`` checks something minipool adds beyond the
stdlib and runs against minipool alone.

Every test is also checked for leaks: threads and child processes that the
test started must be gone when it ends (see ``no_leaked_threads_or_children``).

An *executor under test* runs the same tests, as a third ``impl``:

* ``dask``: dask.distributed's executor (``client.get_executor(pure=False)``)
  on one session-wide ``LocalCluster`` (fixture ``dask_client``), wherever
  ``distributed`` is installed (setup.cfg's test extra: Python 3.11, CI's first);
* ``kit``: the executor made by ``FACTORY()`` when ``python -m minipool
  conformance MODULE:FACTORY`` runs the suite (``$MINIPOOL_CONFORMANCE_FACTORY``);
  then it is the only ``impl``.

For them, ``impl.ThreadPool`` and ``impl.ProcessPool`` both make that executor
(a worker count is the cluster's business, and ignored). Tests that do not
apply to them are in NOT_APPLICABLE (and SHARES_MEMORY, for executors that run
tasks in another process); dask's known differences are strict expected
failures in DASK_XFAIL, so that an upstream fix shows up.

Where it is loaded: it ships inside the package (``minipool.conformance``)
with the tests it serves, so that the kit runs from an installed minipool.
The checkout's ``conftest.py`` loads it for the project's own run (``tests/``
and this package's test modules, setup.cfg's ``testpaths``); the kit names it
with ``-p`` (``pytest --pyargs minipool.conformance -p
minipool.conformance.plugin`` by hand). The package has no ``conftest.py``
that could load it: pytest refuses ``pytest_plugins`` in a conftest it meets
below its rootdir, as ``pytest minipool/`` in a checkout would. It registers
the suite's markers and warning filters itself (``pytest_configure``), so
they hold wherever it runs.
"""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.process
import concurrent.futures.thread
import importlib
import importlib.util
import inspect
import logging
import multiprocessing
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable, Iterator, Optional

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


# ------------------------------------------------------------------ executors under test
FACTORY_ENV_VAR = "MINIPOOL_CONFORMANCE_FACTORY"  # MODULE:FACTORY, from `minipool conformance`
KIT_FACTORY = os.environ.get(FACTORY_ENV_VAR, "")
HAS_DASK = importlib.util.find_spec("distributed") is not None
DASK_WORKERS = 2  # test_executor.py's WORKERS: what its gated tests assume


class UnderTestPool:
    """``impl.ThreadPool`` and ``impl.ProcessPool`` of an executor under test.

    Calling it makes the executor. The worker count and ``mp_context`` are the
    executor's business and are ignored; any other constructor argument means
    the test belongs in NOT_APPLICABLE, and it fails loudly until it is there.
    """

    def __init__(self, name: str, make: Callable[..., Any]) -> None:
        self.name = name
        self._make = make

    def __call__(self, max_workers: Optional[int] = None, *, mp_context: Any = None,
                 **others: Any) -> Any:
        if others:
            raise TypeError(f"the executor under test ({self.name}) is made without "
                            f"{sorted(others)}: list this test in plugin.NOT_APPLICABLE")
        return self._make()

    def sized(self, workers: int) -> Any:
        """``FACTORY(max_workers=workers)`` if FACTORY takes that keyword, else None.

        Only the kit's state machine asks (test_prop_executor.py): its model
        of which task can start needs the worker count, where there is one.
        """
        try:
            parameters = inspect.signature(self._make).parameters
        except (TypeError, ValueError):  # a callable with no signature to read
            return None
        return self._make(max_workers=workers) if "max_workers" in parameters else None


def under_test(name: str, make: Callable[[], Any]) -> Impl:
    pool = UnderTestPool(name, make)
    return Impl(name=name, futures=concurrent.futures, ThreadPool=pool, ProcessPool=pool,
                BrokenThreadPool=concurrent.futures.BrokenExecutor,
                BrokenProcessPool=concurrent.futures.BrokenExecutor)


class DaskSession:
    """The one LocalCluster of the session and its client (set by ``dask_client``)."""

    cluster: Any = None
    client: Any = None

    @classmethod
    def executor(cls) -> Any:
        return cls.client.get_executor(pure=False)

    @classmethod
    def worker_pids(cls) -> set[int]:
        """The cluster's worker processes now (a nanny replaces a dead one)."""
        if cls.cluster is None:
            return set()
        return {nanny.process.pid for nanny in cls.cluster.workers.values()
                if getattr(nanny, "process", None) is not None and nanny.process.pid}


def kit_factory() -> Callable[[], Any]:
    module_name, _, attribute = KIT_FACTORY.partition(":")
    factory: Callable[[], Any] = getattr(importlib.import_module(module_name), attribute)
    return factory


UNDER_TEST = {"dask": under_test("dask", DaskSession.executor)}
if KIT_FACTORY:
    UNDER_TEST["kit"] = under_test(KIT_FACTORY, kit_factory())
ALL_IMPLS = {**IMPLS, **UNDER_TEST}


MARKERS = [
    "minipool_only: a behaviour minipool adds beyond the stdlib; runs against minipool alone",
    "no_executor: tests Future, wait or as_completed with no executor; never runs against "
    "an executor under test (dask, the conformance kit)",
    "properties: a state machine for the kit's executor alone; runs only with "
    "python -m minipool conformance --properties",
    "slow: takes more than a few seconds",
]
# Python 3.12+ warns at every fork from a process that has threads. The suite
# forks on purpose (the fork start method is tested, for both implementations)
# while pools' threads exist; docs/process-pool.md says why minipool's forked
# workers are safe (they never take a lock they inherited).
WARNING_FILTERS = [
    r"ignore:This process .* is multi-threaded, use of fork\(\) may lead to deadlocks"
    ":DeprecationWarning",
]


def pytest_configure(config: pytest.Config) -> None:
    """The suite's markers and warning filters, wherever it runs (checkout or kit)."""
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    for line in WARNING_FILTERS:
        config.addinivalue_line("filterwarnings", line)


def impl_names(metafunc: pytest.Metafunc) -> list[str]:
    definition = metafunc.definition
    if definition.get_closest_marker("properties"):
        return ["kit"] if KIT_FACTORY else []
    if definition.get_closest_marker("minipool_only"):
        return [] if KIT_FACTORY else ["minipool"]
    if definition.get_closest_marker("no_executor"):
        return [] if KIT_FACTORY else ["stdlib", "minipool"]
    if KIT_FACTORY:
        return ["kit"]
    return ["stdlib", "minipool", *(["dask"] if HAS_DASK else [])]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "impl" not in metafunc.fixturenames:
        return
    names = impl_names(metafunc)
    metafunc.parametrize("impl", names, ids=names, indirect=True)


@pytest.fixture
def impl(request: pytest.FixtureRequest) -> Impl:
    """The implementation a compat test runs against (parametrized above)."""
    if request.param == "dask":
        request.getfixturevalue("dask_client")
    return ALL_IMPLS[request.param]


@pytest.fixture
def dask_library() -> ModuleType:
    """dask itself, with dask.bag: for tests of its local scheduler on a pool.

    Importing dask installs tblib's pickling of tracebacks and exceptions for
    the whole process (dask.multiprocessing does, at import), so the tests
    that take this fixture run with the dask leg, last (``uses_dask``).
    """
    reason = "dask is not installed (setup.cfg's test extra installs it on Python 3.11 only)"
    pytest.importorskip("dask.bag", reason=reason)
    dask: ModuleType = pytest.importorskip("dask", reason=reason)
    return dask


@pytest.fixture(scope="session")
def dask_client() -> Iterator[Any]:
    """One LocalCluster for the whole session: worker processes, loopback only, no dashboard."""
    distributed = importlib.import_module("distributed")
    cluster = distributed.LocalCluster(n_workers=DASK_WORKERS, threads_per_worker=1,
                                       processes=True, dashboard_address=None,
                                       host="127.0.0.1",
                                       # the expected failures make workers log errors
                                       silence_logs=logging.CRITICAL)
    client = distributed.Client(cluster)
    DaskSession.cluster, DaskSession.client = cluster, client
    try:
        yield client
    finally:
        DaskSession.cluster = DaskSession.client = None
        client.close()
        cluster.close()


def params_of(item: pytest.Item) -> dict[str, Any]:
    """The parameters of a parametrized test ({} for others)."""
    callspec = getattr(item, "callspec", None)
    return {} if callspec is None else dict(callspec.params)


def impl_of(item: pytest.Item) -> Optional[str]:
    name: Optional[str] = params_of(item).get("impl")
    return name


def table_key(item: pytest.Item) -> str:
    """How the tables below name a test: ``file::function`` (all its parameters)."""
    return f"{item.path.name}::{getattr(item, 'originalname', item.name)}"


# Tests that do not apply to an executor under test, with the reason: they are
# about one machine's pools (threads, pids, start methods, max_workers,
# initializers, where callbacks run, interpreter exit of a stdlib/minipool pool).
_MAX_WORKERS = "max_workers: the executor under test decides how many workers it has"
_INITIALIZER = "initializer: the executor under test is made without one"
_GATES = ("its gates reach the workers through an initializer (process_tasks.Gates); "
          "test_executor.py tests the same with a socket gate")
_THREADS = "about the pool's own threads"
_EXIT = "interpreter exit of a stdlib or minipool pool, in a subprocess of its own"
_PICKLE = "what cannot be pickled depends on the executor's serializer (dask: cloudpickle)"
_DEFAULT_EXECUTOR = "asyncio's default executor must be a concurrent.futures.ThreadPoolExecutor"
NOT_APPLICABLE: dict[str, str] = {
    "test_channel.py::test_a_call_an_earlier_blocked_call_waits_for_starts_before_any_later_call":
        "its tasks use a pipe that forked workers inherit",
    "test_thread_pool.py::test_default_max_workers_matches_the_stdlib_formula": _MAX_WORKERS,
    "test_thread_pool.py::test_max_workers_must_be_positive": _MAX_WORKERS,
    "test_thread_pool.py::test_never_more_than_max_workers_threads": _MAX_WORKERS,
    "test_thread_pool.py::test_initializer_must_be_callable": _INITIALIZER,
    "test_thread_pool.py::test_initializer_runs_once_in_each_worker_with_initargs": _INITIALIZER,
    "test_thread_pool.py::test_raising_initializer_fails_pending_futures_with_broken_thread_pool":
        _INITIALIZER,
    "test_thread_pool.py::test_submit_to_a_pool_broken_by_its_initializer_raises_broken_thread_pool":
        _INITIALIZER,
    "test_thread_pool.py::test_no_worker_thread_starts_before_the_first_submit": _THREADS,
    "test_thread_pool.py::test_thread_name_prefix_names_the_workers": "thread names",
    "test_thread_pool.py::test_idle_worker_is_reused_before_a_new_one_starts": "thread names",
    "test_thread_pool.py::test_no_thread_left_after_shutdown_wait_true": _THREADS,
    "test_thread_pool.py::test_dropped_pool_lets_its_workers_exit": _THREADS,
    "test_thread_pool.py::test_callback_runs_in_the_worker_that_finished_the_task":
        "where callbacks run",
    "test_thread_pool.py::test_interpreter_exit_finishes_queued_work_and_exits_cleanly": _EXIT,
    "test_thread_pool.py::test_interpreter_exit_with_a_blocked_submit_chain_exits_cleanly": _EXIT,
    "test_process_pool.py::test_exception_keeps_type_and_args_with_worker_traceback_as_cause":
        "the worker's traceback as __cause__ is a process pool's way",
    "test_process_pool.py::test_map_default_chunksize_raises_a_calls_exception_at_its_position":
        "the worker's traceback as __cause__ is a process pool's way",
    "test_process_pool.py::test_callbacks_run_in_the_submitting_process": "where callbacks run",
    "test_no_cycles.py::test_a_task_exception_is_freed_without_the_cyclic_collector": _THREADS,
    "test_shutdown_cancel.py::test_shutdown_cancel_futures_right_after_submits_runs_some_and_"
    "cancels_most": "a process pool's worker queue: how many calls it moved ahead of the workers",
    "test_reply_path.py::test_a_result_that_exits_when_pickled_in_the_worker_raises_system_exit":
        "SystemExit while a worker pickles a result: a process pool's reply path (a dask "
        "worker dies of it and the task never completes)",
    "test_interop.py::test_a_thread_pool_is_accepted_as_the_loops_default_executor":
        _DEFAULT_EXECUTOR,
    "test_process_pool.py::test_raising_initializer_breaks_the_pool": _INITIALIZER,
    "test_process_pool.py::test_initializer_runs_in_every_worker": _INITIALIZER,
    "test_process_pool.py::test_initializer_must_be_callable": _INITIALIZER,
    "test_process_pool.py::test_killed_worker_breaks_the_pool": _GATES,
    "test_process_pool.py::test_map_timeout": _GATES,
    "test_process_pool.py::test_shutdown_without_wait_returns_at_once_and_the_work_completes":
        _GATES,
    "test_process_pool.py::test_shutdown_cancel_futures_cancels_the_queued_work": _GATES,
    "test_process_pool.py::test_a_cancelled_future_never_runs": _GATES,
    "test_process_pool.py::test_max_tasks_per_child_replaces_workers": "max_tasks_per_child",
    "test_process_pool.py::test_max_tasks_per_child_is_checked": "max_tasks_per_child",
    "test_process_pool.py::test_default_context_with_max_tasks_per_child_is_spawn":
        "start methods",
    "test_process_pool.py::test_max_workers_must_be_positive": _MAX_WORKERS,
    "test_process_pool.py::test_default_max_workers_is_the_cpu_count": _MAX_WORKERS,
    "test_process_pool.py::test_map_chunksize_must_be_positive":
        "chunksize is a process pool's parameter (Executor.map ignores it)",
    "test_process_pool.py::test_shutdown_wait_leaves_no_process_and_no_thread":
        "the workers (processes, threads) are the cluster's, not the executor's",
    "test_process_pool.py::test_unpicklable_function_fails_only_its_future": _PICKLE,
    "test_process_pool.py::test_interpreter_exit_completes_the_submitted_work": _EXIT,
    # tests/test_clients.py: libraries that take a pool
    "test_clients.py::test_to_thread_runs_in_the_pool_set_as_the_loops_default_executor":
        _DEFAULT_EXECUTOR,
    "test_clients.py::test_to_thread_on_the_pool_propagates_the_calls_exception":
        _DEFAULT_EXECUTOR,
    "test_clients.py::test_asyncio_run_shuts_the_default_executor_down_and_joins_its_threads":
        _DEFAULT_EXECUTOR,
    "test_clients.py::test_dask_runs_its_tasks_in_the_thread_pools_own_threads": "thread names",
    "test_clients.py::test_dask_config_pool_runs_the_threaded_scheduler_on_the_pools_threads":
        "thread names",
    "test_clients.py::test_dask_config_pool_runs_the_processes_scheduler_on_the_pool":
        "dask's processes scheduler reads the pool's _max_workers, the stdlib pools' private "
        "attribute",
    "test_clients.py::test_dask_runs_its_tasks_in_the_process_pools_worker_processes":
        "the worker processes are the executor's business",
    "test_clients.py::test_grpc_server_runs_concurrent_calls_in_the_pools_threads":
        "thread names",
    "test_clients.py::test_grpc_takes_the_pool_as_a_methods_own_thread_pool":
        "grpc takes a method's own pool only if it is a concurrent.futures.ThreadPoolExecutor",
    "test_clients.py::test_tornado_run_on_executor_runs_the_method_in_the_pools_threads":
        "thread names",
    "test_clients.py::test_cancelling_the_task_awaiting_a_running_call_leaves_the_pool_working":
        "it needs a pool of one worker: its next call must wait for the cancelled one",
}

# Tests whose tasks share objects with the test (threading.Event gates, lists
# they append to, Thread objects they return): they apply only to executors
# that run tasks in the test's own process.
_SHARED = "its task shares objects with the test (an Event, a list): needs the test's process"
SHARES_MEMORY: dict[str, str] = {
    "test_interop.py::test_run_in_executor_runs_the_call_in_the_pool":
        "its task returns a threading.Thread",
    "test_interop.py::test_cancelling_the_asyncio_future_cancels_the_pending_pool_future": _SHARED,
    "test_map.py::test_map_yields_results_in_input_order_whatever_the_finishing_order": _SHARED,
    "test_map.py::test_map_submits_every_call_before_the_first_result_is_read": _SHARED,
    "test_map.py::test_map_timeout_raises_timeout_error_when_a_result_is_late": _SHARED,
    "test_map.py::test_map_timeout_counts_from_the_call_not_from_iteration": _SHARED,
    "test_map.py::test_closing_map_early_cancels_the_calls_not_started": _SHARED,
    "test_map.py::test_map_timeout_cancels_the_calls_not_started": _SHARED,
    "test_thread_pool.py::test_shutdown_wait_false_returns_while_a_task_is_blocked": _SHARED,
    "test_thread_pool.py::test_shutdown_cancel_futures_cancels_queued_but_not_running": _SHARED,
    "test_clients.py::test_cancelling_the_task_awaiting_a_queued_call_cancels_the_call": _SHARED,
    "test_clients.py::test_grpc_server_stop_with_grace_lets_the_call_running_in_the_pool_finish":
        "grpc hands the pool closures over its server's state",
    "test_clients.py::test_tornado_run_on_executor_propagates_the_methods_exception":
        "its task is a method of an object that holds the executor",
}

# Tests that need tasks to run in another process (a task that kills its
# process; what pickling does to a task): they apply only to executors that
# run tasks outside the test's process.
_PICKLED = "about pickling tasks, and this executor runs them in the test's process unpickled"
NEEDS_ANOTHER_PROCESS: dict[str, str] = {
    "test_executor.py::test_a_task_that_kills_its_worker_fails_with_broken_executor":
        "its task kills the process that runs it: here, the test's own",
    "test_process_pool.py::test_unpicklable_argument_fails_only_its_future": _PICKLED,
    "test_process_pool.py::test_map_default_chunksize_fails_an_unpicklable_argument_at_its_position":
        _PICKLED,
    "test_process_pool.py::test_unpicklable_result_fails_only_its_future": _PICKLED,
    "test_process_pool.py::test_map_default_chunksize_fails_an_unpicklable_result_at_its_position":
        _PICKLED,
    "test_process_pool.py::test_unpicklable_exception_fails_only_its_future": _PICKLED,
    "test_clients.py::test_run_in_executor_on_a_process_pool_runs_the_call_in_a_worker_process":
        "it checks that the call ran in another process",
    "test_clients.py::test_tornado_run_in_executor_on_a_process_pool_runs_in_a_worker_process":
        "it checks that the call ran in another process",
}

# Tests whose task is a lambda or a local function (or raises a local class):
# plain pickle cannot ship those, so they apply to executors that run tasks in
# the test's process or ship them by value (cloudpickle: dask, loky).
_LOCAL = "its task is a lambda or a local function, which this executor cannot ship"
LOCAL_FUNCTIONS: dict[str, str] = {
    "test_map.py::test_map_passes_one_item_of_each_iterable": _LOCAL,
    "test_map.py::test_map_reraises_a_task_exception_at_its_position": _LOCAL,
    "test_thread_pool.py::test_context_manager_shuts_down_after_the_work_is_done": _LOCAL,
    "test_thread_pool.py::test_shutdown_wait_true_waits_for_running_and_queued_work": _LOCAL,
    "test_thread_pool.py::test_submit_keyword_named_fn_reaches_the_task": _LOCAL,
    "test_thread_pool.py::test_submit_passes_positional_and_keyword_arguments": _LOCAL,
    "test_thread_pool.py::test_task_raising_base_exception_is_captured_in_the_future": _LOCAL,
}

# Tests that keep every worker busy, so they must know how many there are:
# the dask leg's cluster has DASK_WORKERS; the kit's executor, who knows.
_COUNTS = "it needs an exact number of workers, which the kit's executor does not tell"
KNOWS_THE_WORKERS: dict[str, str] = {
    "test_executor.py::test_shutdown_cancel_futures_cancels_work_not_started": _COUNTS,
    "test_map.py::test_map_yields_results_in_input_order_whatever_the_finishing_order": _COUNTS,
    "test_map.py::test_map_timeout_counts_from_the_call_not_from_iteration": _COUNTS,
    "test_map.py::test_closing_map_early_cancels_the_calls_not_started": _COUNTS,
    "test_map.py::test_map_timeout_cancels_the_calls_not_started": _COUNTS,
    "test_thread_pool.py::test_shutdown_cancel_futures_cancels_queued_but_not_running": _COUNTS,
    "test_interop.py::test_cancelling_the_asyncio_future_cancels_the_pending_pool_future": _COUNTS,
    "test_clients.py::test_cancelling_the_task_awaiting_a_queued_call_cancels_the_call": _COUNTS,
    "test_channel.py::test_calls_the_full_channel_cannot_take_yet_run_in_their_turn": _COUNTS,
}

# dask's known differences from concurrent.futures: strict expected failures,
# so that a test that starts passing (an upstream fix) fails the suite.
# docs/scaling.md lists each one.
_TAKEN = "dask's Client.submit takes this keyword for itself: the task never sees it"
_UNPACKED = ("Client.submit runs the dask tasks it finds in a call's arguments, and the call "
             "gets their results: dask's local scheduler, which hands its tasks over as "
             "arguments, cannot run on it")
DASK_XFAIL: dict[str, str] = {
    "test_executor.py::test_submit_hands_every_keyword_to_the_task": _TAKEN,
    "test_thread_pool.py::test_submit_keyword_named_fn_reaches_the_task":
        "submit(fn, /, ...) is not positional-only: fn=... clashes with the function",
    "test_executor.py::test_a_started_task_is_running": "running() is never True",
    "test_channel.py::test_calls_the_full_channel_cannot_take_yet_run_in_their_turn":
        "running() is never True",
    "test_executor.py::test_cancel_of_a_started_task_fails_and_the_task_completes":
        "cancel() of a running task returns True, and the task keeps running",
    "test_executor.py::test_shutdown_without_wait_lets_started_work_finish":
        "shutdown(wait=False) cancels the running work",
    "test_executor.py::test_shutdown_cancel_futures_cancels_work_not_started":
        "shutdown() has no cancel_futures",
    "test_thread_pool.py::test_shutdown_twice_is_harmless": "shutdown() has no cancel_futures",
    "test_map.py::test_map_after_shutdown_raises_runtime_error": "map after shutdown still runs",
    "test_map.py::test_map_accepts_an_infinite_iterable_beside_a_finite_one":
        "map takes len() of every iterable: no infinite input",
    "test_process_pool.py::test_map_buffersize_limits_submissions": "map has no buffersize",
    "test_executor.py::test_a_task_that_kills_its_worker_fails_with_broken_executor":
        "a dead worker gives KilledWorker (after restarts), not BrokenExecutor",
    "test_process_pool.py::test_system_exit_in_a_task_is_just_an_exception":
        "SystemExit in a task kills its worker: KilledWorker (after restarts)",
    "test_thread_pool.py::test_task_raising_base_exception_is_captured_in_the_future":
        "a BaseException (not an Exception) in a task: its future never finishes",
    "test_process_pool.py::test_unpicklable_argument_fails_only_its_future":
        "an unpicklable argument makes submit() itself raise",
    "test_process_pool.py::test_map_default_chunksize_fails_an_unpicklable_argument_at_its_position":
        "an unpicklable argument makes map() itself raise",
    "test_process_pool.py::test_unpicklable_result_fails_only_its_future":
        "a result that cannot be pickled: its future never finishes",
    "test_process_pool.py::test_unpicklable_exception_fails_only_its_future":
        "an exception that cannot be pickled arrives as a plain Exception, not a TypeError",
    "test_clients.py::test_dask_delayed_graph_gives_the_sync_schedulers_result": _UNPACKED,
    "test_clients.py::test_dask_bag_map_and_fold_give_the_sync_schedulers_result": _UNPACKED,
}


_runs_elsewhere: dict[str, bool] = {"dask": True}
_ships_local_functions: dict[str, bool] = {"dask": True}


def runs_tasks_elsewhere(name: str) -> bool:
    """Whether the executor under test runs tasks outside the test's process."""
    if name not in _runs_elsewhere:
        with UNDER_TEST[name].ProcessPool() as pool:
            _runs_elsewhere[name] = pool.submit(os.getpid).result(timeout=60) != os.getpid()
    return _runs_elsewhere[name]


def ships_local_functions(name: str) -> bool:
    """Whether the executor under test can run a lambda (by value, or in this process)."""
    if name not in _ships_local_functions:
        with UNDER_TEST[name].ProcessPool() as pool:
            try:
                _ships_local_functions[name] = pool.submit(lambda: 42).result(timeout=60) == 42
            except Exception:  # pickling refused it, in submit or in the future
                _ships_local_functions[name] = False
    return _ships_local_functions[name]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept, dropped = [], []
    for item in items:
        name = impl_of(item)
        if KIT_FACTORY and name != "kit":
            dropped.append(item)  # the kit runs the executor under test alone
        elif item.get_closest_marker("properties") and not KIT_FACTORY:
            dropped.append(item)  # the kit's alone: with no kit, it has no executor
        elif name in UNDER_TEST and params_of(item).get("method", "fork") != "fork":
            dropped.append(item)  # start methods are one machine's business: run once
        else:
            kept.append(item)
            if name in UNDER_TEST:
                mark_for_executor_under_test(item, name)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    # The dask leg runs last: from its first test on, the session's cluster
    # (worker processes, threads) exists and distributed is imported (it
    # installs tblib's exception pickling and its logging), which tests of
    # the stdlib and minipool must never see. Tests that import dask
    # (dask_library) run there too: importing dask installs tblib's pickling.
    items[:] = ([item for item in kept if not uses_dask(item)]
                + [item for item in kept if uses_dask(item)])


def uses_dask(item: pytest.Item) -> bool:
    fixtures = getattr(item, "fixturenames", ())
    return impl_of(item) == "dask" or "dask_client" in fixtures or "dask_library" in fixtures


def mark_for_executor_under_test(item: pytest.Item, name: str) -> None:
    key = table_key(item)
    if key in NOT_APPLICABLE:
        item.add_marker(pytest.mark.skip(reason=f"not applicable: {NOT_APPLICABLE[key]}"))
    elif key in SHARES_MEMORY and runs_tasks_elsewhere(name):
        item.add_marker(pytest.mark.skip(reason=f"not applicable: {SHARES_MEMORY[key]}"))
    elif key in NEEDS_ANOTHER_PROCESS and not runs_tasks_elsewhere(name):
        item.add_marker(pytest.mark.skip(reason=f"not applicable: {NEEDS_ANOTHER_PROCESS[key]}"))
    elif key in LOCAL_FUNCTIONS and not ships_local_functions(name):
        item.add_marker(pytest.mark.skip(reason=f"not applicable: {LOCAL_FUNCTIONS[key]}"))
    elif key in KNOWS_THE_WORKERS and name == "kit":
        item.add_marker(pytest.mark.skip(reason=f"not applicable: {KNOWS_THE_WORKERS[key]}"))
    elif name == "dask" and key in DASK_XFAIL:
        item.add_marker(pytest.mark.xfail(strict=True, reason=DASK_XFAIL[key]))

# ------------------------------------------------------------------ leaks
LEAK_GRACE_SECONDS = 10.0  # how long a finished test's threads get to exit
# The threads a dask Client and LocalCluster start as they need them, and keep.
DASK_THREADS = re.compile(
    r"^(AsyncProcess Dask Worker process|Dask-|IO loop$|QueueFeederThread$)")


# multiprocessing's own long-lived helpers, started once per interpreter on
# first use and shared by every pool: not a pool's leak (nor loky's tracker,
# for the kit's loky:get_reusable_executor).
_SERVICES = (b"multiprocessing.resource_tracker", b"multiprocessing.forkserver",
             b"loky.backend.resource_tracker")


def _children() -> set[int]:
    """Pids of this process's live children, not counting multiprocessing's services."""
    pids: set[int] = set()
    try:
        for task in os.listdir(f"/proc/{os.getpid()}/task"):
            with open(f"/proc/{os.getpid()}/task/{task}/children") as f:
                pids.update(int(p) for p in f.read().split())
    except OSError:  # not Linux: multiprocessing's view is the best we have
        return {p.pid for p in multiprocessing.active_children() if p.pid is not None}
    return {p for p in pids if _is_running(p) and not _is_service(p)}


def join_by(thread: threading.Thread, deadline: float) -> None:
    """Join *thread*, waiting no later than *deadline* (``time.monotonic()``).

    ``threading.enumerate()`` also lists a thread whose ``start()`` another
    thread is still inside, and joining that one raises RuntimeError ("cannot
    join thread before it is started"); it is joinable a moment later. (For
    example, the stdlib's process pool: its manager thread starts its call
    queue's feeder thread when it first moves a call there. The deep property
    run under spawn met exactly that.)
    """
    while True:
        try:
            thread.join(max(0.0, deadline - time.monotonic()))
            return
        except RuntimeError:
            if time.monotonic() >= deadline:
                return
            time.sleep(0.01)  # it is being started right now; no event to wait on


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
def no_leaked_threads_or_children(request: pytest.FixtureRequest) -> Any:
    """Fail the test if it leaves a thread or child process behind.

    Threads get LEAK_GRACE_SECONDS to finish (joined, not slept on), for
    tests that end with shutdown(wait=False).

    On the dask leg, the session's LocalCluster is started before the
    snapshot, and its own worker processes (a nanny replaces a dead one) and
    threads (DASK_THREADS) are the cluster's, not the test's.
    """
    if impl_of(request.node) == "dask":
        request.getfixturevalue("dask_client")
    elif impl_of(request.node) == "kit":
        runs_tasks_elsewhere("kit")  # its executor has run a task: its services are up
    threads_before = set(threading.enumerate())
    children_before = _children()
    yield
    on_dask = (impl_of(request.node) in UNDER_TEST  # dask, or the kit's (maybe dask too)
               or "dask_client" in request.fixturenames)
    leaked, children = left_running(threads_before, children_before, LEAK_GRACE_SECONDS,
                                    on_dask)
    assert not leaked, f"threads left running after the test: {leaked}"
    assert not children, f"child processes left running after the test: {sorted(children)}"


def left_running(threads_before: set[threading.Thread], children_before: set[int],
                 grace: float, on_dask: bool) -> tuple[list[str], set[int]]:
    """The threads (names) and child processes (pids) started since the snapshot
    (*threads_before*, *children_before*) that still run after up to *grace* seconds.

    Threads are joined and children polled, not slept on. *on_dask*: the
    threads and worker processes of a dask cluster are the cluster's, not a leak.
    """
    deadline = time.monotonic() + grace
    new_threads = [t for t in set(threading.enumerate()) - threads_before
                   if not (on_dask and DASK_THREADS.match(t.name))]
    for thread in new_threads:
        join_by(thread, deadline)
    leaked = [t.name for t in new_threads if t.is_alive()]
    multiprocessing.active_children()  # reaps finished children
    while True:
        children = _children() - children_before - DaskSession.worker_pids()
        if not children or time.monotonic() > deadline:
            return leaked, children
        time.sleep(0.05)  # polling the OS for exits; no event to wait on


def run_python(script: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run *script* (``python -c``) in a fresh interpreter; its output, as text.

    Its ``PYTHONPATH`` is this process's ``sys.path``, so it imports the same
    minipool and task modules as the tests, installed or from a checkout.
    """
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    multiprocessing.active_children()
    stray = _children()
    if stray:
        sys.stderr.write(f"\nstray child processes after the suite: {sorted(stray)}\n")
        session.exitstatus = 1


# ------------------------------------------------ property suite (hypothesis)
# Registers the hypothesis profiles (dev, ci, deep) and loads ci as the
# default, before the hypothesis plugin applies --hypothesis-profile.
# Everything else of the property suite lives in strategies.py and the
# test_prop_*.py modules (this package's and tests/).
from minipool.conformance import strategies  # noqa: E402, F401
