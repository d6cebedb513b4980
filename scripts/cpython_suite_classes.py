"""How each test of CPython's concurrent.futures suite counts (scripts/cpython_suite.py).

A test is keyed ``Class.test_method`` (its unittest id without the module: the
same on every Python); keys below are ``fnmatch`` patterns. Every test the
table does not name must pass, against minipool and against the stdlib.

How the runner uses it:

* ``NOT_APPLICABLE``: the test's code reads private attributes of an executor
  or a future (``executor._processes``, ``future._state``, ...), so it tests
  the stdlib's insides, not the API. The runner reads every test's code (the
  test method, its class's setUp/tearDown, the helpers it calls) and lists the
  private attributes it reads; the reason here must name each of them, and a
  test listed here that reads none is an error.
* ``ALLOWED_READS``: private reads that do *not* make a test not applicable,
  each with why. Patterns match ``"Class.test_method | where: expression"``
  (*where* is the function whose code reads it). A test whose reads are
  neither allowed nor covered by ``NOT_APPLICABLE`` is an error, so a new
  Python's new tests cannot slip through unread.
* ``KNOWN_DIFFERENCES`` (minipool only): strict expected failures. The reason
  starts with the entry of docs/differences.md that argues the difference; a
  test listed here that passes is an error. Against the stdlib they must pass.

CPython's own skips (Windows-only tests, tests a start method cannot run) need
no entry: the runner counts them apart, as skipped.
"""

NOT_APPLICABLE: dict[str, str] = {
    # The thread pool's worker list.
    "ThreadPoolShutdownTest.test_threads_terminate": "counts and joins executor._threads",
    "ThreadPoolShutdownTest.test_context_manager_shutdown": "joins executor._threads",
    "ThreadPoolShutdownTest.test_del_shutdown": "joins executor._threads",
    "ThreadPoolShutdownTest.test_shutdown_no_wait": "joins executor._threads",
    "ThreadPoolShutdownTest.test_thread_names_assigned": "reads the names of executor._threads",
    "ThreadPoolShutdownTest.test_thread_names_default": "reads the names of executor._threads",
    "ThreadPoolExecutorTest.test_saturation": "counts executor._threads",
    "ThreadPoolExecutorTest.test_idle_thread_reuse": "counts executor._threads",
    # The process pool's worker table, manager thread and call queue.
    "*ProcessPoolExecutorTest.test_idle_process_reuse_one": "counts executor._processes",
    "*ProcessPoolExecutorTest.test_idle_process_reuse_multiple": "counts executor._processes",
    "*ProcessPoolExecutorTest.test_saturation": "counts executor._processes",
    "*ProcessPoolExecutorTest.test_killed_child": "terminates a worker found in "
                                                   "self.executor._processes",
    "ProcessPoolForkserverProcessPoolExecutorTest.test_max_tasks_per_child":
        "counts executor._processes",
    "ProcessPoolSpawnProcessPoolExecutorTest.test_max_tasks_per_child":
        "counts executor._processes",
    "*ProcessPoolExecutorTest.test_max_tasks_per_child_defaults_to_spawn_context":
        "reads executor._mp_context",
    "*ProcessPoolShutdownTest.test_processes_terminate": "counts self.executor._processes",
    "*ProcessPoolShutdownTest.test_context_manager_shutdown": "joins e._processes",
    "*ProcessPoolShutdownTest.test_del_shutdown": "joins executor._processes, "
        "executor._executor_manager_thread and executor._call_queue",
    "*ProcessPoolShutdownTest.test_shutdown_no_wait": "joins executor._processes, "
        "executor._executor_manager_thread and executor._call_queue",
    "*ExecutorDeadlockTest.test_shutdown_deadlock_pickle": "joins "
        "executor._executor_manager_thread",
    "*ExecutorDeadlockTest.test_gh105829_should_not_deadlock_if_wakeup_pipe_full":
        "patches futures.process._ExecutorManagerThread and _ThreadWakeup",
    "*ProcessPoolExecutorTest.test_traceback": "checks the cause's type is "
        "futures.process._RemoteTraceback",
    "*ProcessPoolExecutorTest.test_python_finalization_error": "replaces "
        "threading._start_joinable_thread so that the pool's second thread cannot start: "
        "the stdlib's threads (its queue feeder); minipool starts one thread, so the map "
        "runs, and fails on the test's own mul((2, 3)) with TypeError",
    # Both pools.
    "*FailingInitializerTest.test_initializer": "polls self.executor._broken",
    "FailingInitializerResourcesTest.*": "runs FailingInitializerTest.test_initializer "
        "(not applicable: it polls self.executor._broken), then stops multiprocessing's "
        "resource tracker (_resource_tracker._stop) and reads its _exitcode; the inner "
        "test's failure keeps its log queue, a semaphore, alive, so the tracker reports a leak",
    # The Future's state, written and read directly.
    "FutureTests.test_cancel": "reads f1._state ... f6._state",
    "FutureTests.test_exception_with_success": "finishes the future by writing "
        "f1._state and f1._exception under f1._condition",
}

ALLOWED_READS: dict[str, str] = {
    "* | ExecutorDeadlockTest._fail_on_deadlock: executor._processes":
        "read only once the test has failed (a deadlock), to kill the workers",
    "* | _crash: faulthandler._sigsegv": "how the test's task crashes its worker process",
    "* | ExecutorShutdownTest.test_cancel_futures: fut._state":
        "only formats an assertion's message (minipool's Future has a _state)",
    "* | *: *._max_workers": "minipool keeps _max_workers on purpose: libraries read "
                             "it (dask), issue 11",
    "ProcessPoolForkProcessPoolExecutorTest.test_max_tasks_per_child | *: executor._processes":
        "under fork the test returns before it reads it: it only checks that the "
        "constructor refuses max_tasks_per_child",
}

_UNPICKLING = ("docs/differences.md#a-payload-that-cannot-be-unpickled-fails-one-future-"
               "not-the-pool: only that future fails; the stdlib breaks the pool")
_CANCELLED_IS_DONE = ("docs/differences.md#wait-counts-a-cancelled-future-as-done-at-once: "
                      "a cancelled future no executor acknowledged is in done, not not_done")

KNOWN_DIFFERENCES: dict[str, str] = {
    "*ExecutorDeadlockTest.test_error_at_task_unpickle": _UNPICKLING,
    "*ExecutorDeadlockTest.test_exit_at_task_unpickle": _UNPICKLING,
    "*ExecutorDeadlockTest.test_error_during_result_unpickle_in_result_handler": _UNPICKLING,
    "*ExecutorDeadlockTest.test_exit_during_result_unpickle_in_result_handler": _UNPICKLING,
    "*WaitTest*.test_first_completed": _CANCELLED_IS_DONE,
    "*WaitTest*.test_first_exception_some_already_complete": _CANCELLED_IS_DONE,
    "ProcessPoolForkProcessPoolExecutorTest.test_max_tasks_per_child":
        "docs/differences.md#better-than-the-stdlib: max_tasks_per_child works under "
        "fork (process-pool.md), the stdlib refuses it with ValueError",
}
