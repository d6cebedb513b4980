"""Trace export: what a configured pool did, as Chrome/Perfetto trace-event JSON.

``write_trace(path, source)`` writes the JSON object format of the Trace
Event Format (``{"traceEvents": [...], "displayTimeUnit": "ms"}``), which
https://ui.perfetto.dev and chrome://tracing open. *source* is a pool
configured with ``timeline=True`` (its last ``KEPT_TIMELINES`` tasks) or
futures with timelines. ``_report.py`` draws the same ``_Recording`` as HTML.

No threads of its own: it runs in the caller's thread and reads timelines
(written by the pool's threads; see ``_timeline.py``) as snapshots, so a
trace of a running pool shows its running tasks up to now.

From the recording to the file::

    source (pool or futures)
      -> _recording(source): _Recording
           _Track  one per thread that ran something: a worker thread, a
                   worker process (its main thread), or a thread of this
                   process that ran callbacks or hooks (the process pool's
                   dispatcher, the watchdog, the main thread)
           _Slice  tasks (start -> finish, named by the call), callbacks and
                   hooks, each on the track of the thread that ran it
           _Wait   each task's time in the queue (queued -> started; after
                   a crash, from the crash to the next start)
           _Mark   an instant: crashed, timed out, retried, raised,
                   cancelled, pool broken, worker process exited
      -> _trace_document(recording): the trace events
           "M" metadata: process_name, thread_name, sort indexes
           "X" complete events: tasks, callbacks, hooks (ts, dur in µs)
           "b"/"e" async events: the queued waits (they overlap one another,
               which "X" events on one track may not)
           "i" instant events: the marks (scope "t": a track; "p": the pool)
      -> json.dump -> path

Track ids: a worker process's track is its pid, its tid the same pid (the
main thread's id, as on Linux). This process's threads get tids that no pid
in the trace uses, so that every (pid, tid) is one track in any viewer.
Times: ``time.monotonic()`` (one clock for every process of the machine;
see demo.py's Guarantees), written as microseconds since the first event.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import json
import os
import threading
import time
from typing import Any, Iterable, Optional, Union

from ._future import Future
from ._process_extras import _ProcessExtras
from ._stats import PoolStats
from ._thread_extras import _ThreadExtras
from ._timeline import Timeline, _Tracker, _WorkerEvent
from .process import MiniProcessPool
from .thread import MiniThreadPool

__all__ = ["write_trace"]

Source = Union[MiniThreadPool, MiniProcessPool, Iterable[Future[Any]]]

MAIN_THREAD = "MainThread"


# ------------------------------------------------------------- the recording
@dataclasses.dataclass(frozen=True)
class _Track:
    """One lane: a thread of a process. *thread* is "" for a worker process."""

    pid: int
    thread: str
    label: str  # how the lane is named: "MiniThreadPool-0_1", "worker process 4242"


@dataclasses.dataclass(frozen=True)
class _Slice:
    """Something that ran on a track: a task, a callback, a hook (or, in the demo, main)."""

    track: _Track
    kind: str  # "task", "callback", "hook"; the demo's: "handle", "main", "run"
    name: str
    start: float
    end: float
    waited: Optional[float] = None  # tasks: seconds in the queue before this start
    ending: str = ""  # tasks: "result", "raised", "timed out", "crashed", "broken", "retried"
    note: str = ""  # more, for tooltips: the error, the attempt


@dataclasses.dataclass(frozen=True)
class _Wait:
    """A task's time in the queue, before a start."""

    name: str
    start: float
    end: float


@dataclasses.dataclass(frozen=True)
class _Mark:
    """An instant worth seeing; on a track, or on the pool as a whole (track None)."""

    track: Optional[_Track]
    kind: str  # "crashed", "timed out", "retried", "raised", "cancelled", "broken", "exited"
    name: str
    at: float
    note: str = ""


