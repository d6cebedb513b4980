"""minipool.write_trace: Chrome/Perfetto trace-event JSON from a configured pool.

Each test writes a trace, loads it back and checks its structure against the
Trace Event Format's rules (the JSON object format; "M" metadata naming
every process and thread; "X" complete events with ts and dur in
microseconds, which must not overlap on one track; "b"/"e" async pairs;
"i" instants with a scope) and against what the pool did.
"""

from __future__ import annotations

import json
import multiprocessing
import pathlib
import subprocess
import sys
import threading
from collections import defaultdict
from typing import Any

import extras_tasks
import pytest

import minipool
import minipool._timeline
from minipool.conformance import process_tasks

pytestmark = pytest.mark.minipool_only

Event = dict[str, Any]
METADATA_NAMES = {"process_name", "thread_name", "process_sort_index", "thread_sort_index"}


def _fork_pool(workers: int = 2) -> minipool.MiniProcessPool:
    return minipool.MiniProcessPool(workers, mp_context=multiprocessing.get_context("fork"))


def _written(tmp_path: pathlib.Path, source: Any) -> dict[str, Any]:
    path = tmp_path / "trace.json"
    minipool.write_trace(path, source)
    document: dict[str, Any] = json.loads(path.read_text())
    _check_trace_event_format(document)
    return document


def _check_trace_event_format(document: dict[str, Any]) -> None:
    """The rules of the Trace Event Format that a viewer relies on."""
    assert set(document) >= {"traceEvents", "displayTimeUnit"}
    assert document["displayTimeUnit"] in ("ms", "ns")
    named_threads, named_processes = set(), set()
    for event in document["traceEvents"]:
        assert {"ph", "name", "pid", "tid", "ts"} <= set(event), event
        assert isinstance(event["pid"], int) and isinstance(event["tid"], int), event
        assert isinstance(event["ts"], (int, float)) and event["ts"] >= 0, event
        if event["ph"] == "M":
            assert event["name"] in METADATA_NAMES and isinstance(event["args"], dict), event
            if event["name"] == "thread_name":
                named_threads.add((event["pid"], event["tid"]))
            if event["name"] == "process_name":
                named_processes.add(event["pid"])
        elif event["ph"] == "X":
            assert isinstance(event["dur"], (int, float)) and event["dur"] >= 0, event
        elif event["ph"] in "be":
            assert "cat" in event and "id" in event, event
        else:
            assert event["ph"] == "i" and event["s"] in ("t", "p", "g"), event
    on_tracks = [e for e in document["traceEvents"] if e["ph"] == "X"
                 or (e["ph"] == "i" and e["s"] == "t")]
    assert {(e["pid"], e["tid"]) for e in on_tracks} <= named_threads
    assert {e["pid"] for e in document["traceEvents"]} <= named_processes
    _check_async_pairs(document["traceEvents"])


def _check_async_pairs(events: list[Event]) -> None:
    begun: dict[tuple[str, int], float] = {}
    for event in sorted(events, key=lambda e: (e["ts"], e["ph"] != "b")):
        key = (event.get("cat", ""), event.get("id", -1))
        if event["ph"] == "b":
            assert key not in begun, event
            begun[key] = event["ts"]
        elif event["ph"] == "e":
            assert begun.pop(key) <= event["ts"], event
    assert begun == {}, f"async slices never ended: {begun}"


def _of(document: dict[str, Any], ph: str, cat: str = "") -> list[Event]:
    return [e for e in document["traceEvents"]
            if e["ph"] == ph and (not cat or cat in e.get("cat", "").split(","))]


def _thread_names(document: dict[str, Any]) -> dict[tuple[int, int], str]:
    return {(e["pid"], e["tid"]): e["args"]["name"] for e in _of(document, "M")
            if e["name"] == "thread_name"}


def _tasks(document: dict[str, Any]) -> list[Event]:
    return _of(document, "X", "task")


def _marks(document: dict[str, Any], kind: str) -> list[Event]:
    return [e for e in _of(document, "i") if kind.replace(" ", "_") in e["cat"].split(",")]


def _check_no_overlap_per_track(document: dict[str, Any]) -> None:
    by_track: dict[tuple[int, int], list[Event]] = defaultdict(list)
    for event in _of(document, "X"):
        by_track[(event["pid"], event["tid"])].append(event)
    for track, events in by_track.items():
        events.sort(key=lambda e: e["ts"])
        for earlier, later in zip(events, events[1:]):
            assert earlier["ts"] + earlier["dur"] <= later["ts"] + 0.001, (track, earlier, later)


