"""Per-frame labels -> expression segments: the one post-processing definition.

Used offline (evaluation of whole videos) and, step by step, by the online merger
(:mod:`realtime.merger`), which must produce exactly the same segments.

Input: one integer label per classified frame, an index into ``class_names``
(default ``("none", "micro", "macro")``; class 0 is always "no expression").
Optionally the (N, Q) class probabilities of the same frames.

Steps, in this order (Fu et al. 2023, section 2.4 and 3.2, Tables 3 and 4):

1. Duration relabelling only (``relabel_by_duration=True``): every expression label becomes one
   "with-expression" label, so adjacent micro and macro frames form one run and gaps between
   them can be filled; the micro/macro decision is made in step 4 from duration alone.
2. Segment merging: a run of at most ``merge_gap_frames`` (G) "none" frames lying between two
   runs of the same label takes that label (the paper's G is 1: a no-expression frame whose two
   neighbours carry the same expression). Runs at the start or end of the sequence, and gaps
   between different expressions, are never filled. Every gap is judged on the original labels,
   so the result does not depend on the order gaps are visited.
3. Minimum length: expression runs shorter than ``min_length_frames`` are dropped. Merging comes
   first on purpose: it rescues fragments that would otherwise be dropped (the paper's reason
   for merging).
4. Duration relabelling only: a with-expression segment of ``n`` frames is micro when
   ``n <= floor(micro_max_s * fps)`` (duration ``n / fps <= micro_max_s``), macro otherwise.
   With the paper's 0.5 s this is 15 frames at 30 fps and 100 frames at 200 fps, the thresholds
   printed in section 3.2; at 29.97 fps it is 14 frames. Integer arithmetic on the frame count
   (with a 1e-9 guard against 0.5 * 30 landing just under 15) keeps online and offline equal.

Optional expression threshold (:func:`labels_from_probs`): with ``expression_threshold=t`` the
most probable expression class is chosen when its probability is >= t, otherwise "none"; the
probability of "none" is then not compared. ``None`` means plain argmax over all classes.
Lower t raises recall, higher t raises precision.

Segment scores: the frame score of a segment is the probability of its class, or, with duration
relabelling, the with-expression probability ``sum(probs[1:])``. ``peak_prob`` is the highest
frame score in the segment (gap-filled frames included), ``apex`` the earliest frame reaching it,
``mean_prob`` the mean over all its frames. Without probabilities the apex is the middle frame
``(onset + offset) // 2`` and the scores are None.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from realtime.vocab import (
    DEFAULT_CLASS_NAMES,
    Interval,
    check_bool,
    check_class_names,
    check_fps,
    check_int,
    check_number,
)

WITH_EXPRESSION = 1  # the single expression label used while relabelling by duration


@dataclass(frozen=True)
class PostprocessConfig:
    """Segment post-processing settings (frames are classified frames, i.e. video frames)."""

    merge_gap_frames: int = 1  # G: longest run of "none" filled between equal expressions
    min_length_frames: int = 1  # shorter expression segments are dropped
    relabel_by_duration: bool = False  # micro/macro from duration instead of the classifier
    micro_max_s: float = 0.5  # longest micro-expression, seconds (with relabel_by_duration)

    def __post_init__(self) -> None:
        check_int("merge_gap_frames", self.merge_gap_frames, 0)
        check_int("min_length_frames", self.min_length_frames, 1)
        check_bool("relabel_by_duration", self.relabel_by_duration)
        check_number("micro_max_s", self.micro_max_s, 0, low_open=True, what="a finite number")


PAPER_SETTING_NOTE = "the paper's post-processing (merge gap 1 frame, argmax, classifier types)"


@dataclass(frozen=True)
class PostprocessSetting:
    """A model's recommended post-processing, free of any frame rate (carried in the graphs'
    contract, ``Contract.recommended``; chosen on validation subjects by ``export tune``).

    merge_gap_s: longest "none" gap filled, in seconds; None means the paper's G = 1 frame at
        any rate. Converted with the stream's rate: ``max(1, round(merge_gap_s * fps))``.
    expression_threshold: None for argmax labels (see :func:`labels_from_probs`).
    chosen_on: where the setting comes from, in words (shown to users).
    """

    merge_gap_s: float | None = None
    min_length_frames: int = 1
    relabel_by_duration: bool = False
    expression_threshold: float | None = None
    chosen_on: str = PAPER_SETTING_NOTE

    def __post_init__(self) -> None:
        check_number("merge_gap_s", self.merge_gap_s, 0, 60, low_open=True, optional=True,
                     what="a number of seconds")
        check_int("min_length_frames", self.min_length_frames, 1)
        check_bool("relabel_by_duration", self.relabel_by_duration)
        check_threshold(self.expression_threshold)

    def merge_gap_frames(self, fps: float) -> int:
        """The merge gap G in frames of a stream at ``fps``."""
        if self.merge_gap_s is None:
            return 1
        return max(1, int(round(self.merge_gap_s * check_fps(fps))))

    def config(self, fps: float) -> PostprocessConfig:
        """The frame-based settings for a stream at ``fps``."""
        return PostprocessConfig(merge_gap_frames=self.merge_gap_frames(fps),
                                 min_length_frames=self.min_length_frames,
                                 relabel_by_duration=self.relabel_by_duration)

    def describe(self, fps: float) -> str:
        """One line for users: the setting at ``fps`` and where it comes from."""
        return (describe_settings(self.config(fps), self.expression_threshold, fps)
                + f"; {self.chosen_on}")

    def to_dict(self) -> dict[str, object]:
        return {"merge_gap_s": self.merge_gap_s, "min_length_frames": self.min_length_frames,
                "relabel_by_duration": self.relabel_by_duration,
                "expression_threshold": self.expression_threshold, "chosen_on": self.chosen_on}

    @classmethod
    def from_dict(cls, d: object) -> PostprocessSetting:
        """From :meth:`to_dict` output; None or {} gives the paper's setting."""
        if not d:
            return cls()
        if not isinstance(d, dict):
            raise ValueError(f"a post-processing setting must be a JSON object, got {d!r}")
        unknown = set(d) - {"merge_gap_s", "min_length_frames", "relabel_by_duration",
                            "expression_threshold", "chosen_on"}
        if unknown:
            raise ValueError(f"unknown post-processing fields {sorted(unknown)}")
        return cls(**d)  # type: ignore[arg-type]