@dataclasses.dataclass
class _Recording:
    """Everything a trace or a report draws, in one process's terms."""

    title: str
    pid: int  # the process that submitted the tasks
    tracks: list[_Track]  # in drawing order
    slices: list[_Slice]
    waits: list[_Wait] = dataclasses.field(default_factory=list)
    marks: list[_Mark] = dataclasses.field(default_factory=list)
    stats: Optional[PoolStats] = None
    dropped: int = 0  # timelines the pool no longer kept (KEPT_TIMELINES)
    notes: list[str] = dataclasses.field(default_factory=list)  # for the report's reader

    def times(self) -> list[float]:
        return ([t for s in self.slices for t in (s.start, s.end)]
                + [t for w in self.waits for t in (w.start, w.end)]
                + [m.at for m in self.marks])


def _tracker_of(pool: Union[MiniThreadPool, MiniProcessPool]) -> Optional[_Tracker]:
    extras = pool._extras
    if isinstance(extras, (_ThreadExtras, _ProcessExtras)):
        return extras.tracker
    return None  # not configured


def _not_recorded(what: str) -> ValueError:
    return ValueError(f"{what} has no timeline to draw: configure the pool with "
                      "pool.configure(timeline=True) before its first submit")


def _source_data(source: Source) -> tuple[list[Timeline], list[_WorkerEvent], int,
                                          Optional[PoolStats], str]:
    """(timelines, worker events, dropped, stats, title) of a pool or of futures."""
    if isinstance(source, (MiniThreadPool, MiniProcessPool)):
        tracker = _tracker_of(source)
        if tracker is None:
            raise _not_recorded(f"this {type(source).__name__}")
        timelines, events, dropped = tracker.recorded()
        return timelines, events, dropped, tracker.snapshot(), type(source).__name__
    if isinstance(source, (str, bytes)) or not isinstance(source, collections.abc.Iterable):
        raise TypeError("write_trace()/write_report() take a minipool pool configured with "
                        "timeline=True, or an iterable of its futures; got "
                        f"{type(source).__name__}")
    timelines = []
    for future in source:
        if not isinstance(future, Future):
            raise TypeError(f"expected minipool futures, got a {type(future).__name__}")
        timeline = getattr(future, "timeline", None)  # only a tracking pool's futures have one
        if timeline is None:
            raise _not_recorded(f"the future {future!r}")
        timelines.append(timeline)
    return timelines, [], 0, None, f"{len(timelines)} futures"


def _recording(source: Source, title: Optional[str] = None) -> _Recording:
    timelines, events, dropped, stats, default_title = _source_data(source)
    builder = _Builder(os.getpid())
    for timeline in sorted(timelines, key=lambda t: t.queued):
        builder.add_timeline(timeline)
    for event in events:
        builder.add_worker_event(event)
    return _Recording(title or default_title, builder.pid, builder.ordered_tracks(),
                      builder.slices, builder.waits, builder.marks, stats, dropped)


