"""CPython's own concurrent.futures test suite, run against minipool (scripts/cpython_suite.py).

The runner fetches the suite of the running Python (or skips, saying why),
points its imports at minipool and runs each test in a process of its own. A
test that fails here and is neither not applicable (it reads private
attributes) nor a known difference (docs/differences.md) is a regression
against CPython's own tests. docs/conformance.md has the tables and the cost.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
RUNNER = REPO / "scripts" / "cpython_suite.py"
SUITE_MISSING = 3  # the runner's exit status when this Python has no suite to run


def cpython_suite(*args: str, timeout: float,
                  pythonpath: str = "") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=pythonpath) if pythonpath else None
    proc = subprocess.run([sys.executable, str(RUNNER), "--python", sys.executable, *args],
                          capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode == SUITE_MISSING:
        pytest.skip(proc.stdout.strip())
    return proc


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("implementation", ["minipool", "stdlib"])
def test_cpythons_own_suite_passes(implementation: str) -> None:
    # Against the stdlib it proves the runner's rewrites of the suite sound.
    run = cpython_suite("--impl", implementation, timeout=1750)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "| passed | 0 |" not in run.stdout


@pytest.mark.timeout(120)
def test_the_runner_fails_an_implementation_whose_map_loses_a_result() -> None:
    broken = cpython_suite("--impl", "cpython_suite_mutant", "-k",
                           "*ThreadPoolExecutorTest.test_map", pythonpath=str(REPO / "tests"),
                           timeout=100)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "FAILED ThreadPoolExecutorTest.test_map " in broken.stdout
    good = cpython_suite("--impl", "minipool", "-k", "*ThreadPoolExecutorTest.test_map",
                         timeout=100)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "| passed | 1 |" in good.stdout


@pytest.mark.timeout(120)
def test_a_test_that_outlives_its_timeout_fails_alone() -> None:
    # test_map_timeout waits 5 s for a 6 s call: longer than the 2 s allowed here.
    run = cpython_suite("--impl", "stdlib", "--timeout", "2", "-k",
                        "*ThreadPoolExecutorTest.test_map_*", timeout=100)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "FAILED ThreadPoolExecutorTest.test_map_timeout " in run.stdout
    assert "hung: killed after 2 s" in run.stdout
    assert "| passed | 2 |" in run.stdout  # test_map_exception, test_map_submits_without_iteration
