"""`python -m minipool bench` runs and reports every workload and every column.

Speed is never asserted here (a loaded CI machine would make that flaky);
this only checks that the benchmark works: every workload runs on minipool,
the stdlib and each reference, and gets a figure and a ratio; the floor runs
on the goal rows; a peer shows as a column when it is installed and is named
with the way to install it when it is not. --smoke uses tiny sizes and one
round. The tests that run in this process replace the peers by fakes, so
they take a second or two whether loky, pebble and mpire are installed or not.
"""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import sys
from typing import Any

import pytest

from minipool import _bench


@pytest.mark.timeout(180)
def test_bench_smoke_reports_every_workload_for_every_implementation() -> None:
    run = subprocess.run([sys.executable, "-m", "minipool", "bench", "--smoke", "--json"],
                         capture_output=True, text=True, timeout=170)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    rows = {row["key"]: row for row in report["workloads"]}
    assert sorted(rows) == sorted(w.key for w in _bench.WORKLOADS)
    for row in rows.values():
        assert row["median"][_bench.MINIPOOL] > 0, row
        assert row["median"][_bench.STDLIB] > 0, row
        for impl in row["figures"]:
            if impl != _bench.STDLIB:
                assert row["ratio"][impl] is not None, (impl, row)
    workloads = {w.key: w for w in _bench.WORKLOADS}
    for key, row in rows.items():
        # The same environment as the subprocess: the same peers are installed.
        expected = [_bench.MINIPOOL, _bench.STDLIB] + [
            r.name for r in _bench.REFERENCES if r.available() and r.runs(workloads[key])]
        assert list(row["figures"]) == expected, row


class FakePeer(_bench.Peer, _bench.Executors):
    """A peer that is 'installed': the stdlib's process pool under another name."""

    kinds = (_bench.PROCESS,)

    def __init__(self, name: str) -> None:
        _bench.Peer.__init__(self, name, "")
        self.package = concurrent.futures

    def module(self) -> Any:
        return concurrent.futures

    def version(self) -> str:
        return "9.9"


class MissingPeer(_bench.Peer):
    """A peer whose module cannot be imported."""

    def module(self) -> Any:
        raise ImportError(f"No module named {self.name!r}")


def run_bench(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert _bench.main(["--smoke", *args]) == 0
    return capsys.readouterr().out


def table_header(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("workload (* = goal row)"))


@pytest.mark.timeout(60)
def test_bench_table_has_a_floor_column_filled_on_the_goal_rows(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(_bench, "REFERENCES", [_bench.Floor()])
    out = run_bench(capsys, "--only", "process-ping-pong", "--only", "process-big-results")
    assert table_header(out).split()[-1] == _bench.FLOOR
    goal_row = next(line for line in out.splitlines() if line.startswith("* process: ping-pong"))
    other_row = next(line for line in out.splitlines() if line.startswith("  process: 4 tasks"))
    assert float(goal_row.split()[-1]) > 0
    assert other_row.split()[-1] == "-"


@pytest.mark.timeout(60)
def test_bench_goals_runs_exactly_the_three_goal_rows_with_the_floor(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(_bench, "REFERENCES", [_bench.Floor()])
    report = json.loads(run_bench(capsys, "--goals", "--json"))
    rows = report["workloads"]
    assert [row["key"] for row in rows] == [
        "process-submit-wait", "process-map-chunked", "process-ping-pong"]
    for row in rows:
        assert row["goal"] and row["median"][_bench.FLOOR] > 0, row


@pytest.mark.timeout(60)
def test_bench_names_missing_peers_and_how_to_install_them(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(_bench, "REFERENCES", [MissingPeer("nosuchpeer", "nosuchpeer")])
    out = run_bench(capsys, "--only", "process-submit-wait")
    assert "not installed: nosuchpeer" in out
    assert "pip install 'minipool[bench]'" in out
    assert "nosuchpeer" not in table_header(out)


@pytest.mark.timeout(60)
def test_bench_shows_an_installed_peer_as_a_column_with_its_ratio(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(_bench, "REFERENCES", [FakePeer("fakepeer")])
    out = run_bench(capsys, "--only", "process-submit-wait")
    assert "peers: fakepeer 9.9" in out
    assert "not installed" not in out
    assert table_header(out).split()[-1] == "fakepeer"
    row = next(line for line in out.splitlines() if line.startswith("* process: submit"))
    assert float(row.split()[-1]) > 0


@pytest.mark.timeout(60)
def test_bench_leaves_a_peer_out_of_workloads_it_has_no_equivalent_for(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(_bench, "REFERENCES", [FakePeer("fakepeer")])  # processes only
    report = json.loads(run_bench(capsys, "--only", "thread-ping-pong", "--json"))
    assert sorted(report["workloads"][0]["figures"]) == [_bench.MINIPOOL, _bench.STDLIB]


@pytest.mark.timeout(60)
def test_bench_skip_leaves_out_the_named_column(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(_bench, "REFERENCES", [FakePeer("fakepeer"), _bench.Floor()])
    report = json.loads(run_bench(capsys, "--only", "process-ping-pong", "--skip", "fakepeer",
                                  "--json"))
    assert sorted(report["workloads"][0]["figures"]) == [
        _bench.FLOOR, _bench.MINIPOOL, _bench.STDLIB]
    assert report["peers"] == {"installed": {}, "missing": [],
                               "install": _bench.INSTALL_PEERS}


@pytest.mark.timeout(60)
def test_bench_skip_of_an_unknown_column_fails_and_lists_the_columns(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert _bench.main(["--smoke", "--skip", "no-such"]) == 2
    assert "floor" in capsys.readouterr().err


@pytest.mark.timeout(60)
def test_bench_with_an_unknown_workload_fails_and_lists_the_keys() -> None:
    run = subprocess.run([sys.executable, "-m", "minipool", "bench", "--only", "no-such"],
                         capture_output=True, text=True, timeout=50)
    assert run.returncode == 2
    assert "thread-submit-wait" in run.stderr
