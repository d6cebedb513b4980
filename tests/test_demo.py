"""`python -m minipool` (README's example) and `python -m minipool demo`.

The demo runs here in its quick mode (``--quick --json``), on minipool's pools
and on the stdlib's, and each test checks one conclusion of the tutorial from
the recorded spans -- where (pid, thread) and in which order things ran --
never from how long they took: timings are for people to watch, not for CI
to assert.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Callable

import pytest

from minipool import __main__, demo


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "minipool", *args], capture_output=True,
                          text=True, timeout=150)


def _tasks(run: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in run["spans"] if s["kind"] == "task"]


def _handled(run: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in run["spans"] if s["kind"] == "handle"]


@pytest.fixture(scope="module", params=["minipool", "stdlib"])
def quick_demo(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The whole demo, quick, as JSON: {"experiments": [...], "returncode": n}."""
    run = _run("demo", "--quick", "--json", "--impl", request.param)
    assert run.returncode in (0, 1), run.stderr
    data: dict[str, Any] = json.loads(run.stdout)
    data["returncode"] = run.returncode
    return data


def _experiment(data: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [e for e in data["experiments"] if e["name"] == name]
    return found


# ------------------------------------------------------------ README's example
@pytest.mark.timeout(120)
def test_example_prints_results_in_finishing_order_then_map_in_input_order() -> None:
    run = _run()
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert sorted(int(n) for n in lines[:10]) == [n * n for n in range(10)]
    assert lines[10] == str([n * n for n in range(10)])


@pytest.mark.timeout(30)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_lists_each_command_on_one_line_and_exits_0(flag: str) -> None:
    run = _run(flag)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("usage: python -m minipool")
    lines = run.stdout.splitlines()
    for name in __main__.COMMANDS:
        [line] = [line for line in lines if line.split()[:1] == [name]]
        assert __main__.SUMMARIES[name] in line
    assert "python -m minipool COMMAND --help" in run.stdout
    assert "``" not in run.stdout  # argparse-style text, not the module's docstring


@pytest.mark.timeout(30)
def test_unknown_command_prints_the_help_and_an_error_and_exits_2() -> None:
    run = _run("bogus")
    assert run.returncode == 2
    assert run.stdout == ""
    assert "usage: python -m minipool" in run.stderr and "demo" in run.stderr
    assert "unknown command 'bogus'" in run.stderr


@pytest.mark.timeout(60)
@pytest.mark.parametrize("command", list(__main__.COMMANDS))
def test_each_command_prints_its_own_help_and_exits_0(command: str) -> None:
    run = _run(command, "--help")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"usage: python -m minipool {command}")


# ------------------------------------------------- the demo's conclusions
@pytest.mark.timeout(200)
def test_quick_demo_runs_every_experiment_and_every_conclusion_holds(
        quick_demo: dict[str, Any]) -> None:
    assert [e["name"] for e in quick_demo["experiments"]] == list(demo.EXPERIMENTS)
    failed = [(e["name"], claim) for e in quick_demo["experiments"]
              for claim, holds in e["checks"].items() if not holds]
    assert failed == []
    assert quick_demo["returncode"] == 0  # --quick: timings are shown, not judged


@pytest.mark.timeout(200)
def test_ten_tasks_ran_in_at_most_four_worker_processes(quick_demo: dict[str, Any]) -> None:
    experiment = _experiment(quick_demo, "submit")
    tasks = _tasks(experiment["runs"][0])
    assert sorted(int(t["label"]) for t in tasks) == list(range(1, 11))
    pids = {t["pid"] for t in tasks}
    assert experiment["main_pid"] not in pids and len(pids) <= demo.POOL_SIZE


@pytest.mark.timeout(200)
def test_result_inside_the_submit_loop_makes_the_tasks_serial(
        quick_demo: dict[str, Any]) -> None:
    tasks = sorted(_tasks(_experiment(quick_demo, "result-in-loop")["runs"][0]),
                   key=lambda s: s["start"])
    assert [t["label"] for t in tasks] == [str(n) for n in range(1, 11)]
    for earlier, later in zip(tasks, tasks[1:]):
        assert earlier["end"] <= later["start"], (earlier, later)


@pytest.mark.timeout(200)
def test_results_handled_after_shutdown_come_after_every_task(
        quick_demo: dict[str, Any]) -> None:
    run = _experiment(quick_demo, "shutdown")["runs"][0]
    last_task_end = max(t["end"] for t in _tasks(run))
    parses = [s for s in run["spans"] if s["kind"] == "main" and s["label"].startswith("p")]
    assert len(parses) == 10
    assert all(p["start"] >= last_task_end for p in parses)