class _Builder:
    """Turns timelines (and worker events) into tracks, slices, waits and marks."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.tracks: dict[tuple[int, str], _Track] = {}
        self.first_use: dict[_Track, float] = {}
        self.slices: list[_Slice] = []
        self.waits: list[_Wait] = []
        self.marks: list[_Mark] = []

    def track(self, worker: Union[str, int], at: float) -> _Track:
        """A worker process's track (a pid), or a thread of this process (a name)."""
        if isinstance(worker, int):
            key, label = (worker, ""), f"worker process {worker}"
        else:
            key, label = (self.pid, worker), worker
        track = self.tracks.setdefault(key, _Track(key[0], key[1], label))
        self.first_use[track] = min(at, self.first_use.get(track, at))
        return track

    def add_timeline(self, timeline: Timeline) -> None:
        name = timeline.task or "(a task that never started)"
        waited_from = timeline.queued
        for number, earlier in enumerate(timeline._tries, 1):
            track = self.track(earlier.worker, earlier.started)
            self.waits.append(_Wait(name, waited_from, earlier.started))
            self.slices.append(_Slice(track, "task", name, earlier.started, earlier.ended,
                                      earlier.started - waited_from, "retried",
                                      f"start {number}: its worker died; it ran again"))
            self.marks.append(_Mark(track, "retried", f"worker died: {name} runs again",
                                    earlier.ended))
            waited_from = earlier.ended
        end = timeline.finished
        if timeline.started is None or timeline.worker is None:
            self._add_unstarted(timeline, name, waited_from)
            return
        self.waits.append(_Wait(name, waited_from, timeline.started))
        track = self.track(timeline.worker, timeline.started)
        ending = timeline._ending or ("running" if end is None else "result")
        if end is None:  # still running: drawn up to now
            end = max(timeline.started, time.monotonic())
        note = f"start {timeline.attempts}" if timeline.attempts > 1 else ""
        self.slices.append(_Slice(track, "task", name, timeline.started, end,
                                  timeline.started - waited_from, ending,
                                  "; ".join(filter(None, [timeline._error, note]))))
        if ending not in ("result", "running"):
            self.marks.append(_Mark(track, ending, f"{ending}: {name}", end, timeline._error))
        for ran in timeline._ran:
            self.slices.append(_Slice(self.track(ran.thread, ran.start), ran.kind,
                                      f"{ran.kind} {ran.name}", ran.start, ran.end,
                                      note=f"for {name}"))

    def _add_unstarted(self, timeline: Timeline, name: str, waited_from: float) -> None:
        """A task that never (re)started: cancelled, failed in the queue, or still queued."""
        if timeline.finished is None:
            self.waits.append(_Wait(name, waited_from, max(waited_from, time.monotonic())))
            return
        self.waits.append(_Wait(name, waited_from, timeline.finished))
        ending = timeline._ending or "cancelled"
        self.marks.append(_Mark(None, ending, f"{ending} before it started",
                                timeline.finished, timeline._error))
        for ran in timeline._ran:
            self.slices.append(_Slice(self.track(ran.thread, ran.start), ran.kind,
                                      f"{ran.kind} {ran.name}", ran.start, ran.end,
                                      note=f"for a task that {ending} before it started"))

    def add_worker_event(self, event: _WorkerEvent) -> None:
        if event.kind != "exited":
            return
        track = self.track(event.worker, event.at)
        code = event.exitcode
        how = "exit code unknown" if code is None else (
            f"killed by signal {-code}" if code < 0 else f"exit code {code}")
        self.marks.append(_Mark(track, "exited", f"worker process exited ({how})", event.at))
        if event.hook is not None:
            hook = event.hook
            self.slices.append(_Slice(self.track(hook.thread, hook.start), hook.kind,
                                      f"hook {hook.name}", hook.start, hook.end,
                                      note=f"for worker process {event.worker}"))

    def ordered_tracks(self) -> list[_Track]:
        """This process first (its main thread, then its threads), then worker processes."""
        def order(track: _Track) -> tuple[int, int, float, str]:
            return (track.pid != self.pid, track.thread != MAIN_THREAD,
                    self.first_use[track], track.label)

        return sorted(self.tracks.values(), key=order)


# ---------------------------------------------------------- the trace events
def _thread_ids(recording: _Recording) -> dict[_Track, int]:
    """tid of each track: a worker process's pid; unused numbers for this process's threads."""
    pids = {track.pid for track in recording.tracks} | {recording.pid}
    next_free = max(pids) + 1
    tids = {}
    for track in recording.tracks:
        if track.pid != recording.pid or track.thread == MAIN_THREAD:
            tids[track] = track.pid
        else:
            tids[track] = next_free
            next_free += 1
    return tids


