"""minipool.write_report and ``demo --html``: one self-contained HTML page.

The page's structure is checked from its text everywhere; what a browser
draws is checked where headless Chromium is installed (Debian's
``chromium`` package; ``.ci/run`` installs it when it can): the test adds a
small script to a copy of the page that measures every lane, box, label and
mark after layout and writes the numbers into the DOM, which
``chromium --headless --dump-dom`` prints. Then: the lanes and boxes are the
pool's, and nothing is cut off -- every box and mark lies inside the
drawing, every label inside its box.
"""

from __future__ import annotations

import html
import json
import multiprocessing
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from typing import Any

import extras_tasks
import pytest

import minipool
from minipool import _report
from minipool.conformance import process_tasks

pytestmark = pytest.mark.minipool_only

CHROMIUM = next((path for path in map(shutil.which, ("chromium", "chromium-browser",
                                                      "google-chrome")) if path), None)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (Debian: apt-get install "
    "chromium); what the report draws is checked only where it is")

MEASURE = """<script>
(function () {
  function box(el) {
    const r = el.getBoundingClientRect();
    return {x: r.left, y: r.top, right: r.right, bottom: r.bottom};
  }
  const drawings = [];
  for (const svg of document.querySelectorAll("svg.timeline")) {
    drawings.push({
      svg: box(svg),
      plotLeft: svg.getBoundingClientRect().left
                + svg.getBoundingClientRect().width * PLOT_LEFT / WIDTH,
      lanes: [...svg.querySelectorAll("g.lane")].map(g => ({
        label: g.dataset.label, band: box(g.querySelector("rect")),
        text: box(g.querySelector("text"))})),
      boxes: [...svg.querySelectorAll("rect.box")].map(r => ({
        kind: r.dataset.kind, name: r.dataset.name, lane: r.dataset.lane, box: box(r)})),
      labels: [...svg.querySelectorAll("text.label")].map(t => ({
        text: t.textContent, box: box(t), rect: box(t.previousElementSibling)})),
      marks: [...svg.querySelectorAll("path.mark")].map(p => ({
        kind: p.dataset.kind, box: box(p)})),
    });
  }
  const pre = document.createElement("pre");
  pre.id = "measured";
  pre.textContent = JSON.stringify(drawings);
  document.body.appendChild(pre);
})();
</script>""".replace("PLOT_LEFT", str(_report.PLOT_LEFT)).replace("WIDTH", str(_report.WIDTH))


def _fork_pool(workers: int) -> minipool.MiniProcessPool:
    return minipool.MiniProcessPool(workers, mp_context=multiprocessing.get_context("fork"))


def _pool_with_everything() -> minipool.MiniProcessPool:
    """A process pool that ran tasks, a failure, a crash with a retry, callbacks and hooks.

    Its two workers are held by gated tasks until every callback is added, so
    that each callback runs in the dispatcher thread, never in this one.
    """
    gates = process_tasks.Gates(multiprocessing.get_context("fork"))
    pool = minipool.MiniProcessPool(2, mp_context=multiprocessing.get_context("fork"),
                                    **gates.pool_arguments())
    try:
        pool.configure(survive_crashes=True, crash_retries=1, on_task_done=lambda f: None)
        futures = [pool.submit(process_tasks.block_then_square, n) for n in range(2)]
        futures += [pool.submit(process_tasks.square, n) for n in range(2, 12)]
        futures.append(pool.submit(process_tasks.raise_value_error, "boom"))
        futures.append(pool.submit(extras_tasks.always_crash))
        for future in futures:
            future.add_done_callback(_a_callback)
        gates.release()
        pool.shutdown(wait=True)
    finally:
        gates.close()
        pool.shutdown()
    return pool


def _a_callback(future: minipool.Future[Any]) -> None:
    pass