@pytest.mark.timeout(200)
def test_coupled_handling_runs_in_the_worker_that_ran_the_task(
        quick_demo: dict[str, Any]) -> None:
    experiment = _experiment(quick_demo, "coupled")
    run = experiment["runs"][0]
    pid_of_task = {t["label"]: t["pid"] for t in _tasks(run)}
    handled = _handled(run)
    assert len(handled) == 10
    for h in handled:
        assert h["pid"] == pid_of_task[h["label"][1:]] != experiment["main_pid"]


@pytest.mark.timeout(200)
def test_process_pool_callbacks_run_in_the_parent_process(quick_demo: dict[str, Any]) -> None:
    for name, run_index, count in (("callbacks", 0, 10), ("io-bound", 0, 4)):
        experiment = _experiment(quick_demo, name)
        run = experiment["runs"][run_index]
        callbacks = _handled(run)
        assert len(callbacks) == count
        assert {c["pid"] for c in callbacks} == {experiment["main_pid"]}
        assert experiment["main_pid"] not in {t["pid"] for t in _tasks(run)}


@pytest.mark.timeout(200)
def test_thread_pool_callbacks_run_in_the_worker_threads(quick_demo: dict[str, Any]) -> None:
    run = _experiment(quick_demo, "io-bound")["runs"][1]
    worker_threads = {t["thread"] for t in _tasks(run)}
    callbacks = _handled(run)
    assert len(callbacks) == 4
    for callback in callbacks:
        assert callback["thread"] in worker_threads
        assert callback["thread"] != "MainThread"


@pytest.mark.timeout(200)
def test_thread_pool_tasks_share_one_process_and_process_pool_tasks_do_not(
        quick_demo: dict[str, Any]) -> None:
    experiment = _experiment(quick_demo, "cpu-bound")
    threads, processes = experiment["runs"]
    assert {t["pid"] for t in _tasks(threads)} == {experiment["main_pid"]}
    assert experiment["main_pid"] not in {t["pid"] for t in _tasks(processes)}


@pytest.mark.timeout(200)
def test_echo_server_pool_bounds_its_threads_and_thread_per_connection_does_not(
        quick_demo: dict[str, Any]) -> None:
    experiment = _experiment(quick_demo, "echo-server")
    per_connection, pooled = experiment["runs"]
    clients = experiment["facts"]["clients"]
    assert sorted(int(t["label"]) for t in _tasks(pooled)) == list(range(clients))
    assert len({t["thread"] for t in _tasks(per_connection)}) == clients
    assert len({t["thread"] for t in _tasks(pooled)}) <= demo.POOL_SIZE
    assert experiment["facts"]["pooled_peak_threads"] <= demo.POOL_SIZE


# ------------------------------------------------------ the command line
@pytest.mark.timeout(120)
def test_only_runs_the_named_experiment() -> None:
    run = _run("demo", "--quick", "--json", "--only", "io-bound")
    assert run.returncode == 0, run.stderr
    assert [e["name"] for e in json.loads(run.stdout)["experiments"]] == ["io-bound"]


@pytest.mark.timeout(120)
def test_text_output_draws_lanes_without_colour_when_not_a_tty() -> None:
    run = _run("demo", "--quick", "--only", "callbacks")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "\033[" not in run.stdout
    lanes = [line for line in run.stdout.splitlines() if line.rstrip().endswith("|")]
    assert "main thread" in lanes[0]
    assert sum("worker process" in lane for lane in lanes) <= demo.POOL_SIZE
    assert "2 of 2 conclusions held" in run.stdout


@pytest.mark.timeout(30)
def test_unknown_experiment_is_refused_with_the_list_of_names() -> None:
    run = _run("demo", "--only", "nope")
    assert run.returncode == 2
    assert "echo-server" in run.stderr


# ------------------------------------- the exit status: lessons, not timings
def _one_drifted_run(lesson_holds: bool) -> Callable[[demo.Setup], demo.Outcome]:
    """An experiment whose total (3 s) missed its prediction (1 +/- 0.25 s): a busy machine."""

    def experiment(setup: demo.Setup) -> demo.Outcome:
        spans = [demo.Span("task", "1", os.getpid() + 1, "MainThread", 0.0, 3.0)]
        run = demo.Run("one task that took three times its prediction", spans, t0=0.0,
                       measured=3.0, predicted=1.0, tolerance=0.25, theory="1 unit",
                       tutorial="1 s")
        return demo.Outcome("drift", "a total that drifted", "the lesson", os.getpid(),
                            [run], checks={"the lesson held": lesson_holds})

    return experiment


def _run_drifted(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                 lesson_holds: bool, loads: list[Any]) -> tuple[int, str]:
    """``demo.main`` (timings judged) on the drifted experiment, with these load averages."""
    monkeypatch.setattr(demo, "EXPERIMENTS", {"drift": _one_drifted_run(lesson_holds)})
    monkeypatch.setattr(demo, "_load_average", iter(loads).__next__)  # before, after
    monkeypatch.setattr(demo, "usable_cpu_count", lambda: 2)
    status = demo.main(["--only", "drift", "--no-color"])
    return status, " ".join(capsys.readouterr().out.split())  # the note is wrapped


