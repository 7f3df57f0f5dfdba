"""The data model of a long-video dataset: annotations, videos, datasets, per-frame labels.

Frames are **0-based, inclusive indices into the video's decoded frame sequence** everywhere
here; the readers convert the datasets' own 1-based numbers once, on the way in.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from realtime.vocab import (
    DEFAULT_CLASS_NAMES,
    EXPRESSION_TYPES,
    ExpressionType,
    Interval,
    check_class_names,
    natural_key,
)


class DatasetError(ValueError):
    """A dataset's files or annotations are malformed; the message names the file and place."""


class FrameReadError(DatasetError):
    """A frame could not be decoded; carries the file and the 0-based frame index."""

    def __init__(self, path: Path, index: int | None, reason: str) -> None:
        where = f"{path}" if index is None else f"{path} (frame index {index})"
        super().__init__(f"cannot read frame: {where}: {reason}")
        self.path = path
        self.index = index


@dataclass(frozen=True)
class Annotation:
    """One labelled expression: frames ``onset..offset`` (0-based, inclusive) of one video."""

    subject: str
    video: str
    onset: int
    apex: int
    offset: int
    type: ExpressionType

    def __post_init__(self) -> None:
        try:
            self.to_interval()  # the interval type holds the one set of checks
        except ValueError as exc:
            raise ValueError(f"{exc} ({self.subject}/{self.video})") from None

    @property
    def length_frames(self) -> int:
        return self.offset - self.onset + 1

    def to_interval(self) -> Interval:
        """The scored form: the same frames and type (apex kept)."""
        return Interval(self.subject, self.video, self.onset, self.offset, self.type,
                        apex=self.apex)


def annotation_order(a: Annotation) -> tuple[int, int]:
    """Sort key of a video's annotations: by onset, then offset."""
    return (a.onset, a.offset)


@dataclass(frozen=True)
class VideoItem:
    """One long video: a video file or a folder of frame images, plus its annotations.

    ``frame_paths`` is the sorted frame list when ``source`` is a folder (``None`` for a video
    file); ``num_frames`` is known for folders and may be ``None`` for video files (counting
    needs a full decode; :func:`export.datasets.iter_frames` gives the truth).
    """

    subject: str
    video: str
    source: Path
    frame_paths: tuple[Path, ...] | None
    fps: float
    num_frames: int | None
    annotations: tuple[Annotation, ...] = ()

    def __post_init__(self) -> None:
        if not self.fps > 0:
            raise ValueError(f"fps must be > 0, got {self.fps} ({self.subject}/{self.video})")
        if self.frame_paths is not None and self.num_frames != len(self.frame_paths):
            raise ValueError(f"num_frames={self.num_frames} but {len(self.frame_paths)} frame "
                             f"paths ({self.subject}/{self.video})")
        if self.num_frames is not None and self.num_frames < 0:
            raise ValueError(f"num_frames must be >= 0, got {self.num_frames}")

    @property
    def key(self) -> str:
        return f"{self.subject}/{self.video}"


@dataclass(frozen=True)
class Dataset:
    """A named collection of videos; ``root`` is the folder it was read from."""

    name: str
    root: Path
    videos: tuple[VideoItem, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "videos", tuple(self.videos))
        object.__setattr__(self, "root", Path(self.root))

    def subjects(self) -> list[str]:
        """Subjects in natural order (s2 before s10)."""
        return sorted({v.subject for v in self.videos}, key=natural_key)

    def by_subject(self) -> dict[str, list[VideoItem]]:
        out: dict[str, list[VideoItem]] = {s: [] for s in self.subjects()}
        for v in self.videos:
            out[v.subject].append(v)
        return out

    def annotations(self) -> list[Annotation]:
        return [a for v in self.videos for a in v.annotations]

    def select(self, subjects: Iterable[str]) -> Dataset:
        """The same dataset restricted to ``subjects`` (for subject-wise splits)."""
        keep = set(subjects)
        unknown = keep - set(self.subjects())
        if unknown:
            raise ValueError(f"unknown subjects {sorted(unknown)}; have {self.subjects()}")
        return Dataset(self.name, self.root, tuple(v for v in self.videos if v.subject in keep))

    def key(self) -> str:
        """Stable short name for caches: format name + folder name + hash of the absolute root."""
        root = self.root.resolve()
        digest = hashlib.sha1(str(root).encode()).hexdigest()[:8]
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", root.name) or "root"
        return f"{self.name}-{safe}-{digest}"


def frame_labels(num_frames: int, annotations: Iterable[Annotation],
                 class_names: Sequence[str] = DEFAULT_CLASS_NAMES) -> np.ndarray:
    """Per-frame class indices (int64, shape ``(num_frames,)``) from annotations.

    ``class_names[0]`` is the background; the others must be ``"micro"`` and/or ``"macro"``.
    Frames in ``[onset, offset]`` get the index of the annotation's type; types not listed are
    ignored (so ``("none", "micro")`` drops macro-expressions). Where a micro- and a
    macro-expression overlap, **micro wins** (it is the rarer event the spotter exists for).
    Intervals are clipped to the video length.
    """
    if num_frames < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames}")
    names = list(check_class_names(class_names))
    labels = np.zeros(num_frames, dtype=np.int64)
    anns = list(annotations)
    for kind in reversed(EXPRESSION_TYPES):  # paint micro last so it wins overlaps
        if kind not in names:
            continue
        index = names.index(kind)
        for a in anns:
            if a.type != kind or a.onset >= num_frames:
                continue
            labels[a.onset:min(a.offset, num_frames - 1) + 1] = index
    return labels