def _rendered(page: pathlib.Path) -> list[dict[str, Any]]:
    """What headless Chromium drew: the MEASURE script's numbers, per timeline."""
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory() as profile:
        measured = pathlib.Path(profile) / "measured.html"
        measured.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
        run = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}/chromium", "--window-size=1400,1000",
             "--dump-dom", measured.as_uri()],
            capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="measured">(.*?)</pre>', run.stdout, re.S)
    assert found, f"Chromium drew nothing we could measure:\n{run.stderr[-2000:]}"
    drawings: list[dict[str, Any]] = json.loads(html.unescape(found.group(1)))
    return drawings


def _inside(inner: dict[str, float], outer: dict[str, float], slack: float = 0.5) -> bool:
    return (inner["x"] >= outer["x"] - slack and inner["right"] <= outer["right"] + slack
            and inner["y"] >= outer["y"] - slack and inner["bottom"] <= outer["bottom"] + slack)


def _check_nothing_is_cut_off(drawing: dict[str, Any]) -> None:
    svg = drawing["svg"]
    bands = {lane["label"]: lane["band"] for lane in drawing["lanes"]}
    for lane in drawing["lanes"]:
        assert _inside(lane["text"], svg), lane
        assert lane["text"]["right"] <= drawing["plotLeft"], lane  # its name ends before the plot
    for piece in drawing["boxes"]:
        assert _inside(piece["box"], svg), piece
        middle = (piece["box"]["y"] + piece["box"]["bottom"]) / 2
        band = bands[piece["lane"]]
        assert band["y"] <= middle <= band["bottom"], piece  # drawn in its own lane
    for label in drawing["labels"]:
        assert _inside(label["box"], label["rect"], slack=1.0), label  # the text fits its box
    for mark in drawing["marks"]:
        assert _inside(mark["box"], svg), mark


# -------------------------------------------------------------- the page's text
@pytest.mark.timeout(60)
def test_report_is_one_file_that_needs_no_script_and_no_network(
        tmp_path: pathlib.Path) -> None:
    pool = _pool_with_everything()
    minipool.write_report(tmp_path / "report.html", pool)
    page = (tmp_path / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 1
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert re.findall(r"(?:src|href)=\"(?!#)", page) == []  # no file or URL is fetched
    assert set(re.findall(r"https?://[^\"' ]+", page)) <= {"http://www.w3.org/2000/svg"}


@pytest.mark.timeout(60)
def test_report_shows_the_pools_stats_and_its_slowest_tasks(tmp_path: pathlib.Path) -> None:
    release = threading.Event()
    with minipool.MiniThreadPool(2).configure(timeline=True) as pool:
        slow = pool.submit(extras_tasks.wait_for, release)
        quick = [pool.submit(pow, 2, n) for n in range(20)]
        minipool.wait(quick)  # all ran on the other worker while the slow one waits
        release.set()
    minipool.write_report(tmp_path / "report.html", pool, title="two workers")
    page = (tmp_path / "report.html").read_text()
    assert "<title>two workers</title>" in page
    stats = re.search(r'<table class="stats">(.*?)</table>', page, re.S)
    assert stats and "<td>submitted</td><td class=\"n\">21</td>" in stats.group(1)
    slowest = re.search(r'<table class="slowest">(.*?)</table>', page, re.S)
    assert slowest is not None
    first_row = re.findall(r'<td class="call">(.*?)</td>', slowest.group(1))[0]
    assert first_row == html.escape(slow.timeline.task)  # type: ignore[union-attr,arg-type]


@pytest.mark.timeout(60)
def test_report_escapes_what_the_program_named(tmp_path: pathlib.Path) -> None:
    with minipool.MiniThreadPool(1).configure(timeline=True) as pool:
        pool.submit(str, "<script>alert(1)</script>")
    minipool.write_report(tmp_path / "report.html", pool, title="<b>mine</b>")
    page = (tmp_path / "report.html").read_text()
    assert "<script>" not in page and "<b>mine</b>" not in page
    assert "&lt;script&gt;" in page and "&lt;b&gt;mine&lt;/b&gt;" in page


def test_report_of_an_unconfigured_pool_is_refused(tmp_path: pathlib.Path) -> None:
    with minipool.MiniThreadPool(1) as pool:
        with pytest.raises(ValueError, match=r"configure\(timeline=True\)"):
            minipool.write_report(tmp_path / "report.html", pool)
    assert not (tmp_path / "report.html").exists()


@pytest.fixture(scope="module")
def demo_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, list[Any]]:
    """``demo --quick --json --html``, run once: the page, and the experiments' recordings."""
    page_path = tmp_path_factory.mktemp("demo") / "demo.html"
    run = subprocess.run([sys.executable, "-m", "minipool", "demo", "--quick", "--json",
                          "--html", str(page_path)],
                         capture_output=True, text=True, timeout=140)
    assert run.returncode == 0, run.stderr
    experiments: list[Any] = json.loads(run.stdout)["experiments"]
    return page_path, experiments


