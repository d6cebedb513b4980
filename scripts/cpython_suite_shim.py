"""What CPython's own concurrent.futures tests import, once pointed at an implementation.

``scripts/cpython_suite.py`` copies CPython's ``test_concurrent_futures`` to a
temporary directory (as ``cpython_cf_tests``), together with this module, and
rewrites every ``from concurrent.futures[.x] import ...`` and ``from concurrent
import futures`` there into ``from cpython_suite_shim import ...``. This module
then hands out the names of the implementation named by ``$CPYTHON_SUITE_IMPL``:

* ``minipool``: ``futures`` is the ``minipool`` package, the pools are its pools,
  ``BrokenProcessPool``/``BrokenThreadPool`` come from ``minipool.process`` and
  ``minipool.thread`` (which re-export the stdlib's classes);
* ``stdlib``: the same names from ``concurrent.futures``. Running the suite so
  proves that the rewrites change nothing the tests rely on;
* any other name: that module, which must have concurrent.futures' names (the
  runner's own test gives it a broken one, to see it fail).

Both implementations get the same rewrites, and these names of the shim's own:

* ``create_future``: the tests build their fixture futures (``PENDING_FUTURE``,
  ``CANCELLED_AND_NOTIFIED_FUTURE``, ...) by writing the private ``_state``,
  ``_result`` and ``_exception`` of a fresh Future. The shim's version reaches
  the same state through the public API (``cancel``,
  ``set_running_or_notify_cancel``, ``set_result``, ``set_exception``), so the
  tests that only *use* those futures apply to any implementation. ``PENDING``,
  ``RUNNING``, ... are its arguments: plain strings, the stdlib's values.
* ``assert_python_ok``: test.support's, but the child interpreter it starts sees
  ``$PYTHONPATH`` and ``$CPYTHON_SUITE_IMPL`` (test.support would start it with
  ``-I``, which hides both), so that ``from cpython_suite_shim import ...`` and
  ``from cpython_cf_tests import sleep_and_print`` in the child's code work.
* private names the test modules import at their top (``_check_system_limits``,
  ``_ThreadWakeup``): the stdlib's, for both implementations. The first only
  asks the OS whether process pools can work here (the tests skip if not); the
  second is used only by tests the runner classifies as not applicable.

The runner also starts the child processes through this module: ``list_tests``
(every test id of the suite, with the private attributes each test's code
reads) and ``run_test`` (one test, its outcome as JSON).
"""

from __future__ import annotations

import ast
import faulthandler
import gc
import importlib
import inspect
import json
import os
import pkgutil
import sys
import textwrap
import types
import unittest
from typing import Any, Callable, Optional

__all__ = [  # what the rewritten tests import (and, through __getattr__, any public name)
    "CANCELLED", "CANCELLED_AND_NOTIFIED", "FINISHED", "PENDING", "RUNNING",
    "BrokenExecutor", "BrokenProcessPool", "BrokenThreadPool", "CancelledError", "Future",
    "TimeoutError", "assert_python_ok", "create_future", "futures",
]

IMPL_VARIABLE = "CPYTHON_SUITE_IMPL"
IMPL = os.environ.get(IMPL_VARIABLE, "minipool")
TESTS_PACKAGE = "cpython_cf_tests"  # the rewritten copy of CPython's tests

if IMPL == "minipool":
    import minipool as futures
    from minipool.process import BrokenProcessPool
    from minipool.thread import BrokenThreadPool
elif IMPL == "stdlib":
    from concurrent import futures  # type: ignore[no-redef]
    from concurrent.futures.process import BrokenProcessPool  # type: ignore[assignment]
    from concurrent.futures.thread import BrokenThreadPool  # type: ignore[assignment]
else:  # any module with concurrent.futures' names (the runner's own test uses a broken one)
    futures = importlib.import_module(IMPL)  # type: ignore[assignment]
    from concurrent.futures.process import BrokenProcessPool  # type: ignore[assignment]
    from concurrent.futures.thread import BrokenThreadPool  # type: ignore[assignment]

# Private names imported at the top of some test modules: the stdlib's (see the
# module docstring). Only an OS check and a class for not-applicable tests.
from concurrent.futures.process import _check_system_limits  # noqa: E402,F401

try:  # Python 3.12+'s test_deadlock imports it; its only user is not applicable
    from concurrent.futures.process import _ThreadWakeup  # noqa: F401
except ImportError:
    pass

