"""One stream's spotter with what the page shows of it (overlay, log, timeline, counters).

The page spots every face in view (:class:`~realtime.multiface.MultiSpotter`, up to
:data:`MAX_FACES`): each face's events go to the log with its ``face_id``. While the run has
seen one face the frame is drawn as the single-face spotter draws it (box, label, bars,
flash); from the second face on each face is drawn in its own colour with its id
(:class:`~realtime.overlay.FacesOverlay`). The timeline, the run record and the status
line follow one face: the lowest face id in view, kept until it leaves."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from realtime.app.eventlog import EventLog
from realtime.app.settings import SpotSettings
from realtime.app.timeline import ProbabilityTimeline, RunRecord
from realtime.events import Event
from realtime.face import STATUS_NO_FACE
from realtime.merger import OnlineMerger
from realtime.multiface import MultiFrameOutput, MultiSpotter
from realtime.overlay import LAYERS, FacesOverlay, Overlay
from realtime.sources import Frame
from realtime.spotter import BREAK_INVALID, STATUS_INVALID, FrameOutput, Spotter
from realtime.timing import RateMeter

FACE_WORDS = {"ok": "ok", "at_edge": "at the frame edge", "no_face": "lost",
              "too_small": "too small", "unconfirmed": "not yet confirmed",
              "invalid_frame": "unreadable frame", "-": "-"}
STATUS_TIP = ("frames processed per second | ms to classify one 5-frame window | share of "
              "frames skipped to keep up | whether a face is tracked | expressions logged; "
              "webcam: streaming, stalled (frames late) or stopped")
DISPLAY_MIN_SIDE_PX = 480  # frames are enlarged to this short side before the overlay
MAX_FACES = 4  # faces spotted at once on the page


def display_size(width: int, height: int, min_side_px: int = DISPLAY_MIN_SIDE_PX) -> tuple[int,
                                                                                          int]:
    """(width, height) at which a frame is annotated: enlarged (whole factors of 2 not
    needed) so its short side reaches ``min_side_px``, never shrunk. The overlay's text
    scales with the image, so a 320x240 source gets legible labels and bar numbers."""
    short = min(width, height)
    if short <= 0 or short >= min_side_px:
        return width, height
    factor = min_side_px / short
    return round(width * factor), round(height * factor)


class Analysis:
    """One stream's spotter with what the page shows of it: overlay, log, timeline, counters.

    :meth:`process` takes frames in order (increasing indices) from one thread at a time.

    time_durations: the logged segments' durations come from their media times (the span
    from onset to offset plus one frame interval) instead of frames / rate: for webcam
    frames, whose rate varies, so that a duration always agrees with offset - onset.
    """

    def __init__(self, spotter: Spotter, settings: SpotSettings, timeline_s: float,
                 time_durations: bool = False, max_faces: int = MAX_FACES) -> None:
        self.spotter = MultiSpotter(spotter, max_faces=max_faces)
        self.time_durations = time_durations
        self.settings = settings
        self.overlay = Overlay(spotter.class_names)  # while the run has seen one face
        self.faces_overlay = FacesOverlay(spotter.class_names)  # from the second face on
        self.followed: int | None = None  # the face id the timeline and the status follow
        self.layers: tuple[str, ...] = LAYERS  # the overlay layers drawn (the page's toggles)
        self.log = EventLog()
        self.timeline = ProbabilityTimeline(spotter.class_names, timeline_s, settings.threshold)
        self.record = RunRecord(spotter.class_names)  # the whole run (summary, viewer)
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
        """Frames processed so far."""
        return self.spotter.stats.frames

    @property
    def merger(self) -> OnlineMerger | None:
        """The followed face's merger (else the first face's; None before any face)."""
        mergers = self.mergers()
        return mergers.get(self.followed, mergers[min(mergers)]) if mergers else None

    def mergers(self) -> dict[int, OnlineMerger]:
        """Face id -> that face's online merger (every face seen in this run)."""
        return self.spotter.mergers

    def set_fps(self, fps: float) -> None:
        """Every face's merger takes events at ``fps`` from now on (webcam: measured rate)."""
        for merger in self.mergers().values():
            merger.fps = fps

    def process(self, frame: Frame) -> np.ndarray:
        """Spot one BGR frame; log its events; return the annotated BGR frame."""
        with self._lock:
            multi = self.spotter.process(frame)
            out = self._follow(multi)
            self.rate.tick()
            self.last_index, self.last_time_s = frame.index, frame.time_s
            self.face_status = out.face_status
            if out.break_reason is not None:
                self._mark_break(frame.time_s)
            if out.probs is not None and out.classified_time_s is not None:
                self.latency_ms = multi.face_ms + multi.engine_ms
                self.timeline.add(out.classified_time_s, out.probs)
                self.record.add(out.classified_index, out.classified_time_s, out.probs)
            self.timeline.note_time(frame.time_s)
            self.record.note_time(frame.time_s)
            self._log(multi.events)
            return self._draw(frame.image, multi, out)

    def _follow(self, multi: MultiFrameOutput) -> FrameOutput:
        """The output of the face the timeline follows: the followed id while it is in view
        (its last frame too, which breaks the plot), else the lowest id in view; a face
        waiting for confirmation, or no face at all, when no id is in view."""
        faces = {f.face_id: f for f in multi.faces if f.face_id is not None}
        chosen = faces.get(self.followed) if self.followed is not None else None
        if chosen is None:
            live = sorted(i for i, f in faces.items() if not f.ended)
            chosen = faces[live[0]] if live else None
        if chosen is not None:
            self.followed = None if chosen.ended else chosen.face_id
            return chosen.output
        self.followed = None
        waiting = [f for f in multi.faces if f.face_id is None]
        if waiting:
            return waiting[0].output
        invalid = multi.error is not None
        return FrameOutput(index=multi.index, time_s=multi.time_s, face=None,
                           face_status=STATUS_INVALID if invalid else STATUS_NO_FACE,
                           break_reason=BREAK_INVALID if invalid else None, error=multi.error)

    def _draw(self, image: np.ndarray, multi: MultiFrameOutput, out: FrameOutput) -> np.ndarray:
        """The annotated frame: one face as the single-face spotter draws it, several faces
        each in its colour (once a run has seen a second face)."""
        size = display_size(image.shape[1], image.shape[0])
        if size != (image.shape[1], image.shape[0]):
            factor = size[0] / image.shape[1]
            image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
            out = _scaled(out, factor)
            multi = dataclasses.replace(multi, faces=tuple(
                dataclasses.replace(f, output=_scaled(f.output, factor)) for f in multi.faces))
        status = self.status_text(short=True)
        if self.spotter.faces_seen > 1:
            return self.faces_overlay.draw(image, multi, status, copy=False, layers=self.layers)
        return self.overlay.draw(image, out, status, copy=False, layers=self.layers)

    def _mark_break(self, time_s: float) -> None:
        """Nothing is classified around ``time_s``: both plots break their lines there."""
        self.timeline.mark_break(time_s)
        self.record.mark_break(time_s)

    def recalibrate(self) -> str:
        """Restart the spotter's neutral reference now (see :meth:`Spotter.recalibrate`);
        log the expression it closes; return what happened in words. ValueError when the
        model's input keeps no reference."""
        with self._lock:
            events = self.spotter.recalibrate()
            self._mark_break(self.last_time_s)
            self._log(events)
            return (f"neutral reference restarted at {self.last_time_s:.1f} s: the next face "
                    "frames are taken as this person's neutral face")

    def flush(self) -> None:
        """Close the open expression (cut short) and log it: the stream ended or paused."""
        with self._lock:
            self._mark_break(self.last_time_s)
            self._log(self.spotter.flush())

    def _log(self, events: Sequence[Event]) -> None:
        if self.time_durations:
            events = [timed_duration(e) for e in events]
        self.log.add(events)

    def status_text(self, short: bool = False) -> str:
        """Rate, window latency and provider; the page's long form adds the share of frames
        dropped, frames processed, the face in plain words and the expressions logged."""
        eng = self.spotter.engine
        text = (f"{self.rate.fps:.1f} frames/s | {self.latency_ms:.0f} ms per window | "
                f"{eng.provider}")
        if short:
            return text
        total = self.frames + self.dropped_frames
        share = 100.0 * self.dropped_frames / total if total else 0.0
        about = "~" if self.dropped_estimated else ""
        return (f"{text} | dropped {about}{share:.0f} % | {self.frames} frames | "
                f"face: {FACE_WORDS.get(self.face_status, self.face_status.replace('_', ' '))}"
                f" | expressions: {self.log.expressions()}")

    def close(self) -> None:
        """Release the spotter's graphs."""
        with self._lock:
            self.spotter.close()


def _scaled(out: FrameOutput, factor: float) -> FrameOutput:
    """``out`` with its face box scaled by ``factor`` (the frame was enlarged for display)."""
    face = out.face
    if face is None or face.box is None:
        return out
    box = tuple(int(round(v * factor)) for v in face.box)
    return dataclasses.replace(out, face=dataclasses.replace(face, box=box))


def timed_duration(event: Event) -> Event:
    """``event`` with its duration measured on its times: (offset - onset) * n / (n - 1) for a
    segment of n frames (the span plus its mean frame interval); onsets and single frames as
    they are."""
    n = event.length_frames
    if event.offset_time_s is None or n is None or n < 2:
        return event
    span = max(0.0, event.offset_time_s - event.onset_time_s)
    return dataclasses.replace(event, duration_s=round(span * n / (n - 1), 4))


SpotterFactory = Callable[[SpotSettings, str], Spotter]