@pytest.mark.timeout(30)
def test_a_total_that_drifted_on_a_busy_machine_is_a_note_and_exits_0(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    status, out = _run_drifted(monkeypatch, capsys, True, [(3.9, 2.0, 1.0), (5.2, 2.5, 1.1)])
    assert status == 0, out
    assert "OUT OF TOLERANCE" in out and "1 of 1 conclusions held" in out
    assert "note: 1 of 1 measured totals drifted outside their tolerance" in out
    assert "drift: one task that took three times its prediction" in out
    assert "3.9, 2.0, 1.0 before the tour, 5.2, 2.5, 1.1 after; 2 usable cores" in out
    assert "Other programs were sharing the CPUs" in out


@pytest.mark.timeout(30)
def test_a_drift_the_load_does_not_explain_is_still_a_note_and_exits_0(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    status, out = _run_drifted(monkeypatch, capsys, True, [(0.1, 0.1, 0.1), None])
    assert status == 0, out
    assert "0.1, 0.1, 0.1 before the tour, unknown after" in out
    assert "does not show other programs using every core" in out
    assert "sharing the CPUs" not in out


@pytest.mark.timeout(30)
def test_a_lesson_that_did_not_hold_exits_1(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    status, out = _run_drifted(monkeypatch, capsys, False, [(0.1, 0.1, 0.1)] * 2)
    assert status == 1
    assert "[NO!] the lesson held" in out and "A lesson did not hold" in out


# ------------------------------------------------------------- the drawing
@pytest.mark.timeout(10)
def test_timeline_puts_the_main_thread_first_and_each_span_at_its_time() -> None:
    spans = [
        demo.Span("task", "1", 200, "MainThread", 0.0, 5.0),
        demo.Span("handle", "c1", 100, "pool-dispatcher", 5.0, 6.0),
        demo.Span("main", "wait", 100, "MainThread", 0.0, 10.0),
        demo.Span("task", "2", 300, "MainThread", 5.0, 10.0),
    ]
    run = demo.Run("t", spans, t0=0.0, measured=10.0, predicted=10.0, tolerance=1.0,
                   theory="", tutorial="")
    lanes = demo.draw_timeline(run, main_pid=100)[:4]
    assert ["main thread" in lanes[0], "pool-dispatcher" in lanes[1],
            "pid 200" in lanes[2], "pid 300" in lanes[3]] == [True] * 4
    drawn = [lane[lane.index("|") + 1:lane.rindex("|")] for lane in lanes]
    half = demo.WIDTH // 2
    assert drawn[0].startswith("wait....")
    assert drawn[1][half:].startswith("c1~")
    assert drawn[2].startswith("1===") and drawn[2][half:].strip() == ""
    assert drawn[3][:half].strip() == "" and drawn[3][half:].startswith("2===")


@pytest.mark.timeout(10)
def test_list_schedule_gives_the_tutorials_figures() -> None:
    assert demo._list_schedule([n for n in range(1, 11)], 4) == 18
    assert demo._list_schedule([5] * 10, 4) == 15
    assert demo._list_schedule([6] * 10, 4) == 18


@pytest.mark.timeout(10)
def test_timeline_is_coloured_only_when_asked() -> None:
    spans = [demo.Span("task", "1", 200, "MainThread", 0.0, 1.0),
             demo.Span("handle", "c1", 100, "MainThread", 1.0, 2.0)]
    run = demo.Run("t", spans, t0=0.0, measured=2.0, predicted=2.0, tolerance=1.0,
                   theory="", tutorial="")
    plain = "\n".join(demo.draw_timeline(run, main_pid=100))
    coloured = "\n".join(demo.draw_timeline(run, main_pid=100, colour=True))
    assert "\033[" not in plain
    assert "\033[32m1" in coloured and "\033[33mc1" in coloured
    assert coloured.replace("\033[32m", "").replace("\033[33m", "").replace(
        "\033[0m", "") == plain


@pytest.mark.timeout(10)
def test_timeline_orders_the_threads_of_a_process_by_their_numbers() -> None:
    spans = [demo.Span("task", str(n), 100, f"echo-conn-{n}", 0.0, 1.0) for n in (10, 2, 1)]
    run = demo.Run("t", spans, t0=0.0, measured=1.0, predicted=1.0, tolerance=1.0,
                   theory="", tutorial="")
    lanes = demo.draw_timeline(run, main_pid=100)[:3]
    assert [lane.split()[0] for lane in lanes] == ["echo-conn-1", "echo-conn-2", "echo-conn-10"]
