"""The HTML report: what a configured pool did, as one self-contained page.

``write_report(path, source)`` draws the ``_Recording`` that ``_trace.py``
builds (from a pool configured with ``timeline=True``, or futures with
timelines) as one HTML file: inline CSS and inline SVG, no script, nothing
fetched, so it opens in any browser, offline, and can be mailed. ``python
-m minipool demo --html FILE`` draws every experiment of the demo the same
way (``demo._html_sections``), one section each.

What a section shows::

    _Recording --_timeline_svg()--> the timeline: time left to right,
                   a lane per thread or worker process (this process's
                   threads first), a box per task, callback and hook
                   (hover: a <title> tooltip), a triangle per mark, and on
                   top the queue: how many tasks waited, over time
               --_summary_tables()--> the pool's PoolStats (pools only),
                   the times (waited, ran) and each lane's busy share
               --_slowest_table()--> the slowest tasks

No threads: it runs in the caller's thread. Every piece of text that came
from the program (task names, thread names) goes through ``html.escape``.
"""

from __future__ import annotations

import dataclasses
import datetime
import html
import math
import os
import platform
from typing import Optional, Sequence, Union

from ._timeline import KEPT_TIMELINES
from ._trace import Source, _Recording, _recording, _Slice, _Track

__all__ = ["write_report"]

# The drawing's geometry (SVG user units; the SVG scales to the page's width).
WIDTH = 1200
LABEL_WIDTH = 250  # the lanes' names, left of the plot
PLOT_LEFT = LABEL_WIDTH + 10
PLOT_RIGHT = WIDTH - 20
AXIS_HEIGHT = 34
QUEUE_HEIGHT = 44
LANE_HEIGHT = 26
BOX_HEIGHT = 18
CHAR_WIDTH = 6.7  # of the 11px monospace labels and lane names (0.6 em, and a margin)
LABEL_CHARS = int((LABEL_WIDTH - 12) / CHAR_WIDTH)  # a lane's name is cut to this (tooltip: all)
SLOWEST = 10  # rows of the slowest-tasks table

COLOURS = {  # by what a box is: a task by how it ended, else its kind
    "result": "#43a047", "running": "#81c784", "raised": "#e57373", "timed out": "#fb8c00",
    "crashed": "#b71c1c", "broken": "#b71c1c", "retried": "#9e9e9e",
    "callback": "#fdd835", "handle": "#fff176", "hook": "#ab47bc", "main": "#4dd0e1",
}
MARK_COLOURS = {"retried": "#616161", "raised": "#c62828", "timed out": "#ef6c00",
                "crashed": "#b71c1c", "broken": "#b71c1c", "cancelled": "#757575",
                "exited": "#37474f"}

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #212121;
       margin: 0 auto; padding: 16px 24px 48px; max-width: 1240px; background: #fafafa; }
