"""What the spotter reports: per-frame outputs, run counters, break reasons.

Split out of :mod:`realtime.spotter` (which re-exports every name) so the per-frame step and
the types it returns are read separately; :mod:`realtime.multiface` and the page use them too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from realtime.events import Event
from realtime.face import FACE_STATUSES, FaceResult
from realtime.timing import StageTimer

STATUS_INVALID = "invalid_frame"  # the frame itself was unusable (wrong dtype, NaN, empty)

# Why a window broke before this frame (FrameOutput.break_reason).
BREAK_NO_FACE = "no_face"
BREAK_TOO_SMALL = "too_small"
BREAK_GAP = "frame_gap"
BREAK_SIZE = "size_change"
BREAK_INVALID = "invalid_frame"


@dataclass(frozen=True)
class FrameOutput:
    """What the spotter made of one frame.

    index, time_s: the frame just processed.
    face: the cropper's result (None when the frame was invalid).
    face_status: one of realtime.face.FACE_STATUSES, or "invalid_frame".
    classified_index, classified_time_s: the frame classified now (the middle frame of the
        window that this frame completed; ``(K - 1) // 2`` frames earlier), None when no window
        was complete.
    probs: (Q,) class probabilities of the classified frame, None when none.
    keyframe_scores: (K,) key-frame scores of that window, None when none.
    label: class name of the classified frame (threshold rule applied), None when none.
    open_expression: the expression the merger is currently inside ("micro", "macro",
        "expression" while relabelling by duration), None when none.
    events: events confirmed by this frame, in order.
    break_reason: why the window broke at this frame (BREAK_*), None when it did not.
    error: message for an invalid frame, else None.
    face_ms, engine_ms: processing time of the two stages for this frame (engine_ms covers
        the window, the classification and the merger).
    merge_ms: the part of engine_ms spent in the online merger.
    """

    index: int
    time_s: float
    face: FaceResult | None
    face_status: str
    classified_index: int | None = None
    classified_time_s: float | None = None
    probs: np.ndarray | None = None
    keyframe_scores: np.ndarray | None = None
    label: str | None = None
    open_expression: str | None = None
    events: tuple[Event, ...] = ()
    break_reason: str | None = None
    error: str | None = None
    face_ms: float = 0.0
    engine_ms: float = 0.0
    merge_ms: float = 0.0

    @property
    def box(self) -> tuple[int, int, int, int] | None:
        return None if self.face is None else self.face.box

    @property
    def multiple_faces(self) -> bool:
        return self.face is not None and self.face.multiple_faces

    @property
    def num_faces(self) -> int:
        return 0 if self.face is None else self.face.num_faces

    @property
    def has_crop(self) -> bool:
        return self.face is not None and self.face.crop is not None


@dataclass
class SpotterStats:
    """Counters of one spotter since construction (bounded: no per-frame lists)."""

    frames: int = 0
    classified: int = 0
    breaks: int = 0
    events: int = 0
    onsets: int = 0
    segments: int = 0
    cut_short: int = 0
    multiple_faces_frames: int = 0
    resampled_out: int = 0  # source frames skipped to see the stream at the training rate
    first_error: str | None = None
    face_status: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys((*FACE_STATUSES, STATUS_INVALID), 0))
    face: StageTimer = field(default_factory=lambda: StageTimer("face"))
    started_s: float | None = None  # perf_counter at the first frame
    last_s: float | None = None  # perf_counter after the last frame

    def count_events(self, events: Iterable[Event]) -> None:
        for e in events:
            self.events += 1
            if e.kind == "onset":
                self.onsets += 1
            else:
                self.segments += 1
                self.cut_short += int(e.cut_short)

    @property
    def elapsed_s(self) -> float:
        if self.started_s is None or self.last_s is None:
            return 0.0
        return self.last_s - self.started_s

    @property
    def processing_fps(self) -> float:
        """Frames processed per second of wall time."""
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0
