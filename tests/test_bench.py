"""`python -m minipool bench --smoke` runs and reports every workload.

Speed is never asserted here (a loaded CI machine would make that flaky);
this only checks that the benchmark works: every workload runs on minipool
and the stdlib and gets a positive figure and a ratio. --smoke uses tiny
sizes and one round, so this takes a few seconds on each CI Python.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from minipool import _bench


@pytest.mark.timeout(120)
def test_bench_smoke_reports_every_workload_for_both_implementations() -> None:
    run = subprocess.run([sys.executable, "-m", "minipool", "bench", "--smoke", "--json"],
                         capture_output=True, text=True, timeout=110)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    rows = {row["key"]: row for row in report["workloads"]}
    assert sorted(rows) == sorted(w.key for w in _bench.WORKLOADS)
    for row in rows.values():
        assert row["median"][_bench.MINIPOOL] > 0, row
        assert row["median"][_bench.STDLIB] > 0, row
        assert row["ratio"][_bench.MINIPOOL] is not None, row


@pytest.mark.timeout(60)
def test_bench_with_an_unknown_workload_fails_and_lists_the_keys() -> None:
    run = subprocess.run([sys.executable, "-m", "minipool", "bench", "--only", "no-such"],
                         capture_output=True, text=True, timeout=50)
    assert run.returncode == 2
    assert "thread-submit-wait" in run.stderr