@pytest.mark.timeout(150)
def test_demo_html_writes_one_section_per_experiment_and_a_timeline_per_run(
        demo_page: tuple[pathlib.Path, list[Any]]) -> None:
    page_path, experiments = demo_page
    page = page_path.read_text()
    headings = re.findall(r"<h2>(.*?)</h2>", page)
    assert [h.split(":")[0] for h in headings] == [
        f"{n}. {e['name']}" for n, e in enumerate(experiments, 1)]
    assert page.count('<svg class="timeline"') == sum(len(e["runs"]) for e in experiments)
    assert "<script" not in page


# ------------------------------------------------------------ what was drawn
@needs_chromium
@pytest.mark.timeout(180)
def test_chromium_draws_a_lane_per_worker_and_a_box_per_task_and_cuts_nothing_off(
        tmp_path: pathlib.Path) -> None:
    pool = _pool_with_everything()
    minipool.write_report(tmp_path / "report.html", pool)
    [drawing] = _rendered(tmp_path / "report.html")
    _check_nothing_is_cut_off(drawing)
    timelines, _events, _dropped = pool._extras.tracker.recorded()  # type: ignore
    worker_pids = {t.worker for t in timelines} | {
        tried.worker for t in timelines for tried in t._tries}
    lanes = [lane["label"] for lane in drawing["lanes"]]
    assert lanes[0] == f"{pool._dispatcher_thread.name}"  # type: ignore[union-attr]
    assert sorted(lanes[1:]) == sorted(f"worker process {pid}" for pid in worker_pids)
    tasks = [b for b in drawing["boxes"] if b["kind"] == "task"]
    names = sorted(b["name"] for b in tasks)
    module = process_tasks.__name__
    assert names == sorted([f"{module}.block_then_square({n})" for n in range(2)]
                           + [f"{module}.square({n})" for n in range(2, 12)]
                           + [f"{module}.raise_value_error('boom')"]
                           + ["extras_tasks.always_crash()"] * 2)  # crashed once, retried
    assert len([b for b in drawing["boxes"] if b["kind"] == "callback"]) == 14
    assert len([b for b in drawing["boxes"] if b["kind"] == "hook"]) >= 14
    assert {m["kind"] for m in drawing["marks"]} >= {"raised", "retried", "crashed", "exited"}
    assert len(drawing["labels"]) > 0  # some names were wide enough to be written in


@needs_chromium
@pytest.mark.timeout(240)
def test_chromium_draws_every_experiment_of_the_demo_with_nothing_cut_off(
        demo_page: tuple[pathlib.Path, list[Any]]) -> None:
    page_path, experiments = demo_page
    runs = [r for e in experiments for r in e["runs"]]
    drawings = _rendered(page_path)
    assert len(drawings) == len(runs)
    for drawing, recorded in zip(drawings, runs):
        _check_nothing_is_cut_off(drawing)
        lanes = {(s["pid"], s["thread"]) for s in recorded["spans"]}
        assert len(drawing["lanes"]) == len(lanes)
        assert len(drawing["boxes"]) == len(recorded["spans"])
