"""`python -m minipool` (README's example) and `python -m minipool demo` run.

Only the lessons whose claims are not about speed are run here (3: shutdown
is close + join, 4: who runs callbacks, 6: a pool bounds its workers): the
timing lessons are for people to watch, not for CI to assert.
"""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "minipool", *args], capture_output=True,
                          text=True, timeout=100)


@pytest.mark.timeout(120)
def test_example_prints_results_in_finishing_order_then_map_in_input_order() -> None:
    run = _run()
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert sorted(int(n) for n in lines[:10]) == [n * n for n in range(10)]
    assert lines[10] == str([n * n for n in range(10)])


@pytest.mark.timeout(120)
def test_demo_lessons_without_timing_claims_hold() -> None:
    run = _run("demo", "3", "4", "6")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 of 3 lessons held." in run.stdout
    assert "NO!" not in run.stdout


@pytest.mark.timeout(30)
def test_unknown_command_prints_usage_and_fails() -> None:
    run = _run("bogus")
    assert run.returncode == 2
    assert "demo" in run.stdout