def describe_settings(config: PostprocessConfig, threshold: float | None, fps: float) -> str:
    """Frame-based settings in words: gap in frames and seconds, label rule, how types are
    named (shared by :meth:`PostprocessSetting.describe` and the commands' run line)."""
    gap = config.merge_gap_frames
    rule = "argmax labels" if threshold is None else f"expression probability >= {threshold:g}"
    kind = ("types by duration (micro up to 0.5 s)" if config.relabel_by_duration
            else "types from the classifier")
    return (f"merge gap {gap} frame{'s' if gap != 1 else ''} ({gap / check_fps(fps):.2f} s), "
            f"{rule}, {kind}")


MODEL = "model"  # PostprocessChoice.threshold: the model's recommended threshold


@dataclass(frozen=True)
class PostprocessChoice:
    """A user's choices on top of a model's :class:`PostprocessSetting`: each None field (and
    ``threshold=MODEL``) keeps the recommendation; ``threshold=None`` asks for argmax labels.
    Used by ``spot``, ``batch`` and :class:`realtime.spotter.Spotter`."""

    merge_gap_frames: int | None = None
    min_length_frames: int | None = None
    relabel_by_duration: bool | None = None
    threshold: float | str | None = MODEL

    def __post_init__(self) -> None:
        check_int("merge_gap_frames", self.merge_gap_frames, 0, optional=True)
        check_int("min_length_frames", self.min_length_frames, 1, optional=True)
        if self.relabel_by_duration is not None:
            check_bool("relabel_by_duration", self.relabel_by_duration)
        if self.threshold != MODEL:
            check_threshold(self.threshold)  # type: ignore[arg-type]

    def resolve(self, setting: PostprocessSetting, fps: float
                ) -> tuple[PostprocessConfig, float | None]:
        """(frame-based settings, expression threshold) for a stream at ``fps``."""
        rec = setting.config(fps)
        config = PostprocessConfig(
            merge_gap_frames=rec.merge_gap_frames if self.merge_gap_frames is None
            else self.merge_gap_frames,
            min_length_frames=rec.min_length_frames if self.min_length_frames is None
            else self.min_length_frames,
            relabel_by_duration=rec.relabel_by_duration if self.relabel_by_duration is None
            else self.relabel_by_duration)
        threshold = setting.expression_threshold if self.threshold == MODEL else self.threshold
        return config, threshold  # type: ignore[return-value]


def parse_threshold_option(text: str | None) -> float | str | None:
    """A ``--threshold`` value: absent -> MODEL, "argmax" -> None, else a number in [0, 1]."""
    if text is None:
        return MODEL
    if text.strip().lower() == "argmax":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expression_threshold must be a number in [0, 1] or 'argmax', "
                         f"got {text!r}") from None
    return check_threshold(value)


@dataclass(frozen=True)
class Segment:
    """One expression segment: inclusive frames ``onset..offset`` with its apex frame."""

    onset: int
    offset: int
    apex: int
    expression: str
    peak_prob: float | None = None
    mean_prob: float | None = None

    @property
    def length_frames(self) -> int:
        return self.offset - self.onset + 1

    def duration_s(self, fps: float) -> float:
        """Nominal duration: frames covered divided by the frame rate."""
        return self.length_frames / fps

    def to_interval(self, subject: str, video: str) -> Interval:
        """This segment as a metric interval of one video."""
        return Interval(subject, video, self.onset, self.offset, self.expression)


def check_threshold(expression_threshold: float | None) -> float | None:
    """None (plain argmax) or an expression probability threshold in [0, 1]."""
    return check_number("expression_threshold", expression_threshold, 0, 1, optional=True,
                        what="")