def _a_callback(future: minipool.Future[Any]) -> None:
    pass


# --------------------------------------------------------------- structure
@pytest.mark.timeout(60)
def test_thread_pool_trace_has_a_track_per_worker_and_a_slice_per_task_named_by_its_call(
        tmp_path: pathlib.Path) -> None:
    both_busy = threading.Barrier(2, timeout=30)  # so that each worker runs a task
    with minipool.MiniThreadPool(2).configure(timeline=True) as pool:
        barrier_tasks = [pool.submit(both_busy.wait) for _ in range(2)]
        powers = [pool.submit(pow, 2, n) for n in range(6)]
        minipool.wait(barrier_tasks + powers)
    document = _written(tmp_path, pool)
    names = sorted(e["name"] for e in _tasks(document))
    barrier_name = "threading.Barrier.wait()"
    assert names == sorted([barrier_name] * 2 + [f"pow(2, {n})" for n in range(6)])
    assert names.count(barrier_name) == 2
    threads = _thread_names(document)
    workers = {e["tid"] for e in _tasks(document)}
    assert len(workers) == 2
    assert sorted(threads[(e["pid"], e["tid"])] for e in _tasks(document)
                  if e["name"] == barrier_name) == sorted(f.timeline.worker  # type: ignore
                                                          for f in barrier_tasks)


@pytest.mark.timeout(60)
def test_slices_on_one_track_never_overlap(tmp_path: pathlib.Path) -> None:
    seen: list[int] = []
    with minipool.MiniThreadPool(3).configure(timeline=True, on_task_done=seen.append) as pool:
        for n in range(40):
            pool.submit(pow, 3, n).add_done_callback(lambda f: seen.append(1))
    document = _written(tmp_path, pool)
    assert len(_tasks(document)) == 40
    _check_no_overlap_per_track(document)


@pytest.mark.timeout(150)
def test_the_demos_trace_follows_the_format_with_a_slice_per_span_and_a_lane_of_runs(
        tmp_path: pathlib.Path) -> None:
    path = tmp_path / "demo.json"
    run = subprocess.run([sys.executable, "-m", "minipool", "demo", "--quick", "--json",
                          "--trace", str(path)], capture_output=True, text=True, timeout=140)
    assert run.returncode == 0, run.stderr
    experiments = json.loads(run.stdout)["experiments"]
    document = json.loads(path.read_text())
    _check_trace_event_format(document)
    _check_no_overlap_per_track(document)
    runs = [r for e in experiments for r in e["runs"]]
    spans = [s for r in runs for s in r["spans"]]
    assert len(_of(document, "X", "run")) == len(runs)
    assert len(_of(document, "X")) == len(spans) + len(runs)
    tasks = _of(document, "X", "task")
    assert sorted((e["pid"], e["name"]) for e in tasks) == sorted(
        (s["pid"], f"task {s['label']}") for s in spans if s["kind"] == "task")


@pytest.mark.timeout(60)
def test_each_task_slice_matches_its_timeline_and_follows_its_queued_wait(
        tmp_path: pathlib.Path) -> None:
    with minipool.MiniThreadPool(1).configure(timeline=True) as pool:
        futures = [pool.submit(pow, 5, n) for n in range(5)]
    document = _written(tmp_path, pool)
    slices = {e["name"]: e for e in _tasks(document)}
    begins = {e["args"]["task"]: e for e in _of(document, "b", "queue")}
    ends = {(e["cat"], e["id"]): e for e in _of(document, "e", "queue")}
    first_queued = min(f.timeline.queued for f in futures)  # type: ignore[union-attr]
    for future in futures:
        timeline = future.timeline
        assert timeline is not None and timeline.task is not None
        task = slices[timeline.task]
        assert task["ts"] == pytest.approx((timeline.started - first_queued) * 1e6, abs=0.01)
        assert task["dur"] == pytest.approx(timeline.ran * 1e6, abs=0.01)  # type: ignore
        begin = begins[timeline.task]
        end = ends[(begin["cat"], begin["id"])]
        assert begin["ts"] == pytest.approx((timeline.queued - first_queued) * 1e6, abs=0.01)
        assert end["ts"] == task["ts"]  # the wait ends as the task starts
    ordered = sorted(_tasks(document), key=lambda e: e["ts"])
    assert [e["name"] for e in ordered] == [f"pow(5, {n})" for n in range(5)]  # one worker


