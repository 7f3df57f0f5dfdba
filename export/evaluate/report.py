"""Per-frame probabilities -> segments -> MEGC 2020 scores, as a typed report.

The labels are post-processed three ways, as in the paper's Tables 2-4 (``no merging``;
``merging``: gaps of G=1 frame filled; ``duration relabel``: merging, then every segment of
<= 0.5 s is micro and longer ones macro), and scored with the MEGC 2020 metric. A
:class:`Report` carries the model's class names, so pooling folds and plotting never have to
guess them (:mod:`export.evaluate.files` writes a report to a folder).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from export.datasets import Annotation
from realtime.metrics import SpottingScore, format_table, score, table_dict
from realtime.postprocess import PostprocessConfig, postprocess, segments_to_intervals
from realtime.vocab import Interval, check_class_names

VARIANTS: dict[str, PostprocessConfig] = {
    "no merging": PostprocessConfig(merge_gap_frames=0),
    "merging": PostprocessConfig(merge_gap_frames=1),
    "duration relabel": PostprocessConfig(merge_gap_frames=1, relabel_by_duration=True),
}


@dataclass(frozen=True)
class VideoPrediction:
    """One video's per-frame class probabilities (``(N, Q)``, the model's class order)."""

    subject: str
    video: str
    fps: float
    annotations: tuple[Annotation, ...]
    valid: np.ndarray  # (N,) bool: a face was found
    probs: np.ndarray

    @property
    def key(self) -> str:
        return f"{self.subject}/{self.video}"


@dataclass(frozen=True)
class Report:
    """Scores, spotted intervals and ground truth of a model on some videos.

    ``scores`` and ``intervals`` are keyed by post-processing variant (:data:`VARIANTS`);
    ``gt`` holds the annotations of the types the model has classes for.
    """

    class_names: tuple[str, ...]
    videos: tuple[VideoPrediction, ...]
    gt: tuple[Interval, ...]
    scores: Mapping[str, SpottingScore]
    intervals: Mapping[str, tuple[Interval, ...]]
    iou: float = 0.5

    @property
    def table(self) -> str:
        """The Table-2 style markdown table, variants side by side."""
        return format_table(self.scores)

    def scores_dict(self) -> dict[str, Any]:
        """JSON form of the scores: ``{variant: {macro, micro, overall, iou_threshold}}``."""
        return table_dict(self.scores)

    def overall_f1(self, variant: str = "merging") -> float:
        return self.scores[variant].overall.f1


def spot(prediction: VideoPrediction, class_names: Sequence[str],
         config: PostprocessConfig) -> list[Interval]:
    """The intervals one post-processing variant spots in one video's probabilities."""
    labels = prediction.probs.argmax(1)
    segments = postprocess(labels, prediction.fps, config, class_names=class_names,
                           probs=prediction.probs)
    return segments_to_intervals(segments, prediction.subject, prediction.video)


def evaluate_predictions(videos: Sequence[VideoPrediction], class_names: Sequence[str],
                         iou: float = 0.5) -> Report:
    """Score stored per-video probabilities under each post-processing variant."""
    names = check_class_names(class_names)
    for v in videos:
        if v.probs.ndim != 2 or v.probs.shape[1] != len(names):
            raise ValueError(f"{v.key}: probabilities of shape {v.probs.shape} do not match "
                             f"the {len(names)} classes {','.join(names)}")
    gt = tuple(a.to_interval() for v in videos for a in v.annotations if a.type in names)
    scores, intervals = {}, {}
    for name, cfg in VARIANTS.items():
        pred = tuple(i for v in videos for i in spot(v, names, cfg))
        scores[name] = score(gt, pred, iou)
        intervals[name] = pred
    return Report(names, tuple(videos), gt, scores, intervals, iou)


def pool_reports(reports: Sequence[Report]) -> Report:
    """Pool held-out folds into one "long video" score (the LOSO way)."""
    if not reports:
        raise ValueError("pool_reports needs at least one report")
    names = {r.class_names for r in reports}
    if len(names) != 1:
        raise ValueError(f"cannot pool reports of models with different classes: "
                         f"{sorted(','.join(n) for n in names)}")
    return evaluate_predictions([v for r in reports for v in r.videos], reports[0].class_names,
                                reports[0].iou)
