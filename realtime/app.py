"""``python -m realtime serve``: the Gradio page (webcam, server source, recording).

Three tabs feed the same pipeline (:class:`~realtime.spotter.Spotter` + overlay) and show the
same panel: the annotated frame, an event log that grows live, a timeline of the class
probabilities over the last seconds, a status line, and the events as CSV/JSON downloads.

- **Webcam**: the browser streams its camera to the server (``gr.Image`` streaming); each frame
  comes back annotated.
- **Server source**: a camera index, rtsp/http URL or file path opened on the server and read
  at its own rate by a capture thread; the page polls for the latest frame.
- **Recording**: an uploaded video (or the built-in demo clip) processed as it plays, paced at
  its own frame rate, with the events to download at the end.

State: one :class:`Session` per browser page load (keyed by Gradio's session hash, closed on
unload), holding one :class:`Channel` per tab. A channel's spotter, event log and timeline
survive stream restarts (Gradio ends a stream event after ``time_limit`` and the page rejoins;
the user may stop and start): frame indices keep increasing, a pause is a gap (the open
expression is closed, cut short), and the log ignores an event it already holds. Only "Reset"
(or a new recording) starts afresh, and only then do changed settings take effect.

Torch-free.
"""

from __future__ import annotations

import argparse
import base64
import collections
import csv
import html
import io
import json
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import gradio as gr
import numpy as np

from realtime.events import CSV_COLUMNS, Event
from realtime.overlay import EXPRESSION_COLORS, Overlay
from realtime.postprocess import PostprocessConfig, check_threshold
from realtime.sources import Frame, Source, SourceError, open_source
from realtime.spotter import DEFAULT_WEIGHTS, Spotter

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv",
                  ".flv", ".ogv", ".y4m")
LOG_COLUMNS = ("#", "expression", "onset (s)", "offset (s)", "duration (s)", "confidence",
               "frames", "note")
SETTINGS_NOTE = ("Settings apply to new streams: the first webcam frame or server start after "
                 "**Reset**, and every recording run. A running stream keeps the settings it "
                 "started with.")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
FRAME_HEIGHT_PX = 360  # displayed height of camera and annotated frames
PANEL_REFRESH_S = 0.3  # timeline and status refresh interval while streaming
PANEL_SIZE = 4  # log, timeline, status, downloads
CLOSED_IDS_KEPT = 10_000
RATE_WINDOW = 40  # webcam frames over which the arrival rate is measured
WEBCAM_POLL_S = 1.0  # the webcam tab's slow refresh (catches results lost at Stop)
# Gradio keeps every frame it sends as a file: check each minute, delete after 5 minutes (an
# upload must be started within that time; the page says so if it is gone).
CACHE_POLICY_S = (60, 300)


# ------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class SpotSettings:
    """The user's spotting settings (the page's Settings box); frozen per stream."""

    merge_gap_frames: int = 1
    min_length_frames: int = 1
    relabel_by_duration: bool = False
    threshold: float | None = None  # None: argmax labels

    def __post_init__(self) -> None:
        self.postprocess()  # validates the three post-processing fields
        check_threshold(self.threshold)

    def postprocess(self) -> PostprocessConfig:
        return PostprocessConfig(merge_gap_frames=self.merge_gap_frames,
                                 min_length_frames=self.min_length_frames,
                                 relabel_by_duration=self.relabel_by_duration)

    @classmethod
    def from_ui(cls, merge_gap: float | None, min_length: float | None, relabel: bool,
                use_threshold: bool, threshold: float | None) -> SpotSettings:
        """Settings from the page's widgets; ValueError names the widget that is wrong."""
        def whole(value: float | None, name: str, low: int) -> int:
            if value is None or not math.isfinite(float(value)) or float(value) != int(value) \
                    or int(value) < low:
                raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}")
            return int(value)

        t = None
        if use_threshold:
            if threshold is None or not 0.0 <= float(threshold) <= 1.0:
                raise ValueError(f"class threshold must be in [0, 1], got {threshold!r}")
            t = float(threshold)
        return cls(merge_gap_frames=whole(merge_gap, "merging gap", 0),
                   min_length_frames=whole(min_length, "minimum length", 1),
                   relabel_by_duration=bool(relabel), threshold=t)


