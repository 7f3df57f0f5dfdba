"""The live spotter: frames in, expression events out (face crop -> engine -> online merger).

One :class:`Spotter` follows one stream. Per frame (:meth:`Spotter.process`):

1. the :class:`~realtime.face.FaceCropper` finds, follows and crops the face (the tracked face,
   else the largest; ``multiple_faces`` says when there were more);
2. the crop goes to the :class:`~realtime.engine.Engine`, which classifies the middle frame of
   the last K consecutive crops (``(K - 1) // 2`` frames behind the newest); the media time
   and index of that frame travel with it through the engine;
3. the class probabilities of that frame feed the :class:`~realtime.merger.OnlineMerger`, which
   returns the events confirmed now.

Breaks: a frame without a usable crop (no face, an unconfirmed weak detection, face too small,
invalid image), a gap in the frame indices (frames dropped by a live source) or a change of
frame size ends the window: the engine's buffer empties and the open expression is closed and
reported ``cut_short``. Windows never span non-adjacent frames.

:meth:`Spotter.run` iterates a whole source. For a recorded source read as fast as possible it
classifies runs of consecutive crops in batches (:meth:`Engine.run_batch`), which gives the same
events as frame-by-frame processing, sooner in total and later for each frame.

Torch-free.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from realtime.contract import fps_mismatch
from realtime.engine import Engine, EngineError, WindowOutput
from realtime.events import Event
from realtime.face import (
    STATUS_NO_FACE,
    STATUS_UNCONFIRMED,
    FaceCropConfig,
    FaceCropper,
    FaceResult,
    TimingCallback,
)
from realtime.merger import OnlineMerger
from realtime.postprocess import (
    MODEL,
    PostprocessChoice,
    PostprocessConfig,
    PostprocessSetting,
    check_threshold,
    label_of,
)
from realtime.readers import DEFAULT_FPS, stream_fps
from realtime.resample import Resampler, model_frame, resampler_for
from realtime.sources import Frame, Source, open_source
from realtime.spotter_output import (  # noqa: F401 (re-exported: the spotter's public types)
    BREAK_GAP,
    BREAK_INVALID,
    BREAK_NO_FACE,
    BREAK_SIZE,
    BREAK_TOO_SMALL,
    STATUS_INVALID,
    FrameOutput,
    SpotterStats,
)
from realtime.timing import EngineTimings
from realtime.vocab import check_bool, check_int

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
DEFAULT_BATCH_FRAMES = 32
MAX_BATCH_FRAMES = 4096
def _choice_of(postprocess: object, threshold: float | None) -> PostprocessChoice | None:
    """What the Spotter resolves per stream, or None for a fixed PostprocessConfig."""
    if isinstance(postprocess, PostprocessConfig):
        return None
    if isinstance(postprocess, PostprocessChoice):
        if threshold is not None:
            raise ValueError("give the threshold inside the PostprocessChoice, not beside it")
        return postprocess
    if postprocess is not None:
        raise ValueError(f"postprocess must be a PostprocessConfig, a PostprocessChoice or "
                         f"None, got {type(postprocess).__name__}")
    return PostprocessChoice(threshold=MODEL if threshold is None else check_threshold(threshold))


def _recommended(engine: Engine) -> PostprocessSetting:
    """The engine's graphs' recommended post-processing (the paper's for a stand-in engine)."""
    contract = getattr(engine, "contract", None)
    setting = getattr(contract, "recommended", None)
    return setting if isinstance(setting, PostprocessSetting) else PostprocessSetting()


class Spotter:
    """Face cropper + ONNX engine + online merger for one stream.

    weights_dir: folder of the exported graphs (``python -m export onnx``).
    provider, mode, threads: see :class:`realtime.engine.Engine`.
    face_config: face cropping settings; its crop_size must equal the graphs' crop size.
    postprocess: merging / minimum length / duration relabelling (shared with offline use).
        None: the model's recommended setting (``engine.contract.recommended``, chosen on
        validation subjects; the paper's for graphs that name none), converted to frames at
        the stream's rate when the first frame arrives. A
        :class:`~realtime.postprocess.PostprocessChoice` overrides parts of it (its own
        threshold field then applies). A :class:`PostprocessConfig` is used as given.
    threshold: the expression probability threshold in [0, 1]; None: argmax labels with a
        PostprocessConfig, the recommended threshold with ``postprocess=None``.
    source_name: copied into every event's ``source`` field (None: left out).
    engine: an already built engine to use instead of opening ``weights_dir``.
    on_face_timing: ``callback(stage, ms)`` for the face cropper's steps (see
        :class:`~realtime.face.FaceCropper`); None times nothing.
    backbone_file: see :class:`realtime.engine.Engine` (None: the folder's int8 backbone on
        CPU when it has one, else ``backbone.onnx``).
    resample: show the model a source of at least 1.5x its training rate (``train_fps`` in the
        contract) at the training rate, as :class:`realtime.resample.Resampler` does; events
        and outputs keep the source's frame numbers and times. False feeds every frame.
    """

    def __init__(self, weights_dir: str | Path = DEFAULT_WEIGHTS, provider: str = "auto",
                 mode: str = "cached", face_config: FaceCropConfig | None = None,
                 postprocess: PostprocessConfig | PostprocessChoice | None = None,
                 threshold: float | None = None, *, threads: int | None = None,
                 source_name: str | None = None, engine: Engine | None = None,
                 on_face_timing: TimingCallback | None = None,
                 backbone_file: str | Path | None = None, resample: bool = True) -> None:
        self.face_config = face_config if face_config is not None else FaceCropConfig()
        if not isinstance(self.face_config, FaceCropConfig):
            raise ValueError(f"face_config must be a FaceCropConfig, "
                             f"got {type(face_config).__name__}")
        self._choice = _choice_of(postprocess, threshold)
        self.postprocess = postprocess if isinstance(postprocess, PostprocessConfig) else (
            PostprocessConfig())
        self.threshold = check_threshold(threshold)
        self.source_name = source_name
        self.weights_dir = Path(weights_dir)
        if engine is None:
            try:
                engine = Engine(self.weights_dir, provider=provider, mode=mode, threads=threads,
                                backbone_file=backbone_file)
            except EngineError as exc:
                if self.weights_dir == DEFAULT_WEIGHTS and not (
                        DEFAULT_WEIGHTS / "backbone.onnx").is_file():
                    raise EngineError(f"no trained graphs in the default weights folder "
                                      f"{DEFAULT_WEIGHTS} yet ({exc}); pass --weights DIR "
                                      "(Python: weights_dir=...)") from None
                raise
        self.engine = engine
        if self.face_config.crop_size != engine.crop_size:
            raise ValueError(f"face_config.crop_size is {self.face_config.crop_size} but the "
                             f"graphs in {engine.graph_dir} take {engine.crop_size} px crops")
        self.class_names = engine.class_names
        self.recommended = _recommended(engine)
        if self._choice is not None:  # until the first frame gives the rate: at 30 fps
            self.postprocess, self.threshold = self._choice.resolve(self.recommended,
                                                                    DEFAULT_FPS)
        self.cropper = FaceCropper(self.face_config, on_timing=on_face_timing)
        self.stats = SpotterStats()
        self._merger: OnlineMerger | None = None
        self._fps: float | None = None
        self._last_index: int | None = None
        self._last_shape: tuple[int, int] | None = None
        # Batch mode: consecutive crops waiting for classification, with K - 1 crops of context.
        self._pending_crops: list[np.ndarray] = []
        self._pending_tags: list[tuple[int, float]] = []
        self._context = 0  # leading entries of the pending lists that were classified already
        self.resample = check_bool("resample", resample)
        self._resampler: Resampler | None = None  # created at the first frame when needed
        self._last_face: tuple[FaceResult | None, str] = (None, STATUS_INVALID)
        self.fps_warning: str | None = None  # set (and logged once) when the source's frame
        # rate differs from the training rate by more than 15 %

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def merger(self) -> OnlineMerger | None:
        """The merger (created at the first frame, when the frame rate is known)."""
        return self._merger

    @property
    def timings(self) -> EngineTimings:
        return self.engine.timings

    def reset(self) -> None:
        """Start afresh (new video): forget face, buffered frames and any open expression."""
        self.cropper.reset()
        self.engine.reset()
        if self._merger is not None:
            self._merger.reset()
        self._merger = None
        self._fps = None
        self._resampler = None
        self._last_index = None
        self._last_shape = None
        self._clear_pending()

    def flush(self) -> list[Event]:
        """End of stream (or face loss): classify what is pending, close the open expression
        as ``cut_short`` and empty the window. Returns the events."""
        events = self._run_pending()
        events += self._break()
        events = self._source_events(events)
        self.stats.count_events(events)
        return events

    def close(self) -> None:
        """Release the face detector. The spotter is unusable afterwards."""
        self.cropper.close()

    def __enter__(self) -> Spotter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- per frame -----------------------------------------------------------------------------
    def _ensure_merger(self, fps: float) -> OnlineMerger:
        if self._merger is None:
            self._fps = stream_fps(fps)
            self._check_fps(self._fps)
            if self._choice is not None:
                self.postprocess, self.threshold = self._choice.resolve(self.recommended,
                                                                        self._fps)
            self._merger = OnlineMerger(self.class_names, self._fps, self.postprocess,
                                        expression_threshold=self.threshold,
                                        source=self.source_name)
        return self._merger

    def _check_fps(self, fps: float) -> None:
        """Warn once per spotter when the stream's rate is not the one the model learnt at."""
        contract = getattr(self.engine, "contract", None)
        message = fps_mismatch(getattr(contract, "train_fps", None), fps)
        if message is not None and self.fps_warning is None:
            self.fps_warning = message
            log.warning(message)

    def _break(self) -> list[Event]:
        """Window break: empty the engine's buffer, close the open expression (cut short)."""
        self.engine.reset()
        self._clear_pending()
        if self._merger is None:
            return []
        return self._merger.flush(cut_short=True)

    def _face_step(self, frame: Frame) -> tuple[FaceResult | None, str, str | None, str | None]:
        """Crop the face; returns (face, status, break_reason, error) and updates counters."""
        if self.stats.started_s is None:
            self.stats.started_s = time.perf_counter()
        self.stats.frames += 1
        index = int(frame.index)
        gap = self._last_index is not None and index != self._last_index + 1
        self._last_index = index
        image = frame.image
        shape = image.shape[:2] if isinstance(image, np.ndarray) and image.ndim >= 2 else None
        resized = shape is not None and self._last_shape is not None and shape != self._last_shape
        if shape is not None:
            self._last_shape = shape
        t0 = time.perf_counter()
        try:
            if getattr(frame, "error", None):  # the source could not read this frame
                raise ValueError(frame.error)
            face: FaceResult | None = self.cropper.process(image)
            error = None
        except ValueError as exc:  # wrong dtype / NaN / empty: the frame, not the stream
            face, error = None, f"frame {index}: {exc}"
            if self.stats.first_error is None:
                self.stats.first_error = error
        self.stats.face.add((time.perf_counter() - t0) * 1e3)
        status = STATUS_INVALID if face is None else face.status
        self.stats.face_status[status] = self.stats.face_status.get(status, 0) + 1
        if face is not None and face.multiple_faces:
            self.stats.multiple_faces_frames += 1
        reason = None
        if face is None:
            reason = BREAK_INVALID
        elif face.crop is None:
            no_face = face.status in (STATUS_NO_FACE, STATUS_UNCONFIRMED)
            reason = BREAK_NO_FACE if no_face else BREAK_TOO_SMALL
        elif gap:
            reason = BREAK_GAP
        elif resized:
            reason = BREAK_SIZE
        return face, status, reason, error

    def _classified(self, index: int, time_s: float, probs: np.ndarray) -> list[Event]:
        assert self._merger is not None
        self.stats.classified += 1
        return self._merger.update(index, time_s, probs)

    def _window_break(self, reason: str | None) -> list[Event]:
        """The break rule of both paths: when ``reason`` is set, classify what is pending,
        close the open expression and empty the window (counted when there was one)."""
        if reason is None:
            return []
        events = self._run_pending()
        merger = self._merger
        had_window = self.engine.buffered > 0 or bool(self._pending_crops) or (
            merger is not None and merger.state.open_label is not None)
        events += self._break()
        if had_window:
            self.stats.breaks += 1
        return events

    def _finish(self, events: list[Event]) -> None:
        self.stats.count_events(events)
        self.stats.last_s = time.perf_counter()

    def settings_at(self, fps: float) -> tuple[PostprocessConfig, float | None]:
        """(post-processing, threshold) for a stream at ``fps``: the recommendation or choice
        resolved at that rate, or the fixed PostprocessConfig given at construction."""
        if self._choice is None:
            return self.postprocess, self.threshold
        return self._choice.resolve(self.recommended, fps)

    # -- resampling (realtime.resample) ----------------------------------------------------------
    @property
    def resampler(self) -> Resampler | None:
        """The stream's resampler (None: every frame goes to the model)."""
        return self._resampler

    def _model_frame(self, frame: Frame) -> Frame | None:
        """``frame`` as the model sees it: renumbered on the training rate's grid when the
        stream is resampled; None when resampling skips it."""
        if self._merger is None and self._resampler is None and self.resample:
            self._resampler = resampler_for(self.engine, frame.fps)
            if self._resampler is not None:
                log.info("resampling the %.1f fps source to the model's %g fps", frame.fps,
                         self._resampler.target_fps)
        if self._resampler is None:
            return frame
        kept = model_frame(self._resampler, frame)
        self.stats.resampled_out += kept is None
        return kept

    def _source_events(self, events: list[Event]) -> list[Event]:
        rs = self._resampler
        return events if rs is None or not events else [rs.to_source(e) for e in events]

    def _skipped(self, frame: Frame) -> FrameOutput:
        """What a frame skipped by resampling shows: the last face, nothing classified."""
        face, status = self._last_face
        merger = self._merger
        return FrameOutput(index=int(frame.index), time_s=float(frame.time_s), face=face,
                           face_status=status,
                           open_expression=None if merger is None else merger.state.open_label)

    def process(self, frame: Frame) -> FrameOutput:
        """The one per-frame step: crop, classify, merge one frame (frames in order).

        Returns what happened, events included; :meth:`run`, the page and the benchmark all
        go through it. A frame that resampling skips is not cropped or classified.
        """
        model_frame = self._model_frame(frame)
        if model_frame is None:
            return self._skipped(frame)
        out = self._process_frame(model_frame)
        self._last_face = (out.face, out.face_status)
        rs = self._resampler
        if rs is None:
            return out
        return dataclasses.replace(
            out, index=int(frame.index), time_s=float(frame.time_s),
            classified_index=None if out.classified_index is None
            else rs.source_frame(out.classified_index),
            events=tuple(self._source_events(list(out.events))))

    def _process_frame(self, frame: Frame) -> FrameOutput:
        merger = self._ensure_merger(frame.fps)
        face, status, reason, error = self._face_step(frame)
        t0 = time.perf_counter()
        events = self._window_break(reason)
        out: WindowOutput | None = None
        merge_ms = 0.0
        if face is not None and face.crop is not None:
            out = self.engine.push(face.crop, tag=(int(frame.index), float(frame.time_s)))
            if out is not None:
                idx, t = out.tag
                t1 = time.perf_counter()
                events += self._classified(idx, t, out.probs)
                merge_ms = (time.perf_counter() - t1) * 1e3
        engine_ms = (time.perf_counter() - t0) * 1e3
        self._finish(events)
        return FrameOutput(
            index=int(frame.index), time_s=float(frame.time_s), face=face, face_status=status,
            classified_index=None if out is None else out.tag[0],
            classified_time_s=None if out is None else out.tag[1],
            probs=None if out is None else out.probs,
            keyframe_scores=None if out is None else out.keyframe_scores,
            label=None if out is None else self.class_names[label_of(out.probs, self.threshold)],
            open_expression=merger.state.open_label, events=tuple(events), break_reason=reason,
            error=error, face_ms=self.stats.face.last_ms, engine_ms=engine_ms, merge_ms=merge_ms)

    # -- batch mode ----------------------------------------------------------------------------
    def _clear_pending(self) -> None:
        self._pending_crops.clear()
        self._pending_tags.clear()
        self._context = 0

    def _run_pending(self) -> list[Event]:
        """Classify the pending crops; keep the last K - 1 as context for the next batch."""
        k = self.engine.window
        n = len(self._pending_crops)
        if n < k or n == self._context:
            return []
        result = self.engine.run_batch(np.stack(self._pending_crops))
        events: list[Event] = []
        # Row i is the window of crops i..i+K-1; rows already classified are skipped.
        first_new = max(self._context - (k - 1), 0)
        for i in range(first_new, len(result)):
            idx, t = self._pending_tags[i + result.first_middle]
            events += self._classified(idx, t, result.probs[i])
        keep = k - 1
        del self._pending_crops[:-keep]
        del self._pending_tags[:-keep]
        self._context = len(self._pending_crops)
        return events

    def _process_batched(self, frame: Frame, batch_frames: int) -> list[Event]:
        """Batch-mode counterpart of :meth:`process`: same events, emitted per batch."""
        model_frame = self._model_frame(frame)
        if model_frame is None:
            return []
        frame = model_frame
        self._ensure_merger(frame.fps)
        face, _, reason, _ = self._face_step(frame)
        events = self._window_break(reason)
        if face is not None and face.crop is not None:
            self._pending_crops.append(face.crop)
            self._pending_tags.append((int(frame.index), float(frame.time_s)))
            if len(self._pending_crops) - self._context >= batch_frames:
                events += self._run_pending()
        events = self._source_events(events)
        self._finish(events)
        return events

    # -- whole sources -------------------------------------------------------------------------
    def run(self, source: Source | Iterable[Frame] | int | str | Path,
            on_event: Callable[[Event], Any] | None = None, *,
            on_frame: Callable[[Frame, FrameOutput], Any] | None = None,
            batch_frames: int | None = None) -> Iterator[Event]:
        """Spot expressions in a whole source; yields events as they are confirmed.

        source: an opened :class:`~realtime.sources.Source`, any iterable of
            :class:`~realtime.sources.Frame`, or a spec for :func:`~realtime.sources.open_source`
            (opened here and closed at the end).
        on_event: called with each event as well (iterate the result to drive the run, e.g.
            ``for _ in spotter.run(src, on_event=print): pass``).
        on_frame: called with each frame and its :class:`FrameOutput` (forces frame-by-frame
            processing).
        batch_frames: 1 = frame by frame; N > 1 = classify N crops per batch (same events,
            emitted later); None = batches of 32 for a recorded source read as fast as possible
            without ``on_frame``, else frame by frame.

        At the end of the source the open expression is closed (cut short) and yielded.
        If the consumer stops early, call :meth:`flush` for the events still open.
        """
        batch = check_int("batch_frames", batch_frames, 1, MAX_BATCH_FRAMES, optional=True)
        return self._run(source, on_event, on_frame, batch)

    def _run(self, source: Source | Iterable[Frame] | int | str | Path,
             on_event: Callable[[Event], Any] | None,
             on_frame: Callable[[Frame, FrameOutput], Any] | None,
             batch_frames: int | None) -> Iterator[Event]:
        opened = None
        if not isinstance(source, Source) and (isinstance(source, int | str | Path)):
            source = opened = open_source(source)
        if batch_frames is None:
            recorded = isinstance(source, Source) and not source.is_live and not source.realtime
            batch_frames = DEFAULT_BATCH_FRAMES if recorded and on_frame is None else 1
        elif on_frame is not None:
            batch_frames = 1
        try:
            for frame in source:
                if batch_frames == 1:
                    output = self.process(frame)
                    if on_frame is not None:
                        on_frame(frame, output)
                    events: Iterable[Event] = output.events
                else:
                    events = self._process_batched(frame, batch_frames)
                for event in events:
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

    # -- calibration ---------------------------------------------------------------------------
    def recalibrate(self) -> list[Event]:
        """Restart the person's neutral reference now: the next face crop starts it afresh.

        Only for graphs whose input is a reference difference (the contract's
        ``input_transform`` kind ``reference_difference``): each crop minus a running average
        of the face's earlier crops, which otherwise restarts only when the face is lost. Call
        it while the person shows a neutral face. As at any window break, the frame window
        empties (the next K frames fill it) and the open expression is closed, cut short, and
        returned: a window never mixes two references. Logs what it did.

        ValueError, saying why, for raw or lag-difference input (no reference to restart).
        """
        from realtime.reference import KIND_REFERENCE

        transform = self.engine.input_transform
        if transform.kind != KIND_REFERENCE:
            raise ValueError(f"this model's input is {transform.describe()}, which keeps no "
                             "reference of the face: there is nothing to recalibrate")
        events = self._window_break("recalibrate")
        self.stats.count_events(events)
        after = "the first frame" if self._last_index is None else f"frame {self._last_index}"
        log.info("neutral reference restarted after %s: the next face crop starts it", after)
        return events