Future = futures.Future
BrokenExecutor = futures.BrokenExecutor
CancelledError = futures.CancelledError
TimeoutError = futures.TimeoutError  # noqa: A001 - the name the tests import

# The states a fixture future is created in (the stdlib's values).
PENDING = "PENDING"
RUNNING = "RUNNING"
CANCELLED = "CANCELLED"
CANCELLED_AND_NOTIFIED = "CANCELLED_AND_NOTIFIED"
FINISHED = "FINISHED"


def create_future(state: str = PENDING, exception: Optional[BaseException] = None,
                  result: Any = None) -> Any:
    """A Future of the implementation in *state*, reached through its public API."""
    future = futures.Future()
    if state == RUNNING:
        future.set_running_or_notify_cancel()
    elif state in (CANCELLED, CANCELLED_AND_NOTIFIED):
        future.cancel()
        if state == CANCELLED_AND_NOTIFIED:
            future.set_running_or_notify_cancel()  # returns False: notified
    elif state == FINISHED:
        if exception is not None:
            future.set_exception(exception)
        else:
            future.set_result(result)
    elif state != PENDING:
        raise ValueError(f"unknown state {state!r}")
    return future


def assert_python_ok(*args: str, **env_vars: str) -> Any:
    """test.support's assert_python_ok, with the child seeing this suite's environment."""
    from test.support import script_helper

    # Passing environment variables makes script_helper drop -I and -E.
    env_vars.setdefault("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
    env_vars.setdefault(IMPL_VARIABLE, IMPL)
    return script_helper.assert_python_ok(*args, **env_vars)


def __getattr__(name: str) -> Any:
    """Any other public name (``from cpython_suite_shim import MiniThreadPool``)."""
    if name.startswith("_"):
        raise AttributeError(name)
    return getattr(futures, name)


# ---------------------------------------------------------------------------
# The runner's side: list the tests, run one.


def _flatten(suite: unittest.TestSuite) -> list[unittest.TestCase]:
    cases: list[unittest.TestCase] = []
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            cases.extend(_flatten(item))
        else:
            cases.append(item)
    return cases


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


class _PrivateReads:
    """The private attributes that one test's code reads, found in its source.

    Follows the test method, the setUp/tearDown methods of its class, the helper
    methods it calls on ``self``, and the functions of the test modules it names
    (those it hands to an executor included). ``self._x`` is the test's own
    attribute when the test class has it or a test module assigns it. Classes
    the test only instantiates (``ErrorAtPickle()``) are not followed: their
    methods run inside pickle, and none of the suite's reads private state.
    """

    def __init__(self, case: unittest.TestCase, module_sources: str) -> None:
        self.cls = type(case)
        self.module_sources = module_sources
        self.reads: set[str] = set()
        self.seen: set[Any] = set()

    def of(self, method_name: str) -> list[str]:
        for name in ("setUp", "tearDown", method_name):
            self._visit(getattr(self.cls, name, None))
        return sorted(self.reads)

    def _visit(self, function: Any) -> None:
        function = inspect.unwrap(getattr(function, "__func__", function))
        if not isinstance(function, types.FunctionType) or function in self.seen:
            return
        if not function.__module__.startswith(TESTS_PACKAGE):
            return  # unittest's own setUp/tearDown, the shim's create_future
        self.seen.add(function)
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
        where = function.__qualname__
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                self._attribute(node, where)
            elif isinstance(node, ast.Name):
                self._name(node.id, function.__globals__, where)

    def _attribute(self, node: ast.Attribute, where: str) -> None:
        if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            own = getattr(self.cls, node.attr, None)
            if callable(own):
                self._visit(own)
                return
            if own is not None or f"self.{node.attr} =" in self.module_sources:
                return
        if _is_private(node.attr):
            self.reads.add(f"{where}: {ast.unparse(node)}")

    def _name(self, name: str, namespace: dict[str, Any], where: str) -> None:
        value = namespace.get(name)
        if isinstance(value, types.FunctionType):
            self._visit(value)
        elif _is_private(name) and value is not None and not isinstance(value, types.ModuleType):
            self.reads.add(f"{where}: {name}")  # imported from concurrent.futures


def _module_sources() -> str:
    return "\n".join(inspect.getsource(module) for name, module in sorted(sys.modules.items())
                     if name.startswith(TESTS_PACKAGE))


def _load_suite() -> unittest.TestSuite:
    """Every test: of the module, or of each ``test_*`` module of the package (3.12+).

    (The package's own ``load_tests`` only works from inside the stdlib.)
    """
    loader = unittest.defaultTestLoader
    package = importlib.import_module(TESTS_PACKAGE)
    if not hasattr(package, "__path__"):
        return loader.loadTestsFromModule(package)
    names = sorted(info.name for info in pkgutil.iter_modules(package.__path__)
                   if info.name.startswith("test_"))
    return loader.loadTestsFromNames([f"{TESTS_PACKAGE}.{name}" for name in names])


def list_tests() -> None:
    """Print one JSON object per line: each test's id and the private reads of its code."""
    cases = _flatten(_load_suite())
    sources = _module_sources()
    for case in cases:
        if type(case).__name__ in ("_FailedTest", "ModuleImportFailure"):
            case.debug()  # raises the import error, with its traceback
        method = case.id().rsplit(".", 1)[1]
        reads = _PrivateReads(case, sources).of(method)
        print(json.dumps({"id": case.id(), "reads": reads}))


def _outcome(result: unittest.TestResult) -> tuple[str, str]:
    for kind, entries in (("fail", result.errors), ("fail", result.failures),
                          ("fail", [(t, "unexpected success") for t in result.unexpectedSuccesses]),
                          ("skip", result.skipped),
                          ("pass", [(t, "expected failure") for t, _ in result.expectedFailures])):
        if entries:
            return kind, "\n\n".join(str(text) for _, text in entries)
    if result.testsRun != 1:
        return "fail", f"{result.testsRun} tests ran, not 1"
    return "pass", ""


def run_test(test_id: str, result_path: str, timeout: float, grace: float) -> None:
    """Run one test; report its outcome in *result_path* (JSON), twice.

    First as soon as the test is over (``stage: "test"``), then once the module's
    cleanups have run too (``stage: "done"``), just before interpreter exit. The
    runner allows *timeout* seconds in all, but only *grace* seconds after the
    first report.
    """
    from test import support

    class Result(unittest.TextTestResult):
        def stopTest(self, test: unittest.TestCase) -> None:
            super().stopTest(test)
            outcome, details = _outcome(self)
            _report(result_path, "test", outcome, details)
            faulthandler.dump_traceback_later(max(grace - 5, 1), exit=False)
            if outcome == "fail":
                _shut_down_leftover_executors()

    # If the test or what follows it hangs, show every thread's stack before
    # the runner kills this process.
    faulthandler.dump_traceback_later(max(timeout - 15, 1), exit=False)
    suite = unittest.defaultTestLoader.loadTestsFromName(test_id)
    support.environment_altered = False
    result = unittest.TextTestRunner(stream=sys.stderr, verbosity=2, resultclass=Result).run(suite)
    outcome, details = _outcome(result)
    if outcome == "pass" and support.environment_altered:
        outcome, details = "fail", "the test left the environment altered (threads or " \
                                   "child processes still there: see stderr)"
    _report(result_path, "done", outcome, details)


def _report(result_path: str, stage: str, outcome: str, details: str) -> None:
    partial = result_path + ".partial"
    with open(partial, "w", encoding="utf-8") as out:
        json.dump({"stage": stage, "outcome": outcome, "details": details,
                   "implementation": _implementation_file()}, out)
    os.replace(partial, result_path)  # the runner never reads half a report


def _shut_down_leftover_executors() -> None:
    """Stop the executors a failed test left running (it failed before its shutdown).

    Otherwise the module's cleanup (``multiprocessing.util._cleanup_tests``)
    waits forever for the resource tracker, which waits for those executors'
    worker processes -- a hang that would hide the test's own failure.
    """
    for obj in gc.get_objects():
        if isinstance(obj, futures.Executor):
            obj.shutdown(wait=False, cancel_futures=True)


def _implementation_file() -> str:
    return str(getattr(futures, "__file__", ""))


def main(argv: list[str]) -> None:
    commands: dict[str, Callable[..., None]] = {"list": list_tests, "run": run_test}
    command, *args = argv
    if command == "run":
        run_test(args[0], args[1], float(args[2]), float(args[3]))
    else:
        commands[command]()


if __name__ == "__main__":
    # Always run as ``python -c "import cpython_suite_shim as s; s.main(...)"``:
    # ``python -m`` would make a second copy of this module, as __main__.
    raise SystemExit("run through scripts/cpython_suite.py")