h1 { font-size: 22px; margin: 8px 0 4px; }
h2 { font-size: 18px; margin: 32px 0 6px; border-top: 1px solid #ddd; padding-top: 16px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
p.meta, p.note { color: #555; margin: 4px 0; }
ul.checks { margin: 4px 0; padding-left: 22px; }
li.no { color: #b71c1c; font-weight: 600; }
nav a { margin-right: 12px; }
svg.timeline { width: 100%; height: auto; background: #fff; border: 1px solid #ddd;
               display: block; }
svg text { font: 11px system-ui, sans-serif; fill: #333; }
svg text.label { font: 11px ui-monospace, "DejaVu Sans Mono", monospace; fill: #111;
                 pointer-events: none; }
svg text.lane { font: 11px ui-monospace, "DejaVu Sans Mono", monospace; }
svg .grid { stroke: #eee; }
svg .lane-band { fill: #f5f5f5; }
svg .queue { fill: #90caf9; stroke: #1e88e5; stroke-width: 1; }
svg rect.box { stroke: rgba(0, 0, 0, 0.35); stroke-width: 0.5; }
svg rect.box:hover { stroke: #000; stroke-width: 1.5; }
.legend span { display: inline-block; margin-right: 14px; font-size: 12px; }
.legend i { display: inline-block; width: 12px; height: 12px; margin-right: 4px;
            vertical-align: -1px; border: 1px solid rgba(0, 0, 0, 0.3); }
.tables { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; margin-top: 12px; }
table { border-collapse: collapse; font-size: 13px; background: #fff; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
td.call { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px;
          max-width: 560px; overflow-wrap: anywhere; }
"""


@dataclasses.dataclass
class _Section:
    """A part of the page: a heading, lines of text, and the recordings to draw."""

    title: str
    notes: list[str]
    recordings: list[_Recording]
    checks: dict[str, bool] = dataclasses.field(default_factory=dict)  # the demo's


# ----------------------------------------------------------------- the time axis
@dataclasses.dataclass(frozen=True)
class _Scale:
    t0: float
    span: float  # seconds from the left edge of the plot to the right

    def x(self, moment: float) -> float:
        return PLOT_LEFT + (moment - self.t0) / self.span * (PLOT_RIGHT - PLOT_LEFT)


def _scale(recording: _Recording) -> _Scale:
    times = recording.times()
    if not times:
        return _Scale(0.0, 1.0)
    t0 = min(times)
    return _Scale(t0, max(max(times) - t0, 1e-6))


def _tick_step(span: float) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving at most 8 ticks."""
    raw = span / 8
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= raw)


def _duration(seconds: float) -> str:
    if seconds <= 0:
        return "-"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 0.001:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def _axis(scale: _Scale, height: float) -> list[str]:
    step = _tick_step(scale.span)
    in_ms = scale.span < 1
    parts = []
    tick = 0.0
    while tick <= scale.span * 1.0001:
        x = scale.x(scale.t0 + tick)
        text = f"{tick * 1000:g} ms" if in_ms else f"{tick:g} s"
        parts.append(f'<line class="grid" x1="{x:.1f}" y1="{AXIS_HEIGHT - 6}" x2="{x:.1f}"'
                     f' y2="{height}"/>')
        anchor = "end" if x > PLOT_RIGHT - 30 else "middle" if tick else "start"
        parts.append(f'<text class="tick" x="{x:.1f}" y="{AXIS_HEIGHT - 12}"'
                     f' text-anchor="{anchor}">{html.escape(text)}</text>')
        tick = round(tick + step, 12)
    return parts


# ------------------------------------------------------------------ the drawing
def _box(piece: _Slice, scale: _Scale, lane_top: float) -> str:
    """A slice as a rect with a tooltip, and its name inside when it fits."""
    x1 = min(scale.x(piece.start), PLOT_RIGHT - 1)
    width = max(1.0, min(scale.x(piece.end), PLOT_RIGHT) - x1)
    y = lane_top + (LANE_HEIGHT - BOX_HEIGHT) / 2
    colour = COLOURS.get(piece.ending if piece.kind == "task" else piece.kind, "#90a4ae")
    tooltip = [piece.name, f"on {piece.track.label}",
               f"ran {_duration(piece.end - piece.start)}"]
    if piece.waited is not None:
        tooltip.append(f"waited {_duration(piece.waited)} in the queue")
    if piece.ending:
        tooltip.append(f"ended: {piece.ending}")
    if piece.note:
        tooltip.append(piece.note)
    title = html.escape("\n".join(tooltip))
    parts = [f'<rect class="box" data-kind="{piece.kind}" data-name="{html.escape(piece.name)}"'
             f' data-lane="{html.escape(piece.track.label)}" x="{x1:.2f}" y="{y:.1f}"'
             f' width="{width:.2f}" height="{BOX_HEIGHT}" rx="2" fill="{colour}">'
             f"<title>{title}</title></rect>"]
    fits = int((width - 6) / CHAR_WIDTH)
    if fits >= 3:
        label = _short_name(piece.name)
        label = label if len(label) <= fits else label[:fits - 1] + "…"
        parts.append(f'<text class="label" x="{x1 + 3:.2f}" y="{y + 13:.1f}">'
                     f'{html.escape(label)}</text>')
    return "".join(parts)


def _short_name(name: str) -> str:
    """A box's label: the call without its module ("slow(5)" for "__main__.slow(5)")."""
    head, paren, rest = name.partition("(")
    words = head.split(" ")
    words[-1] = words[-1].rsplit(".", 1)[-1]
    return " ".join(words) + paren + rest


def _mark(kind: str, name: str, note: str, x: float, y: float) -> str:
    colour = MARK_COLOURS.get(kind, "#000")
    tooltip = html.escape("\n".join(filter(None, [name, note])))
    x = min(max(x, PLOT_LEFT + 5), PLOT_RIGHT - 5)
    return (f'<path class="mark" data-kind="{html.escape(kind)}" d="M{x - 5:.1f},{y:.1f}'
            f' L{x + 5:.1f},{y:.1f} L{x:.1f},{y + 8:.1f} Z" fill="{colour}">'
            f'<title>{tooltip}</title></path>')


def _queue(recording: _Recording, scale: _Scale, top: float) -> list[str]:
    """How many tasks waited in the queue, over time: a step chart."""
    changes = sorted([(w.start, 1) for w in recording.waits]
                     + [(max(w.start, w.end), -1) for w in recording.waits])
    depth, most, points = 0, 0, [(scale.x(scale.t0), 0)]
    for moment, change in changes:
        points.append((scale.x(moment), depth))
        depth += change
        most = max(most, depth)
        points.append((scale.x(moment), depth))
    points.append((scale.x(scale.t0 + scale.span), 0))
    bottom, room = top + QUEUE_HEIGHT - 4, QUEUE_HEIGHT - 10
    path = " ".join(f"{x:.2f},{bottom - room * d / max(most, 1):.2f}" for x, d in points)
    waits = [w.end - w.start for w in recording.waits]
    title = (f"queued tasks over time: at most {most} waiting at once;"
             f" {len(waits)} waits, mean {_duration(sum(waits) / max(len(waits), 1))},"
             f" longest {_duration(max(waits, default=0.0))}")
    parts = [f'<text class="lane" x="8" y="{top + QUEUE_HEIGHT / 2 + 4:.1f}">'
             f'queued (at most {most})<title>{html.escape(title)}</title></text>',
             f'<polygon class="queue" points="{PLOT_LEFT},{bottom} {path} {PLOT_RIGHT},'
             f'{bottom}"><title>{html.escape(title)}</title></polygon>']
    for mark in recording.marks:
        if mark.track is None:  # the pool's own: cancelled, failed before it started
            parts.append(_mark(mark.kind, mark.name, mark.note, scale.x(mark.at), top + 2))
    return parts


def _lane_name(track: _Track) -> str:
    name = track.label
    return name if len(name) <= LABEL_CHARS else name[:LABEL_CHARS - 1] + "…"


def _timeline_svg(recording: _Recording) -> str:
    scale = _scale(recording)
    has_queue = bool(recording.waits) or any(m.track is None for m in recording.marks)
    lanes_top = AXIS_HEIGHT + (QUEUE_HEIGHT if has_queue else 0)
    height = lanes_top + LANE_HEIGHT * len(recording.tracks) + 8
    parts = [f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg"'
             f' viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}"'
             f' role="img" aria-label="{html.escape(recording.title)}">']
    parts += _axis(scale, height)
    if has_queue:
        parts += _queue(recording, scale, AXIS_HEIGHT)
    top_of = {}
    for index, track in enumerate(recording.tracks):
        top = lanes_top + index * LANE_HEIGHT
        top_of[track] = top
        band = ' class="lane-band"' if index % 2 == 0 else ' fill="none"'
        parts.append(f'<g class="lane" data-label="{html.escape(track.label)}">'
                     f'<rect{band} x="0" y="{top}" width="{WIDTH}" height="{LANE_HEIGHT}"/>'
                     f'<text class="lane" x="8" y="{top + LANE_HEIGHT / 2 + 4:.1f}">'
                     f'{html.escape(_lane_name(track))}'
                     f'<title>{html.escape(_track_title(track, recording.pid))}</title>'
                     f'</text></g>')
    for piece in sorted(recording.slices, key=lambda s: s.start):
        parts.append(_box(piece, scale, top_of[piece.track]))
    for mark in recording.marks:
        if mark.track is not None:
            parts.append(_mark(mark.kind, mark.name, mark.note, scale.x(mark.at),
                               top_of[mark.track]))
    parts.append("</svg>")
    return "\n".join(parts)


def _track_title(track: _Track, pid: int) -> str:
    if track.pid != pid:
        return f"{track.label} (a process of its own)"
    return f"thread {track.thread} of process {pid}" if track.thread else track.label


def _legend(recording: _Recording) -> str:
    present = {s.ending if s.kind == "task" else s.kind for s in recording.slices}
    names = {"result": "task (returned)", "running": "task (still running)",
             "raised": "task (raised)", "timed out": "task (timed out)",
             "crashed": "task (its worker crashed)", "broken": "task (pool broken)",
             "retried": "task (worker died; ran again)", "callback": "done callback",
             "handle": "result handled in the task", "hook": "hook (on_task_done...)",
             "main": "the main thread waiting or working"}
    items = [f'<span><i style="background:{COLOURS[key]}"></i>{html.escape(names[key])}</span>'
             for key in names if key in present]
    if recording.waits:
        items.append('<span><i style="background:#90caf9"></i>tasks waiting in the queue</span>')
    if recording.marks:
        items.append("<span>▼ a mark (crash, timeout, retry, exit…): hover for details</span>")
    return f'<p class="legend">{"".join(items)}</p>'


# ------------------------------------------------------------------- the tables
def _rows(rows: Sequence[Sequence[str]], header: Sequence[str], css: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f'<table class="{css}"><tr>{head}</tr>{body}</table>'


def _cell(text: str, css: str = "") -> str:
    return f'<td class="{css}">{html.escape(text)}</td>' if css else f"<td>{html.escape(text)}</td>"


def _summary_tables(recording: _Recording) -> str:
    tasks = [s for s in recording.slices if s.kind == "task"]
    times = recording.times()
    wall = max(times) - min(times) if times else 0.0
    ran = [s.end - s.start for s in tasks]
    waited = [w.end - w.start for w in recording.waits]
    summary = [("tasks drawn", str(len(tasks))), ("from first to last event", _duration(wall))]
    if ran:
        summary += [("ran: mean / longest", f"{_duration(sum(ran) / len(ran))} /"
                                            f" {_duration(max(ran))}")]
    if waited:
        summary += [("waited: mean / longest", f"{_duration(sum(waited) / len(waited))} /"
                                               f" {_duration(max(waited))}")]
    stats = recording.stats
    if stats is not None:
        summary += [("submitted", str(stats.submitted)), ("queued now", str(stats.queued)),
                    ("running now", str(stats.running)), ("done", str(stats.done)),
                    ("succeeded", str(stats.succeeded)), ("failed", str(stats.failed)),
                    ("cancelled", str(stats.cancelled))]
    if recording.dropped:
        summary.append((f"not drawn (the pool keeps the last {KEPT_TIMELINES:,})",
                        str(recording.dropped)))
    first = _rows([[_cell(k), _cell(v, "n")] for k, v in summary],
                  ["pool" if stats is not None else "run", ""], "stats")
    lanes = []
    for track in recording.tracks:
        mine = [s for s in recording.slices if s.track == track]
        busy = sum(s.end - s.start for s in mine if s.kind == "task")
        other = sum(s.end - s.start for s in mine if s.kind != "task")
        count = sum(1 for s in mine if s.kind == "task")
        lanes.append([_cell(track.label), _cell(str(count), "n"), _cell(_duration(busy), "n"),
                      _cell(f"{100 * busy / wall:.0f} %" if wall else "-", "n"),
                      _cell(_duration(other), "n")])
    second = _rows(lanes, ["lane", "tasks", "time in tasks", "busy", "time in other work"],
                   "workers")
    return f'<div class="tables">{first}{second}</div>'


def _slowest_table(recording: _Recording) -> str:
    tasks = sorted((s for s in recording.slices if s.kind == "task"),
                   key=lambda s: s.end - s.start, reverse=True)[:SLOWEST]
    if not tasks:
        return ""
    rows = [[_cell(s.name, "call"), _cell(s.track.label), _cell(_duration(s.end - s.start), "n"),
             _cell("-" if s.waited is None else _duration(s.waited), "n"),
             _cell(s.ending or "-")] for s in tasks]
    return (f"<h3>The slowest {len(tasks)} tasks</h3>"
            + _rows(rows, ["task", "ran on", "ran", "waited", "ended"], "slowest"))


# -------------------------------------------------------------------- the page
def _section_html(number: int, section: _Section, alone: bool) -> str:
    """One section; *alone*: the page's only one (its title is the page's)."""
    parts = [f'<section id="section-{number}">']
    if not alone:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
    parts += [f'<p class="note">{html.escape(line)}</p>' for line in section.notes]
    if section.checks:
        parts.append('<ul class="checks">' + "".join(
            f'<li class="{"yes" if holds else "no"}">{"✔" if holds else "✘ did not hold:"}'
            f" {html.escape(claim)}</li>" for claim, holds in section.checks.items()) + "</ul>")
    for recording in section.recordings:
        if len(section.recordings) > 1:
            parts.append(f"<h3>{html.escape(recording.title)}</h3>")
        parts += [f'<p class="note">{html.escape(line)}</p>' for line in recording.notes]
        parts += [_legend(recording), _timeline_svg(recording), _summary_tables(recording),
                  _slowest_table(recording)]
    parts.append("</section>")
    return "\n".join(parts)


def _page(title: str, sections: Sequence[_Section]) -> str:
    written = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    meta = (f"written {written} by minipool on Python {platform.python_version()}"
            f" ({platform.system()}), pid {os.getpid()}; times are time.monotonic()")
    nav = ""
    if len(sections) > 1:
        nav = "<nav>" + "".join(f'<a href="#section-{n}">{html.escape(s.title)}</a>'
                                for n, s in enumerate(sections, 1)) + "</nav>"
    body = "\n".join(_section_html(n, s, len(sections) == 1)
                     for n, s in enumerate(sections, 1))
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            f"<h1>{html.escape(title)}</h1>\n<p class=\"meta\">{html.escape(meta)}</p>\n"
            f"{nav}\n{body}\n</body>\n</html>\n")


def _write_page(path: Union[str, os.PathLike[str]], title: str,
                sections: Sequence[_Section]) -> None:
    with open(path, "w", encoding="utf-8") as file:
        file.write(_page(title, sections))


def write_report(path: Union[str, os.PathLike[str]], source: Source,
                 title: Optional[str] = None) -> None:
    """Write an HTML report of what *source* did to *path*: one self-contained file.

    *source*: as for ``write_trace`` (a pool configured with ``timeline=True``,
    or futures with timelines). The page shows the timeline (a lane per
    worker thread or process, a box per task with its call in a tooltip, the
    queue, callbacks, hooks and marks), the pool's stats, each lane's busy
    share and the slowest tasks. Inline SVG and CSS only: no script, no
    network.
    """
    recording = _recording(source, title)
    heading = title or f"minipool report: {recording.title}"
    _write_page(path, heading, [_Section(heading, [], [recording])])
