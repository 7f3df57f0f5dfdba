"""Expression events: what the live spotter reports (written out by :mod:`realtime.sinks`).

Two kinds of event, both produced by :class:`realtime.merger.OnlineMerger`:

- ``onset``: an expression has started and is long enough to report; its end is not known yet
  (``offset_frame``, ``offset_time_s`` and ``duration_s`` are None, apex and confidence are the
  values so far).
- ``segment``: a finished expression with its final type, frames, times and scores.

The public JSON form (:meth:`Event.to_dict`, one object per line in JSONL files) has the keys
``kind, expression, onset_frame, offset_frame, apex_frame, onset_time, offset_time, duration,
confidence, mean_confidence, cut_short``; ``source`` and ``face_id`` are added when set. Times
are media time in seconds, frames are 0-based video frame indices, offsets inclusive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from realtime.vocab import Interval, check_expression

EVENT_KINDS = ("onset", "segment")
JSON_KEYS = ("kind", "expression", "onset_frame", "offset_frame", "apex_frame", "onset_time",
             "offset_time", "duration", "confidence", "mean_confidence", "cut_short")
OPTIONAL_KEYS = ("source", "face_id")
CSV_COLUMNS = JSON_KEYS + OPTIONAL_KEYS


@dataclass(frozen=True)
class Event:
    """One expression event; see the module docstring for the two kinds."""

    kind: str  # "onset" | "segment"
    expression: str  # "micro" | "macro"
    onset_frame: int
    offset_frame: int | None  # inclusive; None on onset events
    apex_frame: int  # frame of the peak probability (so far, on onset events)
    onset_time_s: float  # media time of onset_frame
    offset_time_s: float | None  # media time of offset_frame; None on onset events
    duration_s: float | None  # frames covered / fps; None on onset events
    confidence: float  # peak probability of the expression
    mean_prob: float  # mean probability over the segment's frames (so far, on onsets)
    cut_short: bool = False  # closed by face loss, stream end or a frame gap
    source: str | None = None  # e.g. camera id or file name
    face_id: int | None = None  # which tracked face, when several are spotted

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"kind must be 'onset' or 'segment', got {self.kind!r}")
        check_expression("expression", self.expression)
        if self.onset_frame < 0:
            raise ValueError(f"onset_frame must be >= 0, got {self.onset_frame}")
        ends = (self.offset_frame, self.offset_time_s, self.duration_s)
        if self.kind == "onset":
            if any(v is not None for v in ends):
                raise ValueError("onset events have no offset_frame, offset_time_s or duration_s")
            if self.apex_frame < self.onset_frame:
                raise ValueError(f"apex_frame {self.apex_frame} precedes onset_frame "
                                 f"{self.onset_frame}")
        else:
            if any(v is None for v in ends):
                raise ValueError("segment events need offset_frame, offset_time_s and duration_s")
            assert self.offset_frame is not None
            if self.offset_frame < self.onset_frame:
                raise ValueError(f"offset_frame {self.offset_frame} precedes onset_frame "
                                 f"{self.onset_frame}")
            if not self.onset_frame <= self.apex_frame <= self.offset_frame:
                raise ValueError(f"apex_frame {self.apex_frame} lies outside "
                                 f"[{self.onset_frame}, {self.offset_frame}]")

    @property
    def length_frames(self) -> int | None:
        if self.offset_frame is None:
            return None
        return self.offset_frame - self.onset_frame + 1

    def to_dict(self) -> dict[str, Any]:
        """The public JSON form (key names in the module docstring)."""
        d: dict[str, Any] = {
            "kind": self.kind,
            "expression": self.expression,
            "onset_frame": self.onset_frame,
            "offset_frame": self.offset_frame,
            "apex_frame": self.apex_frame,
            "onset_time": self.onset_time_s,
            "offset_time": self.offset_time_s,
            "duration": self.duration_s,
            "confidence": self.confidence,
            "mean_confidence": self.mean_prob,
            "cut_short": self.cut_short,
        }
        if self.source is not None:
            d["source"] = self.source
        if self.face_id is not None:
            d["face_id"] = self.face_id
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        """Inverse of :meth:`to_dict` (raises ValueError naming a missing key)."""
        missing = [k for k in JSON_KEYS if k not in d]
        if missing:
            raise ValueError(f"event lacks key(s) {', '.join(missing)}")

        def opt(key: str, kind: type) -> Any:
            return None if d[key] is None else kind(d[key])

        return cls(kind=str(d["kind"]), expression=str(d["expression"]),
                   onset_frame=int(d["onset_frame"]), offset_frame=opt("offset_frame", int),
                   apex_frame=int(d["apex_frame"]), onset_time_s=float(d["onset_time"]),
                   offset_time_s=opt("offset_time", float), duration_s=opt("duration", float),
                   confidence=float(d["confidence"]), mean_prob=float(d["mean_confidence"]),
                   cut_short=bool(d["cut_short"]),
                   source=None if d.get("source") is None else str(d["source"]),
                   face_id=None if d.get("face_id") is None else int(d["face_id"]))

    def to_interval(self, subject: str, video: str) -> Interval:
        """A segment event as a metric interval (onset events have no interval)."""
        if self.offset_frame is None:
            raise ValueError("only segment events convert to intervals")
        return Interval(subject, video, self.onset_frame, self.offset_frame, self.expression)