@pytest.mark.timeout(60)
def test_process_pool_trace_puts_each_task_on_its_worker_process_track(
        tmp_path: pathlib.Path) -> None:
    with _fork_pool(2).configure(timeline=True) as pool:
        futures = [pool.submit(process_tasks.pid, n) for n in range(8)]
        pids = [f.result(timeout=50) for f in futures]
    document = _written(tmp_path, pool)
    slices = {e["name"]: e for e in _tasks(document)}
    processes = {e["pid"]: e["args"]["name"] for e in _of(document, "M")
                 if e["name"] == "process_name"}
    for n, pid in enumerate(pids):
        task = slices[f"{process_tasks.__name__}.pid({n})"]
        assert (task["pid"], task["tid"]) == (pid, pid)
        assert processes[pid] == f"worker process {pid}"


@pytest.mark.timeout(60)
def test_process_pool_callbacks_and_hooks_are_on_the_dispatcher_thread_track(
        tmp_path: pathlib.Path) -> None:
    gates = process_tasks.Gates(multiprocessing.get_context("fork"))
    pool = minipool.MiniProcessPool(1, mp_context=multiprocessing.get_context("fork"),
                                    **gates.pool_arguments())
    try:
        pool.configure(on_task_done=lambda f: None)
        for n in range(3):  # each callback is added before the gate lets its task end
            pool.submit(process_tasks.block_then_square, n).add_done_callback(_a_callback)
        gates.release()
        pool.shutdown(wait=True)
    finally:
        gates.close()
        pool.shutdown()
    document = _written(tmp_path, pool)
    threads = _thread_names(document)
    callbacks, hooks = _of(document, "X", "callback"), _of(document, "X", "hook")
    assert len(callbacks) == 3 and len(hooks) == 3
    [parent] = {e["pid"] for e in callbacks + hooks}
    assert parent not in {e["pid"] for e in _tasks(document)}
    assert {threads[(e["pid"], e["tid"])] for e in callbacks + hooks} == {
        f"{pool._dispatcher_thread.name}"}  # type: ignore[union-attr]
    assert all(e["name"] == "hook on_task_done" for e in hooks)


@pytest.mark.timeout(60)
def test_thread_pool_callbacks_run_on_the_worker_track_after_their_task(
        tmp_path: pathlib.Path) -> None:
    release = threading.Event()
    with minipool.MiniThreadPool(1).configure(timeline=True) as pool:
        future = pool.submit(extras_tasks.wait_for, release)
        future.add_done_callback(_a_callback)  # before the task can end
        release.set()
    document = _written(tmp_path, pool)
    [task] = _tasks(document)
    [callback] = _of(document, "X", "callback")
    assert callback["name"] == "callback test_trace._a_callback"
    assert (callback["pid"], callback["tid"]) == (task["pid"], task["tid"])
    assert callback["ts"] >= task["ts"] + task["dur"]


# -------------------------------------------------------------------- marks
@pytest.mark.timeout(60)
def test_a_crash_its_retry_and_the_worker_exits_are_marked(tmp_path: pathlib.Path) -> None:
    with _fork_pool(1).configure(survive_crashes=True, crash_retries=1,
                                 timeline=True) as pool:
        doomed = pool.submit(extras_tasks.always_crash)
        assert isinstance(doomed.exception(timeout=50), minipool.WorkerCrashed)
    document = _written(tmp_path, pool)
    first, second = sorted(_tasks(document), key=lambda e: e["ts"])
    assert first["name"] == second["name"] == "extras_tasks.always_crash()"
    assert (first["args"]["ending"], second["args"]["ending"]) == ("retried", "crashed")
    assert first["pid"] != second["pid"]  # the retry ran in the replacement worker
    [retried] = _marks(document, "retried")
    [crashed] = _marks(document, "crashed")
    assert (retried["pid"], crashed["pid"]) == (first["pid"], second["pid"])
    assert "WorkerCrashed" in crashed["args"]["note"]
    exits = {e["pid"]: e["name"] for e in _marks(document, "exited")}
    assert exits[first["pid"]] == exits[second["pid"]] == "worker process exited (exit code 5)"


@pytest.mark.timeout(60)
def test_a_timeout_is_marked_on_the_worker_that_ran_the_task(tmp_path: pathlib.Path) -> None:
    release = threading.Event()
    with minipool.MiniThreadPool(1).configure(task_timeout=0.05, timeline=True) as pool:
        stuck = pool.submit(extras_tasks.wait_for, release)
        assert isinstance(stuck.exception(timeout=50), minipool.TaskTimeout)
        release.set()  # the thread cannot be stopped: let the call return
    document = _written(tmp_path, pool)
    [task] = _tasks(document)
    [timed_out] = _marks(document, "timed out")
    assert task["args"]["ending"] == "timed out"
    assert (timed_out["pid"], timed_out["tid"]) == (task["pid"], task["tid"])
    assert timed_out["ts"] == pytest.approx(task["ts"] + task["dur"], abs=0.01)
    assert timed_out["s"] == "t" and "TaskTimeout" in timed_out["args"]["note"]