def _metadata(recording: _Recording, tids: dict[_Track, int]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []

    def meta(name: str, pid: int, tid: int, args: dict[str, Any]) -> None:
        events.append({"name": name, "ph": "M", "ts": 0, "pid": pid, "tid": tid,
                       "args": args})

    meta("process_name", recording.pid, recording.pid,
         {"name": f"{recording.title} (pid {recording.pid}: submits, runs callbacks)"})
    meta("process_sort_index", recording.pid, recording.pid, {"sort_index": 0})
    worker_pids = [t.pid for t in recording.tracks if t.pid != recording.pid]
    for index, pid in enumerate(worker_pids, 1):
        meta("process_name", pid, pid, {"name": f"worker process {pid}"})
        meta("process_sort_index", pid, pid, {"sort_index": index})
    for index, track in enumerate(recording.tracks):
        meta("thread_name", track.pid, tids[track], {"name": track.thread or track.label})
        meta("thread_sort_index", track.pid, tids[track], {"sort_index": index})
    return events


def _trace_document(recording: _Recording) -> dict[str, Any]:
    """The trace-event JSON object for *recording* (see the module docstring)."""
    times = recording.times()
    t0 = min(times, default=0.0)

    def us(moment: float) -> float:
        return round((moment - t0) * 1e6, 3)

    tids = _thread_ids(recording)
    events: list[dict[str, Any]] = []
    for piece in recording.slices:
        args: dict[str, Any] = {}
        if piece.kind == "task":
            args = {"ending": piece.ending, "waited_ms": round(1000 * (piece.waited or 0), 3)}
        if piece.note:
            args["note"] = piece.note
        events.append({"name": piece.name, "cat": piece.kind, "ph": "X", "ts": us(piece.start),
                       "dur": round(max(0.0, piece.end - piece.start) * 1e6, 3),
                       "pid": piece.track.pid, "tid": tids[piece.track], "args": args})
    for number, wait in enumerate(recording.waits):
        common = {"name": "queued", "cat": "queue", "id": number, "pid": recording.pid,
                  "tid": recording.pid}
        events.append({**common, "ph": "b", "ts": us(wait.start), "args": {"task": wait.name}})
        events.append({**common, "ph": "e", "ts": us(max(wait.start, wait.end))})
    for mark in recording.marks:
        if mark.track is None:  # the pool as a whole: a process-scoped instant
            scope, pid, tid = "p", recording.pid, recording.pid
        else:
            scope, pid, tid = "t", mark.track.pid, tids[mark.track]
        events.append({"name": mark.name, "cat": "mark," + mark.kind.replace(" ", "_"),
                       "ph": "i", "s": scope, "ts": us(mark.at), "pid": pid, "tid": tid,
                       "args": {"note": mark.note} if mark.note else {}})
    events.sort(key=lambda e: e["ts"])
    other: dict[str, Any] = {
        "source": recording.title, "clock": "time.monotonic(), microseconds since the first"
        " event", "timelines_dropped": recording.dropped,
        "written_by": f"minipool write_trace (pid {os.getpid()}, thread"
                      f" {threading.current_thread().name})"}
    if recording.stats is not None:
        other["stats"] = {key: value for key, value in
                          dataclasses.asdict(recording.stats).items() if key != "workers"}
    return {"traceEvents": _metadata(recording, tids) + events, "displayTimeUnit": "ms",
            "otherData": other}


def write_trace(path: Union[str, os.PathLike[str]], source: Source) -> None:
    """Write what *source* did as Chrome/Perfetto trace-event JSON to *path*.

    *source*: a ``MiniThreadPool`` or ``MiniProcessPool`` configured with
    ``configure(timeline=True)`` (its last 10,000 tasks), or an iterable of
    futures from such pools. Open the file in https://ui.perfetto.dev (or
    chrome://tracing): one track per worker thread or process, a slice per
    task named by its call, its callbacks and hooks on the thread that ran
    them, the queued waits, and marks for crashes, timeouts and retries.
    Raises ``ValueError`` for a pool or future that kept no timeline and
    ``TypeError`` for anything else.
    """
    document = _trace_document(_recording(source))
    with open(path, "w", encoding="utf-8") as file:
        json.dump(document, file, indent=None, separators=(",", ":"))
        file.write("\n")
