"""Several faces at once: each face in view spotted on its own, one backbone call per frame.

:class:`MultiSpotter` wraps a :class:`~realtime.spotter.Spotter` (its engine, face detector,
post-processing settings and threshold) and follows up to ``max_faces`` faces with
:class:`~realtime.tracks.FaceTracks`. Every face has its own crop track (stabilised box), its own
input reference (:class:`~realtime.reference.ReferenceDifference`), its own ring of the last K
window entries and its own :class:`~realtime.merger.OnlineMerger`, whose events carry the
face's ``face_id``: 1, 2, ... for every face after the first; the first face confirmed in a run
(id 0, the "main" face) writes no ``face_id`` (``None``), so that a run with one face gives
exactly the events, JSON lines and CSV rows of the single-face spotter
(``MultiSpotter(label_first_face=True)`` stamps ``face_id=0`` on it as well).

Per frame the crops of all faces go through the backbone in one call
(:meth:`Engine.frame_entries`), and the full windows of all faces through the head in one call
(:meth:`Engine.classify_windows`): the cost grows with the number of faces by the backbone's
batch cost, not by separate passes.

The rules of the single-face spotter hold per face: a face lost, unconfirmed or too small
breaks its window and closes its open expression (``cut_short``); a gap in the frame indices or
an unusable frame breaks every face's window. Frames are processed one by one (the faces of a
frame are the batch), for files too.

Torch-free.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from realtime.contract import fps_mismatch
from realtime.events import Event
from realtime.face import STATUS_NO_FACE, STATUS_UNCONFIRMED
from realtime.merger import OnlineMerger
from realtime.postprocess import label_of
from realtime.readers import stream_fps
from realtime.reference import ReferenceDifference
from realtime.resample import Resampler, model_frame, resampler_for
from realtime.sources import Frame, Source, open_source
from realtime.spotter import (
    BREAK_GAP,
    BREAK_INVALID,
    BREAK_NO_FACE,
    BREAK_TOO_SMALL,
    STATUS_INVALID,
    FrameOutput,
    Spotter,
    SpotterStats,
)
from realtime.timing import EngineTimings
from realtime.tracks import DEFAULT_KEEP_S, DEFAULT_MAX_FACES, FaceTracks, TrackResult
from realtime.vocab import check_bool, check_number

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaceOutput:
    """One face's part of a frame: its id and what the spotter made of its crop (``output``,
    the single-face :class:`~realtime.spotter.FrameOutput`, with this face's events only).
    ``started``: the face appeared (or returned) on this frame; ``ended``: it was lost."""

    face_id: int | None  # None while a weak new detection waits for confirmation
    output: FrameOutput
    started: bool = False
    ended: bool = False


@dataclass(frozen=True)
class MultiFrameOutput:
    """What :meth:`MultiSpotter.process` made of one frame: every followed face, by id."""

    index: int
    time_s: float
    faces: tuple[FaceOutput, ...]
    events: tuple[Event, ...]  # all faces' events of this frame, by face id
    num_detected: int  # faces the last detector run saw
    error: str | None = None
    face_ms: float = 0.0
    engine_ms: float = 0.0

    @property
    def face_ids(self) -> tuple[int, ...]:
        """Ids of the faces with a crop on this frame."""
        return tuple(f.face_id for f in self.faces
                     if f.face_id is not None and f.output.has_crop)


class _FaceStream:
    """One face's engine state: input reference, the last K window entries, the merger."""

    def __init__(self, face_id: int, spotter: Spotter, fps: float, *, stamp: bool) -> None:
        engine = spotter.engine
        self.face_id = face_id
        self.window = engine.window
        self.reference = ReferenceDifference(engine.input_transform)
        self.entries: deque[np.ndarray] = deque(maxlen=engine.window)
        self.tags: deque[tuple[int, float]] = deque(maxlen=engine.window)
        postprocess, threshold = spotter.settings_at(fps)  # the model's gap at this rate
        self.merger = OnlineMerger(spotter.class_names, fps, postprocess,
                                   expression_threshold=threshold,
                                   source=spotter.source_name,
                                   face_id=face_id if stamp else None)

    @property
    def ready(self) -> bool:
        return len(self.entries) == self.window

    def has_window(self) -> bool:
        return bool(self.entries) or self.merger.state.open_label is not None

    def brk(self) -> list[Event]:
        """Window break: empty the ring, restart the reference, close the open expression."""
        self.entries.clear()
        self.tags.clear()
        self.reference.reset()
        return self.merger.flush(cut_short=True)


