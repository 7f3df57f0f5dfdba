"""The Viewer tab: a finished run opened again and scrubbed. At any time it shows the video's
frame, the class probabilities classified there (this session's runs: every classified frame
is kept in the run's :class:`~realtime.app.timeline.RunRecord`) and the expressions under way,
with the whole-run timeline and a cursor.

A run comes from this session's last recording, or from an events file (the page's CSV or JSON
download, or ``spot``'s JSONL) plus its video; an events file carries no per-frame
probabilities, so those runs show the events only."""

from __future__ import annotations

import csv
import html
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from realtime.app.analysis import Analysis
from realtime.app.timeline import RunRecord
from realtime.events import JSON_KEYS, Event
from realtime.overlay import EXPRESSION_COLORS, draw_flash, draw_probability_bars
from realtime.sinks import read_jsonl_events
from realtime.vocab import Interval

EVENT_FILE_TYPES = (".csv", ".json", ".jsonl")
VIEW_MIN_SIDE_PX = 480  # frames are enlarged to this short side, as on the other tabs


def read_events_file(path: str | Path) -> list[Event]:
    """Events from the page's CSV or JSON download or a JSONL file of ``spot``; ValueError
    naming the file (by name) and what is wrong."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in EVENT_FILE_TYPES:
        raise ValueError(f"{p.name} is not an events file (accepted: "
                         f"{', '.join(EVENT_FILE_TYPES)})")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {p.name}") from exc
    try:
        if suffix == ".jsonl":
            return read_jsonl_events(p)
        if suffix == ".json":
            rows = json.loads(text)
            if not isinstance(rows, list):
                raise ValueError("it is not a JSON list of events")
            return [Event.from_dict(d) for d in rows]
        return [_csv_event(row) for row in csv.DictReader(text.splitlines())]
    except (ValueError, TypeError, KeyError) as exc:
        message = str(exc).replace(str(p), p.name)
        raise ValueError(f"{p.name} is not a readable events file: {message}") from None


def _csv_event(row: dict[str, str]) -> Event:
    """One row of the page's (or ``spot --csv-out``'s) CSV: "" is unset, flags true/false."""
    d: dict[str, object] = {k: (None if v in ("", None) else v) for k, v in row.items()}
    missing = [k for k in JSON_KEYS if k not in d]
    if missing:
        raise ValueError(f"no column(s) {', '.join(missing)}")
    d["cut_short"] = str(d["cut_short"]).lower() == "true"
    return Event.from_dict(d)


@dataclass(frozen=True)
class VideoInfo:
    frames: int
    fps: float


def probe_video(path: Path) -> VideoInfo:
    """Frame count and rate of a video file; ValueError naming it when it cannot be read."""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise ValueError(f"cannot open video file {path.name}")
        fps = float(cap.get(cv2.CAP_PROP_FPS)) or 30.0
        frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if frames <= 0:
            raise ValueError(f"video file {path.name} has no frames")
        return VideoInfo(frames=frames, fps=fps if np.isfinite(fps) and fps > 0 else 30.0)
    finally:
        cap.release()


class RunView:
    """One finished run opened in the Viewer: its video, events, classified frames (when
    known) and ground truth (the demo). Thread-safe; :meth:`close` releases the video."""

    def __init__(self, video: Path, events: Sequence[Event], record: RunRecord,
                 truth: Sequence[Interval] | None = None, title: str = "") -> None:
        info = probe_video(video)
        self.video, self.fps, self.frames = video, info.fps, info.frames
        rows: dict[tuple[int | None, int], Event] = {}
        for e in events:  # one row per face's expression: the segment once known, else onset
            key = (e.face_id, e.onset_frame)
            if key not in rows or rows[key].kind == "onset":
                rows[key] = e
        self.events = sorted(rows.values(), key=lambda e: (e.onset_frame, e.face_id or 0))
        self.record = record
        self.truth = list(truth or ())
        self.title = title or video.name
        self.duration_s = (self.frames - 1) / self.fps
        self._cap = cv2.VideoCapture(str(video))
        self._next = 0  # the frame the capture reads next
        self._lock = threading.Lock()

    @classmethod
    def of_run(cls, analysis: Analysis, video: Path, truth: Sequence[Interval] | None,
               title: str) -> RunView:
        """This session's finished run: its log and its run record."""
        return cls(video, analysis.log.events, analysis.record, truth, title)

    @classmethod
    def of_files(cls, events_file: str | Path, video: str | Path) -> RunView:
        """An events file plus its video (no per-frame probabilities)."""
        events = read_events_file(events_file)
        return cls(Path(video), events, RunRecord(()),
                   title=f"{Path(events_file).name} on {Path(video).name}")

    def close(self) -> None:
        with self._lock:
            self._cap.release()

    def index_at(self, time_s: float) -> int:
        """The video frame shown at ``time_s`` (clipped to the video)."""
        return int(np.clip(round(float(time_s) * self.fps), 0, self.frames - 1))

    def events_at(self, index: int) -> list[Event]:
        """The expressions under way at frame ``index`` (ongoing ones have no end yet)."""
        return [e for e in self.events if e.onset_frame <= index and (
            e.offset_frame is None or index <= e.offset_frame)]

    def step(self, time_s: float, direction: int) -> float:
        """The onset time of the next (``direction`` > 0) or previous event from ``time_s``
        (``time_s`` itself when there is none that way)."""
        here = self.index_at(time_s)
        onsets = [e.onset_frame for e in self.events]
        later = [f for f in onsets if f > here] if direction > 0 else [
            f for f in onsets if f < here]
        if not later:
            return float(time_s)
        return (min(later) if direction > 0 else max(later)) / self.fps

    def _read(self, index: int) -> np.ndarray | None:
        with self._lock:
            if index != self._next:
                self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, image = self._cap.read()
            self._next = index + 1
        return image if ok else None

    def frame(self, time_s: float) -> np.ndarray | None:
        """RGB frame at ``time_s`` with the probability bars classified there and a border
        in the colour of the expression under way (None when the frame cannot be read)."""
        index = self.index_at(time_s)
        image = self._read(index)
        if image is None:
            return None
        short = min(image.shape[:2])
        if short < VIEW_MIN_SIDE_PX:
            f = VIEW_MIN_SIDE_PX / short
            image = cv2.resize(image, (round(image.shape[1] * f), round(image.shape[0] * f)))
        shown = self.record.at(index / self.fps)
        if shown is not None and self.record.class_names:
            names = self.record.class_names
            draw_probability_bars(image, names, shown[2], names[int(np.argmax(shown[2]))])
        under_way = self.events_at(index)
        if under_way:
            e = under_way[-1]
            draw_flash(image, EXPRESSION_COLORS.get(e.expression, (255, 255, 255)),
                       f"{e.expression} {_frames(e)}")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

    def spans(self) -> list[tuple[float, float, str]]:
        end = self.duration_s
        return [(e.onset_time_s, e.offset_time_s if e.offset_time_s is not None else end,
                 e.expression) for e in self.events]

    def timeline(self, time_s: float) -> np.ndarray:
        """The whole-run timeline (probabilities when known, event lanes) with a cursor."""
        truth = [(i.onset / self.fps, (i.offset + 1) / self.fps, i.type) for i in self.truth]
        self.record.note_time(self.duration_s)
        return self.record.render(self.spans(), truth or None, width_px=720, height_px=200,
                                  cursor_s=self.index_at(time_s) / self.fps)

    def info_html(self, time_s: float) -> str:
        """What is at ``time_s``: frame, probabilities, the expressions under way."""
        index = self.index_at(time_s)
        shown = self.record.at(index / self.fps)
        if shown is not None and self.record.class_names:
            probs = ", ".join(f"{n} {p:.2f}" for n, p in zip(self.record.class_names, shown[2]))
            at = f"probabilities (frame {shown[0]}): {probs}"
        elif not self.record.class_names:
            at = "probabilities: not in an events file (open this session's run to see them)"
        else:
            at = "probabilities: none here (no face, or the window was filling)"
        events = "".join(
            f'<li class="viewer-event" data-onset-frame="{e.onset_frame}">'
            f"{html.escape(e.expression)} {_frames(e)} ({e.onset_time_s:.2f}-"
            f"{'' if e.offset_time_s is None else f'{e.offset_time_s:.2f}'} s)"
            f"{' cut short' if e.cut_short else ''}</li>" for e in self.events_at(index))
        return (f'<div class="viewer-info" data-frame="{index}"><b>{html.escape(self.title)}'
                f"</b>: {index / self.fps:.3f} s, frame {index} of {self.frames}; {at}.<br>"
                f"Expressions under way: {'none' if not events else ''}"
                f'<ul style="margin:0">{events}</ul>'
                f"{len(self.events)} expressions in the run.</div>")


def _frames(e: Event) -> str:
    return f"{e.onset_frame}-{'' if e.offset_frame is None else e.offset_frame}"
