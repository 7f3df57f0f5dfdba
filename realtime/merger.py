"""Online segment merger: per-frame class probabilities in, expression events out.

:class:`OnlineMerger` is the streaming form of :func:`realtime.postprocess.postprocess`: fed the
frames of a sequence one by one (plus :meth:`OnlineMerger.flush` at the end) it emits exactly
the segments the offline function returns for the whole sequence (same frames, type, apex,
peak and mean probability; a property test holds it to that). Call :meth:`~OnlineMerger.update`
once per classified frame (the middle frame of each K-frame window), in increasing frame order,
even when nothing is happening; it returns the events confirmed by that frame.

Frame labels follow :func:`realtime.postprocess.label_of` (plain argmax, or the optional
``expression_threshold`` rule). The run being tracked, the pending gap and the merge rule are
those of the offline steps 1-4; see that module for the definitions.

When events come out:

- ``onset``: from the ``update()`` at which the run, counting filled gap frames, first reaches
  ``min_length_frames``: normally frame ``onset + min_length_frames - 1`` (later only when that
  frame was a gap frame, then at the next expression frame that fills the gap). Runs that never
  reach the minimum give no event at all. With duration relabelling the final type is not
  known yet: the onset event carries the duration rule applied to the run so far (so "micro"
  unless ``min_length_frames`` exceeds the micro limit), and the segment event may say "macro".
- ``segment``: when the run can no longer grow. For a segment whose last expression frame is
  ``f`` that is the ``update()`` of frame ``f + 1`` if that frame carries another expression,
  otherwise at the latest the ``update()`` of frame ``f + G + 1``, the first frame at which the
  pending gap exceeds the merge gap G (a gap of exactly G could still be filled). Earlier
  than that is impossible: until frame ``f + G + 1`` is seen, merging may still join the run.

Latency bound: a segment event leaves at most ``G + 1`` classified frames after its last
frame, i.e. ``G`` frames after the first frame that does not continue it. Behind a K-frame
window the classifier sees frame ``f`` only once video frame ``f + (K - 1) / 2`` has arrived, so
end to end the event is out when video frame ``f + (K - 1) / 2 + G + 1`` has been captured
(K=5, G=1: 4 frames, 133 ms at 30 fps, 20 ms at 200 fps).

Breaks: a frame index that is not the previous one plus 1 (dropped frames, a face that was lost
and found again) closes the open run as ``cut_short`` before the new frame is handled, so
non-adjacent frames never join. :meth:`~OnlineMerger.flush` does the same at stream end or face
loss and forgets the last frame index; :meth:`~OnlineMerger.reset` discards everything silently.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from realtime.events import Event
from realtime.postprocess import (
    WITH_EXPRESSION,
    PostprocessConfig,
    check_threshold,
    frame_score,
    label_of,
    relabel_expression,
)
from realtime.vocab import check_class_names, check_fps, check_int


@dataclass(frozen=True)
class MergerState:
    """A read-only view of the merger between two updates (for tests, overlays and logs)."""

    open_label: str | None  # "micro"/"macro", "expression" while relabelling, None: no run
    onset_frame: int | None
    last_expression_frame: int | None
    length_frames: int  # run length incl. filled gaps, excl. the pending gap
    gap_frames: int  # "none" frames seen since last_expression_frame (<= G)
    onset_emitted: bool
    last_frame: int | None  # last frame index fed (None after flush/reset)


class _Run:
    """Mutable bookkeeping of the open expression run."""

    __slots__ = ("label", "onset", "onset_time", "last", "last_time", "length", "peak", "apex",
                 "total", "onset_emitted", "gap")

    def __init__(self, label: int, frame: int, time_s: float) -> None:
        self.label = label
        self.onset, self.onset_time = frame, time_s
        self.last, self.last_time = frame, time_s
        self.length = 0
        self.peak = -math.inf
        self.apex = frame
        self.total = 0.0
        self.onset_emitted = False
        self.gap: list[tuple[int, float]] = []  # (frame, score) of pending "none" frames

    def add(self, frame: int, score: float) -> None:
        self.length += 1
        self.total += score
        if score > self.peak:  # strict: the earliest frame of equal peaks stays the apex
            self.peak, self.apex = score, frame


class OnlineMerger:
    """Streaming segment merger; one :meth:`update` per classified frame.

    Args:
        class_names: class order of the model's probabilities; class 0 is "no expression",
            the others "micro"/"macro" (as in the ONNX contract), e.g.
            :data:`realtime.vocab.DEFAULT_CLASS_NAMES`.
        fps: frame rate of the video (for durations and duration relabelling), > 0.
        config: merging, minimum length and relabelling settings shared with offline
            :func:`realtime.postprocess.postprocess` (None: the defaults, G=1).
        expression_threshold: None for plain argmax, else in [0, 1]: the most probable
            expression wins when its probability reaches it (see ``label_of``).
        source, face_id: copied into every event.
    """

    def __init__(self, class_names: Sequence[str], fps: float,
                 config: PostprocessConfig | None = None, *,
                 expression_threshold: float | None = None, source: str | None = None,
                 face_id: int | None = None) -> None:
        self.class_names = check_class_names(class_names)
        self.fps = check_fps(fps)
        if config is None:
            config = PostprocessConfig()
        if not isinstance(config, PostprocessConfig):
            raise ValueError(f"config must be a PostprocessConfig, got {type(config).__name__}")
        self.config = config
        self.expression_threshold = check_threshold(expression_threshold)
        self.source = source
        self.face_id = face_id
        self._run: _Run | None = None
        self._last_frame: int | None = None

    # ------------------------------------------------------------------ public

    @property
    def state(self) -> MergerState:
        run = self._run
        if run is None:
            return MergerState(None, None, None, 0, 0, False, self._last_frame)
        return MergerState(self._label_name(run.label), run.onset, run.last, run.length,
                           len(run.gap), run.onset_emitted, self._last_frame)

    def update(self, frame_index: int, time_s: float, probs: np.ndarray) -> list[Event]:
        """Feed one classified frame; return the events it confirms (often none)."""
        frame, time_s, p = self._check_input(frame_index, time_s, probs)
        events: list[Event] = []
        if self._last_frame is not None and frame != self._last_frame + 1:
            events += self._close(cut_short=True)  # a gap in the stream is a break
        self._last_frame = frame

        label = label_of(p, self.expression_threshold)
        if self.config.relabel_by_duration and label > 0:
            label = WITH_EXPRESSION
        run = self._run
        if run is not None and label == run.label:
            for gap_frame, gap_score in run.gap:  # the gap is filled: it joins the run
                run.add(gap_frame, gap_score)
            run.gap.clear()
            run.add(frame, self._score(p, run.label))
            run.last, run.last_time = frame, time_s
        elif run is not None and label == 0:
            run.gap.append((frame, self._score(p, run.label)))
            if len(run.gap) > self.config.merge_gap_frames:
                events += self._close(cut_short=False)
            return events
        else:
            if run is not None:  # another expression starts: the open run has ended
                events += self._close(cut_short=False)
            if label == 0:
                return events
            run = self._run = _Run(label, frame, time_s)
            run.add(frame, self._score(p, label))
        if not run.onset_emitted and run.length >= self.config.min_length_frames:
            run.onset_emitted = True
            events.append(self._onset_event(run))
        return events

    def flush(self, cut_short: bool = True) -> list[Event]:
        """Close the open run (stream end, face loss) and forget the last frame index."""
        events = self._close(cut_short=cut_short)
        self._last_frame = None
        return events

    def reset(self) -> None:
        """Drop the open run and the last frame index without emitting anything."""
        self._run = None
        self._last_frame = None

    # ------------------------------------------------------------------ internals

    def _check_input(self, frame_index: int, time_s: float,
                     probs: np.ndarray) -> tuple[int, float, np.ndarray]:
        frame = check_int("frame_index", frame_index)
        if frame < 0:
            raise ValueError(f"frame_index must be >= 0, got {frame}")
        if self._last_frame is not None and frame <= self._last_frame:
            raise ValueError(f"frame_index must increase: got {frame} after {self._last_frame}")
        t = float(time_s)
        if not math.isfinite(t):
            raise ValueError(f"time_s must be finite, got {time_s!r}")
        p = np.asarray(probs, dtype=np.float64)
        if p.shape != (len(self.class_names),):
            raise ValueError(f"probs must have shape ({len(self.class_names)},) for classes "
                             f"{self.class_names}, got {p.shape}")
        if not np.all(np.isfinite(p)):
            raise ValueError(f"probs must be finite, got {p.tolist()}")
        return frame, t, p

    def _score(self, p: np.ndarray, label: int) -> float:
        return frame_score(p, label, self.config.relabel_by_duration)

    def _label_name(self, label: int) -> str:
        return "expression" if self.config.relabel_by_duration else self.class_names[label]

    def _expression(self, run: _Run) -> str:
        if self.config.relabel_by_duration:
            return relabel_expression(run.length, self.fps, self.config.micro_max_s)
        return self.class_names[run.label]

    def _onset_event(self, run: _Run) -> Event:
        return Event(kind="onset", expression=self._expression(run), onset_frame=run.onset,
                     offset_frame=None, apex_frame=run.apex, onset_time_s=run.onset_time,
                     offset_time_s=None, duration_s=None, confidence=run.peak,
                     mean_prob=run.total / run.length, cut_short=False, source=self.source,
                     face_id=self.face_id)

    def _close(self, cut_short: bool) -> list[Event]:
        run, self._run = self._run, None
        if run is None or run.length < self.config.min_length_frames:
            return []
        return [Event(kind="segment", expression=self._expression(run), onset_frame=run.onset,
                      offset_frame=run.last, apex_frame=run.apex, onset_time_s=run.onset_time,
                      offset_time_s=run.last_time, duration_s=run.length / self.fps,
                      confidence=run.peak, mean_prob=run.total / run.length,
                      cut_short=cut_short, source=self.source, face_id=self.face_id)]