def _reason(result: TrackResult) -> str | None:
    """Why this face's window breaks on this frame (None: it does not)."""
    if result.face.crop is not None:
        return None
    no_face = result.ended or result.face.status in (STATUS_NO_FACE, STATUS_UNCONFIRMED)
    return BREAK_NO_FACE if no_face else BREAK_TOO_SMALL


class MultiSpotter:
    """Spots every face in view (up to ``max_faces``), each with its own ``face_id``.

    spotter: the single-face :class:`~realtime.spotter.Spotter` whose engine, detector and
        settings are used (built from ``spotter_options`` when None).
    max_faces: at most this many faces followed at once (the largest new ones first).
    keep_s: a lost face that comes back within this many seconds, looking as it did, gets its
        id back (see :mod:`realtime.tracks`).
    label_first_face: stamp ``face_id=0`` on the first face's events too (default: None there,
        as the single-face spotter writes).
    """

    def __init__(self, spotter: Spotter | None = None, *, max_faces: int = DEFAULT_MAX_FACES,
                 keep_s: float = DEFAULT_KEEP_S, label_first_face: bool = False,
                 **spotter_options: Any) -> None:
        if spotter is not None and spotter_options:
            raise ValueError(f"pass either a spotter or Spotter options, not both "
                             f"(got {', '.join(sorted(spotter_options))})")
        if spotter is not None and not isinstance(spotter, Spotter):
            raise ValueError(f"spotter must be a Spotter, got {type(spotter).__name__}")
        self.base = spotter if spotter is not None else Spotter(**spotter_options)
        self.keep_s = check_number("keep_s", keep_s, 0, 3600, low_open=True)
        self.label_first_face = check_bool("label_first_face", label_first_face)
        self.tracks = FaceTracks(self.base.cropper, max_faces)
        self.engine = self.base.engine
        self.class_names = self.base.class_names
        self.stats = SpotterStats()
        self.fps_warning: str | None = None
        self.faces_seen = 0  # distinct face ids so far
        self._streams: dict[int, _FaceStream] = {}
        self._fps: float | None = None
        self._last_index: int | None = None
        self._resampler: Resampler | None = None
        self._last_faces: tuple[FaceOutput, ...] = ()

    @property
    def mergers(self) -> dict[int, OnlineMerger]:
        """Face id -> that face's online merger (every face seen since the last reset)."""
        return {face_id: stream.merger for face_id, stream in sorted(self._streams.items())}

    def input_state(self, face_id: int) -> object:
        """The input reference state of one face (None before its first frame or after a
        recalibration; see :meth:`realtime.reference.ReferenceDifference.state`)."""
        return self._streams[face_id].reference.state()

    @property
    def resampler(self) -> Resampler | None:
        """The stream's resampler, as :attr:`Spotter.resampler` (None: every frame is used)."""
        return self._resampler

    @property
    def max_faces(self) -> int:
        return self.tracks.max_faces

    @property
    def cropper(self) -> Any:
        return self.base.cropper

    @property
    def timings(self) -> EngineTimings:
        return self.engine.timings

    def reset(self) -> None:
        """Start afresh (new video): forget every face, buffered window and open expression."""
        self.tracks.reset()
        self._streams = {}
        self._fps = None
        self._last_index = None
        self._resampler = None
        self._last_faces = ()
        self.faces_seen = 0

    def flush(self) -> list[Event]:
        """End of stream: close every face's open expression (cut short)."""
        events: list[Event] = []
        for face_id in sorted(self._streams):
            events += self._streams[face_id].brk()
        rs = self._resampler
        events = events if rs is None else [rs.to_source(e) for e in events]
        self.stats.count_events(events)
        return events

    def recalibrate(self) -> list[Event]:
        """Restart every face's neutral reference now, as :meth:`Spotter.recalibrate` does for
        one face: each face's window breaks (its open expression is closed, cut short, and
        returned) and its next crop starts the reference afresh. ValueError, saying why, for
        graphs whose input keeps no reference (raw or lag-difference input)."""
        from realtime.reference import KIND_REFERENCE

        transform = self.engine.input_transform
        if transform.kind != KIND_REFERENCE:
            raise ValueError(f"this model's input is {transform.describe()}, which keeps no "
                             "reference of the face: there is nothing to recalibrate")
        events: list[Event] = []
        for face_id in sorted(self._streams):
            events += self._break(self._streams[face_id])
        rs = self._resampler
        events = events if rs is None else [rs.to_source(e) for e in events]
        self.stats.count_events(events)
        log.info("neutral reference restarted for %d face(s)", len(self._streams))
        return events

    def close(self) -> None:
        self.tracks.close()
        self.base.close()

    def __enter__(self) -> MultiSpotter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- per frame -----------------------------------------------------------------------------
    def _start(self, fps: float) -> float:
        """The stream's frame rate, fixed at its first frame (warns once when off the model's)."""
        if self._fps is None:
            self._fps = stream_fps(fps)
            self.tracks.keep_frames = max(1, round(self.keep_s * self._fps))
            self.tracks.reset()
            contract = getattr(self.engine, "contract", None)
            message = fps_mismatch(getattr(contract, "train_fps", None), self._fps)
            if message is not None and self.fps_warning is None:
                self.fps_warning = message
                self.base.fps_warning = message
                log.warning(message)
        return self._fps

    def _stream(self, face_id: int) -> _FaceStream:
        stream = self._streams.get(face_id)
        if stream is None:
            assert self._fps is not None
            stream = self._streams[face_id] = _FaceStream(
                face_id, self.base, self._fps, stamp=face_id > 0 or self.label_first_face)
            self.faces_seen = max(self.faces_seen, face_id + 1)
        return stream

    def _break(self, stream: _FaceStream) -> list[Event]:
        if stream.has_window():
            self.stats.breaks += 1
        return stream.brk()

    def _faces(self, frame: Frame) -> tuple[list[TrackResult], str | None]:
        """The tracks' results for this frame, or an error for an unusable frame."""
        t0 = time.perf_counter()
        try:
            if getattr(frame, "error", None):
                raise ValueError(frame.error)
            results, error = self.tracks.process(frame.image), None
        except ValueError as exc:
            results, error = [], f"frame {int(frame.index)}: {exc}"
            if self.stats.first_error is None:
                self.stats.first_error = error
        self.stats.face.add((time.perf_counter() - t0) * 1e3)
        return results, error

    def _count(self, results: list[TrackResult], error: str | None) -> None:
        fs = self.stats.face_status
        if error is not None:
            fs[STATUS_INVALID] += 1
        elif not any(r.face.box is not None for r in results):
            fs[STATUS_NO_FACE] += 1
        for r in results:
            if r.face.box is not None:
                fs[r.face.status] = fs.get(r.face.status, 0) + 1
        if sum(r.face.box is not None for r in results) > 1:
            self.stats.multiple_faces_frames += 1

    # -- resampling (realtime.resample), as the single-face spotter does ------------------------
    def _model_frame(self, frame: Frame) -> Frame | None:
        """``frame`` renumbered on the training rate's grid when the stream is resampled;
        None when resampling skips it."""
        if self._fps is None and self._resampler is None and self.base.resample:
            self._resampler = resampler_for(self.engine, frame.fps)
        if self._resampler is None:
            return frame
        kept = model_frame(self._resampler, frame)
        self.stats.resampled_out += kept is None
        return kept

    def _at_source(self, frame: Frame, out: MultiFrameOutput) -> MultiFrameOutput:
        """A model frame's output in the source's frame numbers."""
        rs = self._resampler
        if rs is None:
            return out

        def face(f: FaceOutput) -> FaceOutput:
            o, ci = f.output, f.output.classified_index
            o = dataclasses.replace(o, index=int(frame.index), time_s=float(frame.time_s),
                                    classified_index=None if ci is None else rs.source_frame(ci),
                                    events=tuple(rs.to_source(e) for e in o.events))
            return dataclasses.replace(f, output=o)

        return dataclasses.replace(out, index=int(frame.index), time_s=float(frame.time_s),
                                   faces=tuple(face(f) for f in out.faces),
                                   events=tuple(rs.to_source(e) for e in out.events))

    def _skipped(self, frame: Frame) -> MultiFrameOutput:
        """A frame that resampling skips: the last faces shown, nothing classified."""
        faces = tuple(FaceOutput(f.face_id, FrameOutput(
            index=int(frame.index), time_s=float(frame.time_s), face=f.output.face,
            face_status=f.output.face_status, open_expression=f.output.open_expression))
            for f in self._last_faces if not f.ended)
        return MultiFrameOutput(index=int(frame.index), time_s=float(frame.time_s), faces=faces,
                                events=(), num_detected=self.tracks.num_detected)

    def process(self, frame: Frame) -> MultiFrameOutput:
        """Crop, classify and merge every face of one frame (frames in order). A frame that
        resampling skips (a source much faster than the training rate) is not looked at."""
        model = self._model_frame(frame)
        if model is None:
            return self._skipped(frame)
        out = self._process_model(model)
        self._last_faces = out.faces
        return self._at_source(frame, out)

    def _process_model(self, frame: Frame) -> MultiFrameOutput:
        self._start(frame.fps)
        if self.stats.started_s is None:
            self.stats.started_s = time.perf_counter()
        self.stats.frames += 1
        index = int(frame.index)
        gap = self._last_index is not None and index != self._last_index + 1
        self._last_index = index
        results, error = self._faces(frame)
        self._count(results, error)
        t0 = time.perf_counter()
        events: dict[int, list[Event]] = {}
        reasons: dict[int, str | None] = {}
        if gap or error is not None:  # every window breaks
            for face_id, stream in self._streams.items():
                events[face_id] = self._break(stream)
        for r in results:
            if r.face_id is None:
                continue
            reasons[r.face_id] = _reason(r) or (BREAK_GAP if gap else None)
            if _reason(r) is not None:
                events.setdefault(r.face_id, []).extend(self._break(self._stream(r.face_id)))
        windows = self._classify(frame, results, events)
        engine_ms = (time.perf_counter() - t0) * 1e3
        faces = tuple(self._face_output(frame, r, events.get(r.face_id, []),
                                        reasons.get(r.face_id) if error is None else BREAK_INVALID,
                                        windows.get(r.face_id)) for r in results)
        flat = [e for face_id in sorted(events) for e in events[face_id]]
        self.stats.count_events(flat)
        self.stats.last_s = time.perf_counter()
        return MultiFrameOutput(index=index, time_s=float(frame.time_s), faces=faces,
                                events=tuple(flat), num_detected=self.tracks.num_detected,
                                error=error, face_ms=self.stats.face.last_ms, engine_ms=engine_ms)

    def _classify(self, frame: Frame, results: list[TrackResult],
                  events: dict[int, list[Event]]) -> dict[int, tuple[Any, int]]:
        """One backbone call for every face's crop, one head call for every full window;
        feeds the mergers. Returns face id -> (batch output, row) of the faces classified."""
        cropped = [r for r in results if r.face_id is not None and r.face.crop is not None]
        if not cropped:
            return {}
        streams = [self._stream(r.face_id) for r in cropped if r.face_id is not None]
        inputs = np.stack([s.reference.update(r.face.crop) for s, r in zip(streams, cropped)])
        entries = self.engine.frame_entries(inputs)
        tag = (int(frame.index), float(frame.time_s))
        for s, entry in zip(streams, entries):
            s.entries.append(entry)
            s.tags.append(tag)
        ready = [s for s in streams if s.ready]
        if not ready:
            return {}
        out = self.engine.classify_windows(np.stack([np.stack(s.entries) for s in ready]))
        classified = {}
        for row, s in enumerate(ready):
            idx, t = s.tags[out.first_middle]
            self.stats.classified += 1
            events.setdefault(s.face_id, []).extend(s.merger.update(idx, t, out.probs[row]))
            classified[s.face_id] = (out, row)
        return classified

    def _face_output(self, frame: Frame, r: TrackResult, events: list[Event],
                     reason: str | None, window: tuple[Any, int] | None) -> FaceOutput:
        stream = self._streams.get(r.face_id) if r.face_id is not None else None
        extra: dict[str, Any] = {}
        if window is not None and stream is not None:
            out, row = window
            probs = out.probs[row].copy()
            extra = dict(classified_index=stream.tags[out.first_middle][0],
                         classified_time_s=stream.tags[out.first_middle][1], probs=probs,
                         keyframe_scores=out.keyframe_scores[row].copy(),
                         label=self.class_names[label_of(probs, self.base.threshold)])
        output = FrameOutput(
            index=int(frame.index), time_s=float(frame.time_s), face=r.face,
            face_status=r.face.status, events=tuple(events), break_reason=reason,
            open_expression=None if stream is None else stream.merger.state.open_label,
            **extra)
        return FaceOutput(r.face_id, output, started=r.started, ended=r.ended)

    # -- whole sources -------------------------------------------------------------------------
    def run(self, source: Source | Iterable[Frame] | int | str | Path,
            on_event: Callable[[Event], Any] | None = None, *,
            on_frame: Callable[[Frame, MultiFrameOutput], Any] | None = None,
            batch_frames: int | None = None) -> Iterator[Event]:
        """Spot every face of a whole source; yields events (with ``face_id``) as confirmed.

        As :meth:`Spotter.run`; ``batch_frames`` is accepted for the same call shape and
        ignored: frames go one by one, the faces of a frame are the batch. At the end every
        open expression is closed (cut short) and yielded.
        """
        del batch_frames
        opened = None
        if not isinstance(source, Source) and isinstance(source, int | str | Path):
            source = opened = open_source(source)
        try:
            for frame in source:
                output = self.process(frame)
                if on_frame is not None:
                    on_frame(frame, output)
                for event in output.events:
                    if on_event is not None:
                        on_event(event)
                    yield event
            for event in self.flush():
                if on_event is not None:
                    on_event(event)
                yield event
        finally:
            if opened is not None:
                opened.close()