@pytest.mark.timeout(60)
def test_a_failure_is_marked_and_a_cancelled_task_is_marked_on_the_pool_without_a_slice(
        tmp_path: pathlib.Path) -> None:
    release = threading.Event()
    with minipool.MiniThreadPool(1).configure(timeline=True) as pool:
        blocker = pool.submit(extras_tasks.wait_for, release)
        failing = pool.submit(divmod, 1, 0)
        cancelled = pool.submit(pow, 2, 2)
        assert cancelled.cancel()
        release.set()
        minipool.wait([blocker, failing])
    document = _written(tmp_path, pool)
    names = [e["name"] for e in _tasks(document)]
    assert len(names) == 2 and "divmod(1, 0)" in names  # the cancelled one never ran
    [raised] = _marks(document, "raised")
    assert raised["name"] == "raised: divmod(1, 0)" and "ZeroDivisionError" in raised[
        "args"]["note"]
    [was_cancelled] = _marks(document, "cancelled")
    assert was_cancelled["s"] == "p"
    assert len(_of(document, "b", "queue")) == 3  # its wait is drawn, up to the cancel


@pytest.mark.timeout(60)
def test_a_running_pool_is_drawn_up_to_now(tmp_path: pathlib.Path) -> None:
    release = threading.Event()
    with minipool.MiniThreadPool(1).configure(timeline=True) as pool:
        running = pool.submit(extras_tasks.wait_for, release)
        pool.submit(pow, 2, 3)  # queued behind it
        while not running.running():
            threading.Event().wait(0.01)  # polling a state, not guessing a duration
        try:
            document = _written(tmp_path, pool)
        finally:
            release.set()
    [task] = _tasks(document)
    assert task["args"]["ending"] == "running"
    assert len(_of(document, "b", "queue")) == 2 == len(_of(document, "e", "queue"))


# ------------------------------------------------------------ the sources
@pytest.mark.timeout(60)
def test_a_trace_can_be_written_from_futures_of_several_pools(tmp_path: pathlib.Path) -> None:
    with minipool.MiniThreadPool(1).configure(timeline=True) as threads, \
            _fork_pool(1).configure(timeline=True) as processes:
        futures = [threads.submit(pow, 2, 1), processes.submit(process_tasks.square, 3)]
        minipool.wait(futures)
    document = _written(tmp_path, futures)
    assert sorted(e["name"] for e in _tasks(document)) == [
        f"{process_tasks.__name__}.square(3)", "pow(2, 1)"]
    assert document["otherData"]["source"] == "2 futures"


@pytest.mark.timeout(60)
def test_a_pool_keeps_only_its_last_timelines_and_the_trace_says_how_many_it_dropped(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(minipool._timeline, "KEPT_TIMELINES", 5)
    with minipool.MiniThreadPool(1).configure(timeline=True) as pool:
        for n in range(8):
            pool.submit(pow, 2, n)
    document = _written(tmp_path, pool)
    assert sorted(e["name"] for e in _tasks(document)) == [f"pow(2, {n})" for n in range(3, 8)]
    assert document["otherData"]["timelines_dropped"] == 3
    assert document["otherData"]["stats"]["done"] == 8


def test_an_unconfigured_pool_is_refused_with_a_clear_error(tmp_path: pathlib.Path) -> None:
    with minipool.MiniThreadPool(1) as pool:
        future = pool.submit(pow, 2, 2)
        with pytest.raises(ValueError, match=r"configure\(timeline=True\)"):
            minipool.write_trace(tmp_path / "t.json", pool)
        with pytest.raises(ValueError, match=r"configure\(timeline=True\)"):
            minipool.write_trace(tmp_path / "t.json", [future])
    assert not (tmp_path / "t.json").exists()


def test_something_else_is_refused_with_a_type_error(tmp_path: pathlib.Path) -> None:
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        with pytest.raises(TypeError, match="minipool"):
            minipool.write_trace(tmp_path / "t.json", pool)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="minipool futures"):
            minipool.write_trace(tmp_path / "t.json", [pool.submit(int)])  # type: ignore