@dataclass(frozen=True)
class AppConfig:
    """Server-side settings of the page (command-line options of ``serve``).

    weights_dir, provider, mode, threads: passed to every :class:`Spotter`.
    settings: the defaults shown in the Settings box.
    demo_video: the clip behind "Play the demo clip" (None: the built-in demo clip).
    concurrency: streams processed at the same time (webcam streams, and server-side runs).
    max_upload_mb: largest accepted upload.
    stream_every_s, time_limit_s: webcam frame interval asked of the browser, and how long one
        stream event lasts before the page rejoins (state is kept across the rejoin).
    gap_s: a webcam pause longer than this breaks the window (the open expression is closed).
    poll_s: how often the page polls server-side runs for the latest frame.
    timeline_s: seconds shown by the probability timeline.
    server_source: whether the Server source tab may open cameras, URLs and server files.
    """

    weights_dir: Path = DEFAULT_WEIGHTS
    provider: str = "auto"
    mode: str = "cached"
    threads: int | None = None
    settings: SpotSettings = field(default_factory=SpotSettings)
    demo_video: Path | None = None
    concurrency: int = 4
    max_upload_mb: int = 200
    stream_every_s: float = 0.05
    time_limit_s: float = 120.0
    gap_s: float = 0.5
    poll_s: float = 0.1
    timeline_s: float = 10.0
    server_source: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.concurrency, bool) or not isinstance(self.concurrency, int) \
                or not 1 <= self.concurrency <= 64:
            raise ValueError(f"concurrency must be an int in [1, 64], got {self.concurrency!r}")
        if isinstance(self.max_upload_mb, bool) or not isinstance(self.max_upload_mb, int) \
                or not 1 <= self.max_upload_mb <= 100_000:
            raise ValueError(f"max_upload_mb must be an int in [1, 100000], "
                             f"got {self.max_upload_mb!r}")
        for name, low, high in (("stream_every_s", 0.01, 5.0), ("time_limit_s", 1.0, 86400.0),
                                ("gap_s", 0.05, 60.0), ("poll_s", 0.02, 5.0),
                                ("timeline_s", 1.0, 600.0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not low <= v <= high:
                raise ValueError(f"{name} must be a number in [{low}, {high}], got {v!r}")
        if self.threads is not None and (isinstance(self.threads, bool)
                                         or not isinstance(self.threads, int)
                                         or not 1 <= self.threads <= 256):
            raise ValueError(f"threads must be None or an int in [1, 256], got {self.threads!r}")
        if not isinstance(self.settings, SpotSettings):
            raise ValueError(f"settings must be a SpotSettings, got {type(self.settings).__name__}")

    @property
    def webcam_fps(self) -> float:
        """Nominal rate of webcam frames (what the page asks of the browser)."""
        return 1.0 / self.stream_every_s


# ------------------------------------------------------------------------------- event log


def _event_key(event: Event) -> tuple[Any, ...]:
    return (event.kind, event.expression, event.onset_frame, event.offset_frame)


class EventLog:
    """The events of one stream, in order, each once; and the rows the page shows.

    An onset event shows as an "ongoing" row that its segment event (same onset frame) replaces.
    ``version`` grows with every change, so a poll can tell whether the page is stale.
    Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._keys: set[tuple[Any, ...]] = set()
        self._rows: dict[int, Event] = {}  # onset frame -> latest event for that expression
        self.version = 0

    def add(self, events: Sequence[Event]) -> int:
        """Append the events not seen before; return how many were new."""
        added = 0
        with self._lock:
            for event in events:
                key = _event_key(event)
                if key in self._keys:
                    continue
                self._keys.add(key)
                self._events.append(event)
                shown = self._rows.get(event.onset_frame)
                if shown is None or shown.kind == "onset":
                    self._rows[event.onset_frame] = event
                added += 1
            if added:
                self.version += 1
        return added

    @property
    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    def shown(self) -> list[Event]:
        """One event per expression: the segment when known, else its onset."""
        with self._lock:
            return list(self._rows.values())

    def spans(self, now_s: float) -> list[tuple[float, float, str]]:
        """(start s, end s, expression) of each shown event; ongoing ones end at ``now_s``."""
        return [(e.onset_time_s, e.offset_time_s if e.offset_time_s is not None else now_s,
                 e.expression) for e in self.shown()]

    def csv_text(self) -> str:
        """All events (onsets and segments) as CSV, the columns of the ``spot`` command."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for e in self.events:
            d = e.to_dict()
            writer.writerow(["" if d.get(k) is None else
                             ("true" if d[k] is True else "false" if d[k] is False else d[k])
                             for k in CSV_COLUMNS])
        return buf.getvalue()

    def json_text(self) -> str:
        """All events as a JSON array of :meth:`Event.to_dict` objects."""
        return json.dumps([e.to_dict() for e in self.events], indent=1) + "\n"


def _log_cells(number: int, e: Event) -> list[str]:
    """The :data:`LOG_COLUMNS` cells of one shown event (times in seconds)."""
    if e.kind == "onset":
        offset, duration, frames, note = "", "", f"{e.onset_frame}-", "ongoing"
    else:
        offset, duration = f"{e.offset_time_s:.3f}", f"{e.duration_s:.3f}"
        frames = f"{e.onset_frame}-{e.offset_frame}"
        note = "cut short" if e.cut_short else ""
    return [str(number), e.expression, f"{e.onset_time_s:.3f}", offset, duration,
            f"{e.confidence:.2f}", frames, note]


def render_log_html(shown: Sequence[Event]) -> str:
    """The event log as an HTML table, newest first (rows carry ``data-kind`` and
    ``data-onset-frame`` for scripts and tests)."""
    cell = "padding:2px 8px;border-bottom:1px solid #8884;text-align:left"
    head = "".join(f'<th style="{cell}">{html.escape(c)}</th>' for c in LOG_COLUMNS)
    rows = []
    for number, e in reversed(list(enumerate(shown, start=1))):
        b, g, r = EXPRESSION_COLORS.get(e.expression, (200, 200, 200))
        cells = "".join(f'<td style="{cell}">{html.escape(v)}</td>'
                        for v in _log_cells(number, e))
        rows.append(f'<tr data-kind="{e.kind}" data-onset-frame="{e.onset_frame}" '
                    f'style="border-left:4px solid #{r:02x}{g:02x}{b:02x}">{cells}</tr>')
    body = "".join(rows) or (f'<tr><td colspan="{len(LOG_COLUMNS)}" style="{cell}">'
                             "no events yet</td></tr>")
    return ('<div style="max-height:320px;overflow-y:auto">'
            '<table class="event-log" style="width:100%;border-collapse:collapse;'
            f'font-variant-numeric:tabular-nums"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def render_downloads_html(log: EventLog | None, stem: str) -> str:
    """Links that save the events as CSV and JSON. The files travel inside the links (data
    URLs), so they never expire from a server cache and need no request."""
    if log is None or not log.events:
        return '<p class="downloads">Downloads (CSV, JSON) appear with the first event.</p>'
    links = []
    for kind, mime, text in (("csv", "text/csv", log.csv_text()),
                             ("json", "application/json", log.json_text())):
        data = base64.b64encode(text.encode("utf-8")).decode("ascii")
        name = html.escape(f"{stem}-events.{kind}", quote=True)
        links.append(f'<a download="{name}" href="data:{mime};charset=utf-8;base64,{data}" '
                     f'style="margin-right:1.5em">Download events ({kind.upper()})</a>')
    return f'<p class="downloads">{"".join(links)} {len(log.events)} events</p>'


# ------------------------------------------------------------------------------- timeline


class ProbabilityTimeline:
    """The class probabilities of the last ``span_s`` seconds, drawn as a small RGB plot."""

    def __init__(self, class_names: Sequence[str], span_s: float = 10.0,
                 threshold: float | None = None) -> None:
        self.class_names = tuple(class_names)
        self.span_s = float(span_s)
        self.threshold = threshold
        self._points: collections.deque[tuple[float, np.ndarray]] = collections.deque()
        self._lock = threading.Lock()
        self.latest_s: float | None = None

    def add(self, time_s: float, probs: np.ndarray) -> None:
        with self._lock:
            self._points.append((float(time_s), np.asarray(probs, dtype=np.float32)))
            self.latest_s = float(time_s)
            while self._points and self._points[0][0] < time_s - self.span_s:
                self._points.popleft()

    def note_time(self, time_s: float) -> None:
        """Advance the right edge of the plot (time passes even when nothing is classified)."""
        with self._lock:
            if self.latest_s is None or time_s > self.latest_s:
                self.latest_s = float(time_s)

    def render(self, spans: Sequence[tuple[float, float, str]] = (), width_px: int = 640,
               height_px: int = 150) -> np.ndarray:
        """RGB uint8 image: one line per class, shaded event spans, the threshold (dashed)."""
        img = np.full((height_px, width_px, 3), 24, np.uint8)
        left, right, top, bottom = 34, width_px - 8, 8, height_px - 20
        with self._lock:
            points = list(self._points)
            now = self.latest_s
        end = now if now is not None else 0.0
        start = end - self.span_s

        def x_of(t: float) -> int:
            return int(round(left + (t - start) / self.span_s * (right - left)))

        def y_of(p: float) -> int:
            return int(round(bottom - float(np.clip(p, 0.0, 1.0)) * (bottom - top)))

        for t0, t1, expression in spans:
            if t1 < start:
                continue
            color = EXPRESSION_COLORS.get(expression, (200, 200, 200))
            x0, x1 = max(x_of(t0), left), max(min(x_of(t1), right), max(x_of(t0), left) + 1)
            cv2.rectangle(img, (x0, top), (x1, bottom), tuple(c // 3 for c in color), -1)
        cv2.rectangle(img, (left, top), (right, bottom), (90, 90, 90), 1)
        for p in (0.0, 0.5, 1.0):
            cv2.putText(img, f"{p:.1f}", (2, y_of(p) + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.33,
                        (170, 170, 170), 1, cv2.LINE_AA)
        step = 2 if self.span_s <= 20 else 10
        for k in range(0, int(self.span_s) + 1, step):
            x = x_of(end - k)
            cv2.line(img, (x, bottom), (x, bottom + 3), (170, 170, 170), 1)
            cv2.putText(img, "now" if k == 0 else f"-{k}s", (x - 10, height_px - 5),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.33, (170, 170, 170), 1, cv2.LINE_AA)
        if self.threshold is not None:
            y = y_of(self.threshold)
            for x in range(left, right, 8):
                cv2.line(img, (x, y), (min(x + 4, right), y), (220, 220, 220), 1)
        if len(points) >= 2:
            xs = np.array([x_of(t) for t, _ in points], np.int32)
            probs = np.stack([p for _, p in points])
            for c, name in enumerate(self.class_names):
                ys = np.array([y_of(v) for v in probs[:, c]], np.int32)
                color = EXPRESSION_COLORS.get(name, (200, 200, 200))
                cv2.polylines(img, [np.stack([xs, ys], axis=1)], False, color,
                              1 if c == 0 else 2, cv2.LINE_AA)
        x = left + 6
        for name in self.class_names:
            color = EXPRESSION_COLORS.get(name, (200, 200, 200))
            cv2.putText(img, name, (x, top + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1,
                        cv2.LINE_AA)
            x += 8 * len(name) + 14
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


# ------------------------------------------------------------------------------- analysis


class RateMeter:
    """Frames per second over the last ``window`` frames (wall clock)."""

    def __init__(self, window: int = 30) -> None:
        self._stamps: collections.deque[float] = collections.deque(maxlen=window)

    def tick(self) -> None:
        self._stamps.append(time.perf_counter())

    @property
    def fps(self) -> float:
        s = self._stamps
        return (len(s) - 1) / (s[-1] - s[0]) if len(s) >= 2 and s[-1] > s[0] else 0.0


class Analysis:
    """One stream's spotter with what the page shows of it: overlay, log, timeline, counters.

    :meth:`process` takes frames in order (increasing indices) from one thread at a time.
    """

    def __init__(self, spotter: Spotter, settings: SpotSettings, timeline_s: float) -> None:
        self.spotter = spotter
        self.settings = settings
        self.overlay = Overlay(spotter.class_names)
        self.log = EventLog()
        self.timeline = ProbabilityTimeline(spotter.class_names, timeline_s, settings.threshold)
        self.rate = RateMeter()
        self.latency_ms = 0.0  # face + engine time of the last frame that completed a window
        self.dropped_frames = 0
        self.dropped_estimated = False  # webcam: inferred from the arrival rate
        self.last_index: int | None = None
        self.last_time_s = 0.0
        self.face_status = "-"
        self._lock = threading.Lock()

    @property
    def frames(self) -> int:
        return self.spotter.stats.frames

    def process(self, frame: Frame) -> np.ndarray:
        """Spot one BGR frame; log its events; return the annotated BGR frame."""
        with self._lock:
            out = self.spotter.process(frame)
            self.rate.tick()
            self.last_index, self.last_time_s = frame.index, frame.time_s
            self.face_status = out.face_status
            if out.probs is not None and out.classified_time_s is not None:
                self.latency_ms = out.face_ms + out.engine_ms
                self.timeline.add(out.classified_time_s, out.probs)
            self.timeline.note_time(frame.time_s)
            self.log.add(out.events)
            return self.overlay.draw(frame.image, out, self.status_text(short=True), copy=False)

    def flush(self) -> None:
        """Close the open expression (cut short) and log it: the stream ended or paused."""
        with self._lock:
            self.log.add(self.spotter.flush())

    def status_text(self, short: bool = False) -> str:
        eng = self.spotter.engine
        text = (f"{self.rate.fps:.1f} frames/s | {self.latency_ms:.0f} ms per window | "
                f"{eng.provider}")
        if short:
            return text
        dropped = f"~{self.dropped_frames}" if self.dropped_estimated else self.dropped_frames
        return (f"{text} | dropped {dropped} | {self.frames} frames | "
                f"face: {self.face_status.replace('_', ' ')} | "
                f"events: {len(self.log.shown())}")

    def close(self) -> None:
        with self._lock:
            self.spotter.close()


SpotterFactory = Callable[[SpotSettings, str], Spotter]


# ------------------------------------------------------------------------------- channels


class Channel:
    """One tab's stream within a browser session: its analysis (created on first use with
    the settings of that moment) and what the page has been sent of it."""

    def __init__(self, name: str, factory: SpotterFactory, timeline_s: float) -> None:
        self.name = name
        self._factory = factory
        self._timeline_s = timeline_s
        self.analysis: Analysis | None = None
        self.lock = threading.RLock()
        self.sent_log_version = -1
        self.sent_panel_s = 0.0
        self.message = ""  # last error or notice, shown on the status line
        self.closed = False  # the session ended: late calls are ignored
        self.download_stem = name  # name of the downloaded event files
        self.polled_log_version = -1  # log version the slow poll sent (webcam)
        self.polled_status = ""

    def analysis_for(self, settings: SpotSettings, source_name: str) -> Analysis:
        with self.lock:
            if self.analysis is None:
                spotter = self._factory(settings, source_name)
                self.analysis = Analysis(spotter, settings, self._timeline_s)
                self.sent_log_version = self.polled_log_version = -1
            return self.analysis

    def reset(self) -> None:
        """Forget everything: the next stream starts a new analysis with the current settings."""
        with self.lock:
            if self.analysis is not None:
                self.analysis.close()
            self.analysis = None
            self.sent_log_version = self.polled_log_version = -1
            self.polled_status = ""
            self.message = ""

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.reset()


class WebcamChannel(Channel):
    """Frames pushed by the browser. Indices count the frames received; a pause longer than
    ``gap_s`` (the user stopped, or the stream event rejoined) leaves a gap in them, so the
    spotter closes the open expression instead of joining frames across the pause.

    Frames arrive as fast as the server takes them (Gradio keeps only the newest frame while
    the server is busy), not at the nominal rate: the rate is measured over the recent frames
    and given to the merger, so durations (frames / rate) and duration relabelling match the
    time that passed. Frames the browser took but the server never saw are estimated from the
    time streamed at the nominal rate."""

    def __init__(self, factory: SpotterFactory, timeline_s: float, nominal_fps: float,
                 gap_s: float) -> None:
        super().__init__("webcam", factory, timeline_s)
        self.nominal_fps = nominal_fps
        self.gap_s = gap_s
        self.frames_received = 0
        self.pauses = 0
        self._next_index = 0
        self._t0: float | None = None
        self._last: float | None = None
        self._streamed_s = 0.0  # time between frames, pauses excluded
        self._streamed_frames = 0  # frames that followed another without a pause
        self._arrivals: collections.deque[float] = collections.deque(maxlen=RATE_WINDOW)

    @property
    def measured_fps(self) -> float:
        """Frames received per second since the last pause (recent frames; nominal at first)."""
        a = self._arrivals
        if len(a) < 5 or a[-1] <= a[0]:
            return self.nominal_fps
        return (len(a) - 1) / (a[-1] - a[0])

    def push(self, rgb: np.ndarray, settings: SpotSettings) -> np.ndarray:
        """Spot one RGB frame from the browser; return it annotated (RGB)."""
        with self.lock:
            if self.closed:
                return rgb
            analysis = self.analysis_for(settings, "webcam")
            now = time.monotonic()
            if self._t0 is None:
                self._t0 = now
            elif self._last is not None and now - self._last > self.gap_s:
                self._next_index += 1  # a gap: the window and the open expression end here
                self.pauses += 1
                self._arrivals.clear()
            elif self._last is not None:
                self._streamed_s += now - self._last
                self._streamed_frames += 1
            self._last = now
            self._arrivals.append(now)
            analysis.dropped_estimated = True
            analysis.dropped_frames = max(
                0, round(self._streamed_s * self.nominal_fps) - self._streamed_frames)
            fps = self.measured_fps
            merger = analysis.spotter.merger
            if merger is not None and len(self._arrivals) >= 5:
                # Events confirmed by this frame use the current rate. Right after a pause
                # the rate of the frames before it stays: it closes their expression.
                merger.fps = fps
            frame = Frame(index=self._next_index, time_s=now - self._t0,
                          image=cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR),
                          fps=fps)
            self._next_index += 1
            self.frames_received += 1
            return cv2.cvtColor(analysis.process(frame), cv2.COLOR_BGR2RGB)

    def reset(self) -> None:
        with self.lock:
            super().reset()
            self.frames_received = self.pauses = 0
            self._next_index = 0
            self._t0 = self._last = None
            self._streamed_s, self._streamed_frames = 0.0, 0
            self._arrivals.clear()


class BackgroundRun:
    """Reads a :class:`Source` on its own thread into an :class:`Analysis`; keeps the latest
    annotated frame for the page. Frame indices and times are shifted by the given offsets
    (a restarted live source continues the stream instead of repeating its indices)."""

    def __init__(self, analysis: Analysis, source: Source, index_offset: int = 0,
                 time_offset_s: float = 0.0) -> None:
        self.analysis = analysis
        self.source = source
        self.index_offset = index_offset
        self.time_offset_s = time_offset_s
        self.latest_bgr: np.ndarray | None = None
        self.latest_seq = 0
        self.error: str | None = None
        self.started_s = time.monotonic()
        self.first_media_s: float | None = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name=f"spot: {source.description}")

    def start(self) -> BackgroundRun:
        self._thread.start()
        return self

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    @property
    def behind_s(self) -> float:
        """How far processing lags the source's own clock (recordings paced at their rate)."""
        a = self.analysis
        if self.first_media_s is None or self.finished:
            return 0.0
        media = a.last_time_s - self.time_offset_s - self.first_media_s
        return max(0.0, (time.monotonic() - self.started_s) - media)

    def _loop(self) -> None:
        source = self.source
        try:
            for frame in source:
                if self._stop.is_set():
                    break
                if self.first_media_s is None:
                    self.first_media_s = frame.time_s
                    self.started_s = time.monotonic()
                shifted = Frame(index=frame.index + self.index_offset,
                                time_s=frame.time_s + self.time_offset_s, image=frame.image,
                                fps=frame.fps)
                self.latest_bgr = self.analysis.process(shifted)
                self.latest_seq += 1
                self.analysis.dropped_frames = source.dropped_frames
        except SourceError as exc:
            self.error = str(exc)
        except Exception as exc:  # shown on the page; the thread must not die silently
            log.exception("spotting %s failed", source.description)
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            try:
                source.close()
            finally:
                try:
                    self.analysis.flush()
                finally:
                    self._done.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop reading, release the source, close the open expression; wait for the thread."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)


class SourceChannel(Channel):
    """A server-side source read by a :class:`BackgroundRun`.

    continue_stream: True (server source) keeps the analysis across Stop/Start, continuing
    frame indices and times; False (recording) starts a new analysis on every start, so the
    frame numbers of the events are those of the video.
    """

    def __init__(self, name: str, factory: SpotterFactory, timeline_s: float,
                 continue_stream: bool) -> None:
        super().__init__(name, factory, timeline_s)
        self.continue_stream = continue_stream
        self.run: BackgroundRun | None = None
        self.sent_seq = -1
        self._t0: float | None = None

    @property
    def running(self) -> bool:
        return self.run is not None and not self.run.finished

    def start(self, source: Source, settings: SpotSettings,
              download_stem: str | None = None) -> None:
        """Process ``source`` (already opened); stops the run before, if any.
        ``download_stem`` names the event files (default: the channel's name)."""
        with self.lock:
            self.stop()
            if self.closed:
                source.close()
                return
            if not self.continue_stream:
                super().reset()
            analysis = self.analysis_for(settings, source.description)
            offset, t_offset = 0, 0.0
            now = time.monotonic()
            if self._t0 is None or not self.continue_stream:
                self._t0 = now
            elif analysis.last_index is not None:
                offset = analysis.last_index + 2  # a gap: the pause is not joined over
                t_offset = now - self._t0
            self.message = ""
            self.sent_seq = -1
            self.download_stem = download_stem or self.name
            self.run = BackgroundRun(analysis, source, offset, t_offset).start()

    def stop(self) -> None:
        with self.lock:
            if self.run is not None:
                self.run.stop()

    def reset(self) -> None:
        with self.lock:
            self.stop()
            self.run = None
            self._t0 = None
            self.sent_seq = -1
            super().reset()


# ------------------------------------------------------------------------------- sessions


class Session:
    """Everything of one browser page load: its three channels."""

    def __init__(self, session_id: str, config: AppConfig, factory: SpotterFactory) -> None:
        self.id = session_id
        self.webcam = WebcamChannel(factory, config.timeline_s, config.webcam_fps, config.gap_s)
        self.server = SourceChannel("server", factory, config.timeline_s, continue_stream=True)
        self.recording = SourceChannel("recording", factory, config.timeline_s,
                                       continue_stream=False)

    def channel(self, name: str) -> Channel:
        channels: dict[str, Channel] = {"webcam": self.webcam, "server": self.server,
                                        "recording": self.recording}
        return channels[name]

    def close(self) -> None:
        for channel in (self.webcam, self.server, self.recording):
            try:
                channel.close()
            except Exception:
                log.exception("closing the %s channel of session %s failed", channel.name,
                              self.id)


class SessionRegistry:
    """Sessions by id (Gradio's session hash). Thread-safe. A closed session's id is
    remembered (the most recent :data:`CLOSED_IDS_KEPT`) so a late call cannot revive it."""

    def __init__(self, config: AppConfig, factory: SpotterFactory) -> None:
        self._config = config
        self._factory = factory
        self._sessions: dict[str, Session] = {}
        self._closed: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, session_id: str) -> Session | None:
        """The session, created on first use; None when it was closed (page unloaded)."""
        with self._lock:
            if session_id in self._closed:
                return None
            session = self._sessions.get(session_id)
            if session is None:
                session = self._sessions[session_id] = Session(session_id, self._config,
                                                               self._factory)
            return session

    def find(self, session_id: str) -> Session | None:
        with self._lock:
            return self._sessions.get(session_id)

    def close(self, session_id: str) -> None:
        with self._lock:
            session = self._sessions.pop(session_id, None)
            self._closed[session_id] = None
            while len(self._closed) > CLOSED_IDS_KEPT:
                self._closed.popitem(last=False)
        if session is not None:
            session.close()

    def close_all(self) -> None:
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for session in sessions:
            session.close()

    def sessions(self) -> list[Session]:
        with self._lock:
            return list(self._sessions.values())

    def running_sources(self) -> int:
        """Server-side runs in progress over all sessions."""
        return sum(int(ch.running) for s in self.sessions() for ch in (s.server, s.recording))

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)


# ------------------------------------------------------------------------------- the page


def _session_id(request: Any) -> str:
    sid = getattr(request, "session_hash", None)
    if not sid:
        raise ValueError("no browser session: open the page in a browser")
    return str(sid)


class SpotterApp:
    """The page's logic (handlers called by Gradio) and its layout (:meth:`build`).

    Handlers take the widgets' values plus the Gradio request (for the session) and return
    the widgets' new values; see :meth:`build` for the wiring.
    """

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.sessions = SessionRegistry(config, self.make_spotter)
        self.blocks: Any = None

    def make_spotter(self, settings: SpotSettings, source_name: str) -> Spotter:
        c = self.config
        return Spotter(c.weights_dir, provider=c.provider, mode=c.mode,
                       postprocess=settings.postprocess(), threshold=settings.threshold,
                       threads=c.threads, source_name=source_name)

    # -- panel --------------------------------------------------------------------------------
    def panel(self, session: Session, channel: Channel, force: bool = False) -> list[Any]:
        """[log, timeline, status, downloads] of a channel. A changed log is sent at
        once; timeline and status at most every :data:`PANEL_REFRESH_S` unless ``force``;
        unchanged parts are skipped (``gr.skip()``)."""
        a = channel.analysis
        extra = f" | {channel.message}" if channel.message else ""
        if a is None:
            if not force:
                return [gr.skip()] * PANEL_SIZE
            return [render_log_html([]), None, "idle" + extra, render_downloads_html(None, "")]
        now = time.monotonic()
        version = a.log.version
        log_changed = force or version != channel.sent_log_version
        if not log_changed and now - channel.sent_panel_s < PANEL_REFRESH_S:
            return [gr.skip()] * PANEL_SIZE
        channel.sent_panel_s = now
        timeline = a.timeline.render(a.log.spans(a.last_time_s))
        status = self._status(channel, a, extra)
        if not log_changed:
            return [gr.skip(), timeline, status, gr.skip()]
        channel.sent_log_version = version
        return [render_log_html(a.log.shown()), timeline, status,
                render_downloads_html(a.log, channel.download_stem)]

    @staticmethod
    def _status(channel: Channel, analysis: Analysis, extra: str) -> str:
        if not isinstance(channel, SourceChannel) or channel.run is None:
            return f"{analysis.status_text()}{extra}"
        run = channel.run
        state = "ended" if run.finished else "running"
        if run.behind_s > 0.5:
            state += f", {run.behind_s:.1f} s behind"
        if run.error:
            extra += f" | error: {run.error}"
        return f"{state} | {analysis.status_text()}{extra}"

    # -- webcam -------------------------------------------------------------------------------
    def on_webcam_frame(self, rgb: np.ndarray | None, merge_gap: float, min_length: float,
                        relabel: bool, use_threshold: bool, threshold: float,
                        request: gr.Request) -> list[Any]:
        """One streamed webcam frame -> [annotated frame, *panel]."""
        session = self.sessions.get(_session_id(request))
        if session is None:
            return [gr.skip()] * (1 + PANEL_SIZE)
        channel = session.webcam
        if rgb is None:
            return [gr.skip()] + self.panel(session, channel)
        try:
            settings = SpotSettings.from_ui(merge_gap, min_length, relabel, use_threshold,
                                            threshold)
        except ValueError as exc:
            channel.message = f"settings: {exc}"
            return [rgb] + self.panel(session, channel, force=True)
        try:
            annotated = channel.push(rgb, settings)
        except Exception as exc:  # e.g. graphs missing: end the stream with the reason
            log.exception("webcam frame of session %s failed", session.id)
            raise gr.Error(f"cannot spot this stream: {exc}") from exc
        return [annotated] + self.panel(session, channel)

    def on_webcam_poll(self, request: gr.Request) -> list[Any]:
        """Slow timer of the webcam tab: [*panel] with the log and status when they changed.

        A stream's last results can be lost when the user stops it (the page stops listening
        while the server finishes the frame in hand); this brings the page up to date."""
        session = self.sessions.find(_session_id(request))
        channel = None if session is None else session.webcam
        a = None if channel is None else channel.analysis
        if channel is None or a is None:
            return [gr.skip()] * PANEL_SIZE
        out: list[Any] = [gr.skip()] * PANEL_SIZE
        version = a.log.version
        if version != channel.polled_log_version:
            channel.polled_log_version = version
            out[0] = render_log_html(a.log.shown())
            out[3] = render_downloads_html(a.log, channel.download_stem)
        status = self._status(channel, a, f" | {channel.message}" if channel.message else "")
        if status != channel.polled_status:
            channel.polled_status = out[2] = status
        return out

    def on_reset(self, name: str, request: gr.Request) -> list[Any]:
        """Reset a channel: [cleared frame, *panel]."""
        session = self.sessions.get(_session_id(request))
        if session is None:
            return [gr.skip()] * (1 + PANEL_SIZE)
        channel = session.channel(name)
        channel.reset()
        return [None] + self.panel(session, channel, force=True)

    # -- server-side sources --------------------------------------------------------------------
    @staticmethod
    def _gone() -> list[Any]:
        """[frame, timer, *panel] for a call from a page whose session was closed."""
        return [gr.skip(), gr.Timer(active=False)] + [gr.skip()] * PANEL_SIZE

    def _refuse(self, session: Session, channel: SourceChannel, message: str) -> list[Any]:
        """[frame, timer, *panel] after a start that did not happen, saying why."""
        channel.message = f"error: {message}"
        gr.Warning(message)
        return [gr.skip(), gr.Timer(active=channel.running)] + self.panel(session, channel,
                                                                          force=True)

    def _start(self, session: Session, channel: SourceChannel, spec: str,
               settings_values: tuple[Any, ...]) -> list[Any]:
        """Open ``spec`` (paced at its own rate) and run it on ``channel``:
        [frame, timer, *panel]."""
        try:
            settings = SpotSettings.from_ui(*settings_values)
            if not channel.running and \
                    self.sessions.running_sources() >= self.config.concurrency:
                raise ValueError(f"the server is busy ({self.config.concurrency} streams "
                                 "running); try again later")
            source = open_source(spec, realtime=True)
        except (ValueError, SourceError) as exc:
            return self._refuse(session, channel, str(exc))
        try:
            channel.start(source, settings,
                          None if channel.continue_stream else Path(spec).stem)
        except Exception as exc:  # e.g. the graphs cannot be opened: say so on the page
            source.close()
            log.exception("starting %s failed", spec)
            return self._refuse(session, channel, f"{type(exc).__name__}: {exc}")
        return [None, gr.Timer(active=True)] + self.panel(session, channel, force=True)

    def on_poll(self, name: str, request: gr.Request) -> list[Any]:
        """Timer tick of a server-side channel: [latest frame, timer, *panel]."""
        session = self.sessions.find(_session_id(request))
        if session is None:
            return self._gone()
        channel = session.channel(name)
        assert isinstance(channel, SourceChannel)
        run = channel.run
        if run is None:
            return [gr.skip(), gr.Timer(active=False)] + self.panel(session, channel)
        finished = run.finished  # read before the frame, so the last frame is surely sent
        frame: Any = gr.skip()
        if run.latest_seq != channel.sent_seq and run.latest_bgr is not None:
            channel.sent_seq = run.latest_seq
            frame = cv2.cvtColor(run.latest_bgr, cv2.COLOR_BGR2RGB)
        timer = gr.Timer(active=False) if finished else gr.skip()
        return [frame, timer] + self.panel(session, channel, force=finished)

    def on_stop(self, name: str, request: gr.Request) -> list[Any]:
        """Stop a server-side channel (its open expression is closed): [timer, *panel]."""
        session = self.sessions.get(_session_id(request))
        if session is None:
            return [gr.Timer(active=False)] + [gr.skip()] * PANEL_SIZE
        channel = session.channel(name)
        assert isinstance(channel, SourceChannel)
        channel.stop()
        return [gr.Timer(active=False)] + self.panel(session, channel, force=True)

    def on_server_start(self, spec: str | None, merge_gap: float, min_length: float,
                        relabel: bool, use_threshold: bool, threshold: float,
                        request: gr.Request) -> list[Any]:
        session = self.sessions.get(_session_id(request))
        if session is None:
            return self._gone()
        if not self.config.server_source:
            return self._refuse(session, session.server,
                                "server sources are disabled on this server (shared or "
                                "public); use the Webcam or Recording tab")
        text = (spec or "").strip()
        if not text:
            return self._refuse(session, session.server,
                                "type a camera index, a stream URL or a video file path")
        return self._start(session, session.server, text,
                           (merge_gap, min_length, relabel, use_threshold, threshold))

    def check_upload(self, path: str | None) -> Path:
        """The uploaded file, checked: given, a video type, present, within the size limit."""
        if not path:
            raise ValueError("upload a video first (or play the demo clip)")
        p = Path(path)
        if p.suffix.lower() not in VIDEO_SUFFIXES:
            raise ValueError(f"{p.name} is not a video file (accepted: "
                             f"{', '.join(VIDEO_SUFFIXES)})")
        if not p.is_file():
            raise ValueError(f"the upload {p.name} is gone (uploads are kept "
                             f"{CACHE_POLICY_S[1] // 60} minutes); upload it again")
        size_mb = p.stat().st_size / 2**20
        if size_mb > self.config.max_upload_mb:
            raise ValueError(f"{p.name} is {size_mb:.0f} MB; the limit is "
                             f"{self.config.max_upload_mb} MB")
        return p

    def on_recording_start(self, path: str | None, merge_gap: float, min_length: float,
                           relabel: bool, use_threshold: bool, threshold: float,
                           request: gr.Request) -> list[Any]:
        session = self.sessions.get(_session_id(request))
        if session is None:
            return self._gone()
        try:
            video = self.check_upload(path)
        except ValueError as exc:
            return self._refuse(session, session.recording, str(exc))
        return self._start(session, session.recording, str(video),
                           (merge_gap, min_length, relabel, use_threshold, threshold))

    def demo_video(self) -> Path:
        """The clip of "Play the demo clip" (FileNotFoundError naming it when absent)."""
        if self.config.demo_video is not None:
            video = Path(self.config.demo_video)
            if not video.is_file():
                raise FileNotFoundError(f"demo clip {video} is missing")
            return video
        from realtime.demo import demo_clip

        return demo_clip().video

    def on_demo_start(self, merge_gap: float, min_length: float, relabel: bool,
                      use_threshold: bool, threshold: float,
                      request: gr.Request) -> list[Any]:
        session = self.sessions.get(_session_id(request))
        if session is None:
            return self._gone()
        try:
            video = self.demo_video()
        except FileNotFoundError as exc:
            return self._refuse(session, session.recording, str(exc))
        return self._start(session, session.recording, str(video),
                           (merge_gap, min_length, relabel, use_threshold, threshold))

    def on_unload(self, request: gr.Request) -> None:
        """The page was closed or reloaded: stop its streams and free its spotters."""
        sid = getattr(request, "session_hash", None)
        if sid:
            self.sessions.close(str(sid))

    # -- layout --------------------------------------------------------------------------------
    def build(self) -> Any:
        """The page as a ``gr.Blocks`` (call ``.queue()`` / ``.launch()`` on it)."""
        return _PageBuilder(self).build()


class _Panel:
    """The widgets every tab shows under its frame: log, timeline, status, downloads."""

    def __init__(self, prefix: str) -> None:
        self.status = gr.Textbox(label="Status", value="idle", interactive=False, lines=1,
                                 elem_id=f"{prefix}-status")
        self.timeline = gr.Image(label="Class probabilities (last seconds)", format="png",
                                 interactive=False, elem_id=f"{prefix}-timeline", height=170,
                                 buttons=[])
        gr.Markdown("**Events** (newest first)")
        self.log = gr.HTML(render_log_html([]), elem_id=f"{prefix}-log")
        self.downloads = gr.HTML(render_downloads_html(None, ""),
                                 elem_id=f"{prefix}-downloads")

    @property
    def outputs(self) -> list[Any]:
        return [self.log, self.timeline, self.status, self.downloads]


class _PageBuilder:
    """Lays out the page and wires the handlers of a :class:`SpotterApp`."""

    def __init__(self, app: SpotterApp) -> None:
        self.app = app
        self.settings: list[Any] = []

    def build(self) -> Any:
        app, c = self.app, self.app.config
        with gr.Blocks(title="Micro-expression spotter", delete_cache=CACHE_POLICY_S,
                       analytics_enabled=False) as blocks:  # never phones home
            gr.Markdown("## Facial micro-expression spotter (STSNet_SW)\n"
                        "Each tab runs its own spotter. Events: expression type, onset and "
                        "offset (seconds), duration, peak confidence.")
            with gr.Accordion("Settings", open=False):
                self._settings_box(c.settings)
            with gr.Tabs():
                with gr.Tab("Webcam", id="webcam"):
                    self._webcam_tab()
                with gr.Tab("Server source", id="server"):
                    self._server_tab()
                with gr.Tab("Recording", id="recording"):
                    self._recording_tab()
            blocks.unload(app.on_unload)
        app.blocks = blocks
        blocks.spotter_app = app  # for tests and embedding: the logic behind the page
        return blocks

    def _settings_box(self, s: SpotSettings) -> None:
        gr.Markdown(SETTINGS_NOTE)
        with gr.Row():
            gap = gr.Number(label="Merging gap (frames)", value=s.merge_gap_frames,
                            precision=0, minimum=0, maximum=1000, elem_id="set-gap")
            min_len = gr.Number(label="Minimum length (frames)", value=s.min_length_frames,
                                precision=0, minimum=1, maximum=100000, elem_id="set-minlen")
            relabel = gr.Checkbox(label="Duration relabelling (<= 0.5 s is micro)",
                                  value=s.relabel_by_duration, elem_id="set-relabel")
            use_t = gr.Checkbox(label="Use a class threshold (else argmax)",
                                value=s.threshold is not None, elem_id="set-use-threshold")
            t = gr.Slider(0.0, 1.0, value=0.5 if s.threshold is None else s.threshold,
                          step=0.01, label="Class threshold", elem_id="set-threshold")
        self.settings = [gap, min_len, relabel, use_t, t]

    def _webcam_tab(self) -> None:
        app, c = self.app, self.app.config
        gr.Markdown("Click the camera, then the record button. Frames stream to the server "
                    f"about {c.webcam_fps:.0f} times a second and come back annotated. "
                    "Stopping and restarting keeps the log (a pause closes the open "
                    "expression); **Reset** starts afresh. Times count from the first frame; "
                    "durations use the rate at which frames actually arrive.")
        with gr.Row():
            cam = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="Camera",
                           webcam_options=gr.WebcamOptions(mirror=False), elem_id="webcam-in",
                           height=FRAME_HEIGHT_PX)
            out = gr.Image(label="Spotter", format="jpeg", interactive=False,
                           elem_id="webcam-out", buttons=["fullscreen"],
                           height=FRAME_HEIGHT_PX)
        reset = gr.Button("Reset", elem_id="webcam-reset", size="sm")
        panel = _Panel("webcam")
        cam.stream(app.on_webcam_frame, inputs=[cam, *self.settings],
                   outputs=[out, *panel.outputs], stream_every=c.stream_every_s,
                   time_limit=c.time_limit_s, concurrency_limit=c.concurrency,
                   concurrency_id="webcam", show_progress="hidden")

        def on_reset(request: gr.Request) -> list[Any]:
            return app.on_reset("webcam", request)

        reset.click(on_reset, inputs=None, outputs=[out, *panel.outputs],
                    show_progress="hidden", concurrency_limit=None)
        gr.Timer(WEBCAM_POLL_S).tick(app.on_webcam_poll, inputs=None, outputs=panel.outputs,
                                     show_progress="hidden", concurrency_limit=None,
                                     trigger_mode="always_last")

    def _server_tab(self) -> None:
        app, c = self.app, self.app.config
        if not c.server_source:
            gr.Markdown("**Disabled on this server** (it is shared or listens beyond this "
                        "machine; start it with `--allow-server-source` to enable).")
        gr.Markdown("Open a camera on the server (index such as `0`), an `rtsp://` or "
                    "`http://` stream, or a video file path on the server. It is read at its "
                    "own rate; the page shows the latest frame.")
        with gr.Row():
            spec = gr.Textbox(label="Source", placeholder="0, rtsp://host/stream, /path/clip.mp4",
                              elem_id="server-spec", scale=4)
            start = gr.Button("Start", variant="primary", elem_id="server-start", scale=1)
            stop = gr.Button("Stop", elem_id="server-stop", scale=1)
            reset = gr.Button("Reset", elem_id="server-reset", scale=1)
        out = gr.Image(label="Spotter", format="jpeg", interactive=False, elem_id="server-out",
                       buttons=["fullscreen"], height=FRAME_HEIGHT_PX)
        panel = _Panel("server")
        self._wire_source("server", start, [spec], app.on_server_start, stop, reset, out, panel)

    def _recording_tab(self) -> None:
        app, c = self.app, self.app.config
        gr.Markdown(f"Upload a video (up to {c.max_upload_mb} MB) or play the built-in demo "
                    "clip. It is processed as it plays, at its own frame rate; the events can "
                    "be downloaded when it ends. Each run starts a new log.")
        with gr.Row():
            upload = gr.File(label="Video", file_types=list(VIDEO_SUFFIXES), type="filepath",
                             elem_id="rec-file", scale=3)
            with gr.Column(scale=1):
                start = gr.Button("Process upload", variant="primary", elem_id="rec-start")
                demo = gr.Button("Play the demo clip", elem_id="rec-demo")
                stop = gr.Button("Stop", elem_id="rec-stop")
                reset = gr.Button("Reset", elem_id="rec-reset")
        out = gr.Image(label="Spotter", format="jpeg", interactive=False, elem_id="rec-out",
                       buttons=["fullscreen"], height=FRAME_HEIGHT_PX)
        panel = _Panel("rec")
        timer = self._wire_source("recording", start, [upload], app.on_recording_start, stop,
                                  reset, out, panel)
        demo.click(app.on_demo_start, inputs=self.settings,
                   outputs=[out, timer, *panel.outputs], show_progress="hidden",
                   concurrency_limit=None)

    def _wire_source(self, name: str, start: Any, start_inputs: list[Any],
                     on_start: Callable[..., list[Any]], stop: Any, reset: Any, out: Any,
                     panel: _Panel) -> Any:
        app = self.app
        timer = gr.Timer(app.config.poll_s, active=False)

        def on_poll(request: gr.Request) -> list[Any]:
            return app.on_poll(name, request)

        def on_stop(request: gr.Request) -> list[Any]:
            return app.on_stop(name, request)

        def on_reset(request: gr.Request) -> list[Any]:
            return [*app.on_reset(name, request), gr.Timer(active=False)]

        common: dict[str, Any] = {"show_progress": "hidden", "concurrency_limit": None}
        start.click(on_start, inputs=[*start_inputs, *self.settings],
                    outputs=[out, timer, *panel.outputs], **common)
        timer.tick(on_poll, inputs=None, outputs=[out, timer, *panel.outputs],
                   trigger_mode="always_last", **common)
        stop.click(on_stop, inputs=None, outputs=[timer, *panel.outputs], **common)
        reset.click(on_reset, inputs=None, outputs=[out, *panel.outputs, timer], **common)
        return timer


def build_app(weights_dir: str | Path = DEFAULT_WEIGHTS, *, provider: str = "auto",
              mode: str = "cached", threads: int | None = None,
              settings: SpotSettings | None = None, demo_video: str | Path | None = None,
              concurrency: int = 4, max_upload_mb: int = 200, stream_every_s: float = 0.05,
              time_limit_s: float = 120.0, gap_s: float = 0.5, poll_s: float = 0.1,
              timeline_s: float = 10.0, server_source: bool = True) -> Any:
    """Build the page (``gr.Blocks``); its logic is ``blocks.spotter_app`` (a SpotterApp).

    Launch with ``blocks.queue().launch(max_file_size=f"{max_upload_mb}mb")`` or use
    ``python -m realtime serve``. The graphs are opened per stream, when it starts.
    """
    config = AppConfig(weights_dir=Path(weights_dir), provider=provider, mode=mode,
                       threads=threads, settings=settings or SpotSettings(),
                       demo_video=None if demo_video is None else Path(demo_video),
                       concurrency=concurrency, max_upload_mb=max_upload_mb,
                       stream_every_s=stream_every_s, time_limit_s=time_limit_s, gap_s=gap_s,
                       poll_s=poll_s, timeline_s=timeline_s, server_source=server_source)
    return SpotterApp(config).build()


# ------------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS,
                        help=f"folder of the exported ONNX graphs (default: {DEFAULT_WEIGHTS})")
    parser.add_argument("--share", action="store_true",
                        help="also open a temporary public gradio.live link (off by default)")
    parser.add_argument("--concurrency", type=int, default=4, metavar="N",
                        help="streams processed at the same time (default 4)")
    parser.add_argument("--max-upload-mb", type=int, default=200, metavar="N",
                        help="largest video upload in MB (default 200)")
    parser.add_argument("--provider", choices=("auto", "cuda", "cpu"), default="auto",
                        help="ONNX Runtime device (auto: CUDA when usable, else CPU)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="ONNX Runtime CPU threads per stream (default: one per core)")
    parser.add_argument("--allow-server-source", action="store_true",
                        help="enable the Server source tab even with --share or a "
                             "non-local --host (it opens cameras, URLs and files on this "
                             "machine for any visitor)")


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    cv2.setLogLevel(0)
    weights = Path(args.weights)
    if not (weights / "backbone.onnx").is_file():
        print(f"error: no exported graphs in {weights} (backbone.onnx missing); "
              "pass --weights DIR (made by `python -m export onnx`)", file=sys.stderr)
        return 2
    exposed = bool(args.share) or args.host not in LOOPBACK_HOSTS
    try:
        blocks = build_app(weights, provider=args.provider, threads=args.threads,
                           concurrency=args.concurrency, max_upload_mb=args.max_upload_mb,
                           server_source=args.allow_server_source or not exposed)
    except ValueError as exc:  # name the command-line option, not the field
        message = str(exc)
        for field_name, option in (("max_upload_mb", "--max-upload-mb"),
                                   ("concurrency", "--concurrency"), ("threads", "--threads")):
            message = message.replace(field_name, option)
        print(f"error: {message}", file=sys.stderr)
        return 2
    app: SpotterApp = blocks.spotter_app
    try:
        blocks.queue(default_concurrency_limit=args.concurrency).launch(
            server_name=args.host, server_port=args.port, share=bool(args.share),
            max_file_size=f"{args.max_upload_mb}mb", show_error=True, ssr_mode=False,
            footer_links=[])
    except KeyboardInterrupt:
        pass
    finally:
        app.sessions.close_all()
    return 0