def micro_max_frames(fps: float, micro_max_s: float = 0.5) -> int:
    """Longest segment, in frames, that duration relabelling calls micro (15 at 30 fps)."""
    return int(math.floor(micro_max_s * check_fps(fps) + 1e-9))


def relabel_expression(length_frames: int, fps: float, micro_max_s: float = 0.5) -> str:
    """Duration rule of step 4: "micro" when length <= micro_max_frames, else "macro"."""
    return "micro" if length_frames <= micro_max_frames(fps, micro_max_s) else "macro"


def label_of(probs_row: np.ndarray, expression_threshold: float | None = None) -> int:
    """Label of one frame from its class probabilities (rule in the module docstring)."""
    if expression_threshold is None:
        return int(np.argmax(probs_row))
    best = 1 + int(np.argmax(probs_row[1:]))
    return best if probs_row[best] >= expression_threshold else 0


def labels_from_probs(probs: np.ndarray,
                      expression_threshold: float | None = None) -> np.ndarray:
    """Per-frame labels of an (N, Q) probability array (same rule as :func:`label_of`)."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"probs must have shape (N, Q>=2), got {p.shape}")
    t = check_threshold(expression_threshold)
    if t is None:
        return np.argmax(p, axis=1).astype(np.int64)
    best = 1 + np.argmax(p[:, 1:], axis=1)
    return np.where(p[np.arange(len(p)), best] >= t, best, 0).astype(np.int64)


def frame_score(probs_row: np.ndarray, label: int, collapsed: bool) -> float:
    """Score of one frame for a segment of merge label ``label`` (see module docstring)."""
    if collapsed:
        return float(np.sum(probs_row[1:]))
    return float(probs_row[label])


def _runs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run-length encoding: (starts, inclusive ends, values)."""
    n = len(labels)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    change = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [n])) - 1
    return starts, ends, labels[starts]


def fill_gaps(labels: np.ndarray, merge_gap_frames: int) -> np.ndarray:
    """Step 2: give runs of <= G zeros between two runs of the same label that label."""
    out = np.array(labels, dtype=np.int64, copy=True)
    if merge_gap_frames <= 0:
        return out
    starts, ends, values = _runs(out)
    for i in range(1, len(values) - 1):
        if (values[i] == 0 and values[i - 1] == values[i + 1]
                and ends[i] - starts[i] + 1 <= merge_gap_frames):
            out[starts[i]:ends[i] + 1] = values[i - 1]
    return out


def _check_labels(labels: Sequence[int] | np.ndarray, n_classes: int) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes - 1}], "
                         f"got values in [{arr.min()}, {arr.max()}]")
    return arr


def postprocess(labels: Sequence[int] | np.ndarray, fps: float,
                config: PostprocessConfig = PostprocessConfig(),
                class_names: Sequence[str] = DEFAULT_CLASS_NAMES,
                probs: np.ndarray | None = None, frame_offset: int = 0) -> list[Segment]:
    """Turn per-frame labels into expression segments (steps 1-4 of the module docstring).

    ``frame_offset`` is the video frame of ``labels[0]`` (e.g. 2 for K=5 windows, whose first
    middle frame is frame 2); segment frames are reported in video frames.
    """
    names = check_class_names(class_names)
    fps = check_fps(fps)
    if not isinstance(config, PostprocessConfig):
        raise TypeError(f"config must be a PostprocessConfig, got {type(config).__name__}")
    frame_offset = check_int("frame_offset", frame_offset, 0)
    arr = _check_labels(labels, len(names))
    p: np.ndarray | None = None
    if probs is not None:
        p = np.asarray(probs, dtype=np.float64)
        if p.shape != (len(arr), len(names)):
            raise ValueError(f"probs must have shape (len(labels), len(class_names)) = "
                             f"{(len(arr), len(names))}, got {p.shape}")

    collapsed = config.relabel_by_duration
    merge_labels = np.where(arr > 0, WITH_EXPRESSION, 0) if collapsed else arr
    filled = fill_gaps(merge_labels, config.merge_gap_frames)
    segments: list[Segment] = []
    for start, end, value in zip(*_runs(filled)):
        start, end, value = int(start), int(end), int(value)
        length = end - start + 1
        if value == 0 or length < config.min_length_frames:
            continue
        if collapsed:
            expression = relabel_expression(length, fps, config.micro_max_s)
        else:
            expression = names[value]
        if p is None:
            apex, peak, mean = (start + end) // 2, None, None
        else:
            seg = p[start:end + 1]
            scores = seg[:, 1:].sum(axis=1) if collapsed else seg[:, value]
            k = int(np.argmax(scores))
            apex, peak, mean = start + k, float(scores[k]), float(np.mean(scores))
        segments.append(Segment(onset=start + frame_offset, offset=end + frame_offset,
                                apex=apex + frame_offset, expression=expression,
                                peak_prob=peak, mean_prob=mean))
    return segments


def segments_to_intervals(segments: Iterable[Segment], subject: str,
                          video: str) -> list[Interval]:
    """Segments of one video as metric intervals (for :func:`realtime.metrics.score`)."""
    return [s.to_interval(subject, video) for s in segments]
