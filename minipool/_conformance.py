"""``python -m minipool conformance MODULE:FACTORY ...``: the compat suite against any executor.

``FACTORY()`` must return a ``concurrent.futures``-style Executor (for example
``concurrent.futures:ThreadPoolExecutor``). For each factory, one pytest run
of minipool's compat suite, installed with the package (``minipool.conformance``),
with that executor as the only implementation; then one table, a column per
executor, a row per test::

    main(argv) --> for each MODULE:FACTORY:
                     pytest --pyargs minipool.conformance      (a child process,
                       -p minipool.conformance.plugin            in a scratch
                       --junitxml=REPORT                         directory; the
                       $MINIPOOL_CONFORMANCE_FACTORY=MODULE:FACTORY   plugin makes
                                                                 impl "kit" from it)
                     _read_report(REPORT) -> {test: outcome}
                   _print_table(outcomes)

Outcomes: ``pass``, ``FAIL`` (a failure, or an error such as a leaked thread),
``n/a`` (a test about one machine's pools: thread names, pids, start
methods, max_workers, initializers, where callbacks run; or one whose task
shares objects with the test while this executor runs tasks in another
process). minipool/conformance/plugin.py holds those tables and says why for
each. ``--properties`` adds the executor state machine's verdict (hypothesis).

Works from any directory: pytest runs in a scratch directory with no
configuration file of its own (``-c`` the null device), so the caller's
directory and its pytest settings play no part, except that MODULE is
imported from there (the caller's directory goes first on ``PYTHONPATH``).
Requirements: pytest, pytest-timeout and hypothesis (``pip install
'minipool[test]'``).

Threads/processes: none here; each pytest run is a child process, run one
after the other.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from typing import Optional

FACTORY_ENV_VAR = "MINIPOOL_CONFORMANCE_FACTORY"  # read by minipool/conformance/plugin.py
SUITE = "minipool.conformance"
PLUGIN = "minipool.conformance.plugin"
# The suite's per-test default (setup.cfg's [tool:pytest] timeout, which the
# kit does not read: it runs with no configuration file).
TIMEOUT_SECONDS = 60
NEEDS = ("pytest", "pytest_timeout", "hypothesis")  # setup.cfg's test extra
NOT_APPLICABLE_PREFIX = "not applicable: "
PASS, FAIL, NOT_APPLICABLE = "pass", "FAIL", "n/a"


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    problem = _missing_requirement(args.factories)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    columns = {}
    for factory in args.factories:
        outcomes = _run_suite(factory, args.k, args.properties, args.verbose)
        if outcomes is None:
            return 2
        columns[factory] = outcomes
    _print_table(columns)
    return 1 if any(FAIL in c.values() for c in columns.values()) else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m minipool conformance",
        description="Run minipool's compat suite against executors; print what passes, "
                    "fails or is not applicable.")
    parser.add_argument("factories", nargs="+", metavar="MODULE:FACTORY",
                        help="FACTORY() returns the Executor to test")
    parser.add_argument("--properties", action="store_true",
                        help="also run the executor state machine (hypothesis; minutes)")
    parser.add_argument("-k", default="", help="only tests matching this pytest -k expression")
    parser.add_argument("-v", "--verbose", action="store_true", help="show pytest's output")
    return parser


def _missing_requirement(factories: list[str]) -> Optional[str]:
    for name in NEEDS:
        if importlib.util.find_spec(name) is None:
            return f"the conformance kit needs {name}: pip install 'minipool[test]'"
    bad = [f for f in factories if f.count(":") != 1 or not all(f.split(":"))]
    if bad:
        return f"expected MODULE:FACTORY, got {bad}"
    return None


def _pytest_command(report: pathlib.Path, keyword: str, properties: bool) -> list[str]:
    command = [sys.executable, "-m", "pytest", "--pyargs", SUITE, "-p", PLUGIN,
               "-c", os.devnull, "--rootdir", str(report.parent), "-q", "-p", "no:cacheprovider",
               f"--junitxml={report}", "-o", "junit_family=xunit1",
               "-o", f"timeout={TIMEOUT_SECONDS}"]
    if not properties:
        command += ["-m", "not properties"]
    if keyword:
        command += ["-k", keyword]
    return command


def _run_suite(factory: str, keyword: str, properties: bool,
               verbose: bool) -> Optional[dict[str, str]]:
    """One pytest run with *factory*'s executor as the only impl: {test: outcome}."""
    with tempfile.TemporaryDirectory() as scratch:
        report = pathlib.Path(scratch) / "report.xml"
        env = dict(os.environ, **{FACTORY_ENV_VAR: factory})
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH")]))
        run = subprocess.run(_pytest_command(report, keyword, properties), env=env, cwd=scratch,
                             text=True, stdout=None if verbose else subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        if not report.exists() or run.returncode not in (0, 1, 5):
            print(f"{factory}: pytest could not run the suite (exit {run.returncode})",
                  file=sys.stderr)
            if run.stdout:
                print(run.stdout[-4000:], file=sys.stderr)
            return None
        return _read_report(report)


def _read_report(report: pathlib.Path) -> dict[str, str]:
    """{test id without the "kit" parameter: pass | FAIL | n/a} from a JUnit XML report."""
    outcomes: dict[str, str] = {}
    for case in ET.parse(report).iter("testcase"):
        module = case.get("classname", "").rpartition(".")[2]
        test = f"{module}.py::{_without_kit(case.get('name', ''))}"
        if case.find("failure") is not None or case.find("error") is not None:
            outcomes[test] = FAIL  # a teardown error (a leak) comes after a pass: it wins
        elif (skipped := case.find("skipped")) is not None:
            reason = skipped.get("message", "")
            outcomes.setdefault(test, NOT_APPLICABLE if NOT_APPLICABLE_PREFIX in reason
                                else f"skipped: {reason}")
        else:
            outcomes.setdefault(test, PASS)
    return outcomes


def _without_kit(name: str) -> str:
    for old, new in (("[kit]", ""), ("[kit-", "["), ("-kit]", "]"), ("-kit-", "-")):
        name = name.replace(old, new)
    return name


def _print_table(columns: dict[str, dict[str, str]]) -> None:
    tests = sorted({test for outcomes in columns.values() for test in outcomes})
    print("| test | " + " | ".join(f"`{factory}`" for factory in columns) + " |")
    print("|---|" + "---|" * len(columns))
    for test in tests:
        cells = [outcomes.get(test, "") for outcomes in columns.values()]
        print(f"| {test} | " + " | ".join(cells) + " |")
    totals = []
    for outcomes in columns.values():
        counts = [sum(o == kind for o in outcomes.values()) for kind in (PASS, FAIL,
                                                                       NOT_APPLICABLE)]
        totals.append("{} pass, {} fail, {} n/a".format(*counts))
    print("| **total** | " + " | ".join(totals) + " |")
