"""The conformance kit (``python -m minipool conformance``) tells pass, fail and n/a apart."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

TESTS = pathlib.Path(__file__).resolve().parent
# Three tests the kit's executors can pass, and one no executor under test applies to.
FEW = ("map_stops_at_the_shortest or map_over_nothing or submit_passes_positional "
       "or thread_name_prefix")


def conformance(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "minipool", "conformance", *args],
                          cwd=TESTS, capture_output=True, text=True, timeout=100)


def row(output: str, test: str) -> list[str]:
    line = next(line for line in output.splitlines()
                if line.startswith(f"| {test} |") or f"::{test} |" in line)
    return [cell.strip() for cell in line.strip("|").split("|")][1:]


@pytest.mark.timeout(120)
def test_kit_passes_a_good_executor_and_fails_a_broken_one() -> None:
    run = conformance("minipool:MiniThreadPool", "kit_executors:broken_map", "-k", FEW)
    assert run.returncode == 1, run.stdout + run.stderr  # the broken one failed
    assert row(run.stdout, "test_map_stops_at_the_shortest_iterable") == ["pass", "FAIL"]
    assert row(run.stdout, "test_submit_passes_positional_and_keyword_arguments") == [
        "pass", "pass"]
    assert row(run.stdout, "test_thread_name_prefix_names_the_workers") == ["n/a", "n/a"]
    assert row(run.stdout, "**total**") == ["3 pass, 0 fail, 1 n/a", "2 pass, 1 fail, 1 n/a"]


@pytest.mark.timeout(120)
def test_kit_finds_no_failure_in_minipools_own_pools() -> None:
    # The whole kit: a test that does not apply to a pool (a process pool's
    # pickling, run against a thread pool) must say n/a, not FAIL.
    run = conformance("minipool:MiniThreadPool", "minipool:MiniProcessPool")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "FAIL" not in run.stdout and "| **total** |" in run.stdout


@pytest.mark.timeout(120)
def test_kit_finds_no_failure_in_the_stdlibs_pools() -> None:
    # concurrent.futures of this Python is what the kit holds executors to.
    run = conformance("concurrent.futures:ThreadPoolExecutor",
                      "concurrent.futures:ProcessPoolExecutor")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "FAIL" not in run.stdout and "| **total** |" in run.stdout


@pytest.mark.timeout(30)
def test_kit_without_the_tests_folder_says_what_it_needs(tmp_path: pathlib.Path) -> None:
    run = conformance("minipool:MiniThreadPool", "--tests", str(tmp_path))
    assert run.returncode == 2
    assert "not installed with minipool" in run.stderr and "--tests" in run.stderr
