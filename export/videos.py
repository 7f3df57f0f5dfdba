"""Videos as training and evaluation read them: face crops, face masks and per-frame labels.

:func:`load_videos` reads a dataset, fills the face-crop cache as needed and returns one
:class:`TrainVideo` per video; :func:`full_windows` is the one place that decides which
K-frame windows the model may see (every frame of the window has a face). Training samples
clips from these videos and evaluation predicts on them; both import this module, neither
imports the other. Importable without torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from export.datasets import Annotation, frame_labels, load_dataset
from realtime.reference import transform_video
from realtime.vocab import EXPRESSION_TYPES


@dataclass(frozen=True)
class TrainVideo:
    """One video's cached face crops with per-frame labels (what training and evaluation read)."""

    subject: str
    video: str
    crops: np.ndarray  # (N, S, S) uint8: the model's input (raw or transformed crops)
    valid: np.ndarray  # (N,) bool: a face was found
    labels: np.ndarray  # (N,) int64 class indices
    fps: float
    annotations: tuple[Annotation, ...] = field(default_factory=tuple)


def full_windows(valid: np.ndarray, k: int) -> np.ndarray:
    """Start frames of the ``k``-frame windows whose every frame has a face (int64, ascending)."""
    valid = np.asarray(valid, bool)
    if len(valid) < k:
        return np.zeros(0, dtype=np.int64)
    ok = np.convolve(valid.astype(np.int32), np.ones(k, dtype=np.int32), "valid") == k
    return np.nonzero(ok)[0].astype(np.int64)


def window_centres(video: TrainVideo, k: int) -> np.ndarray:
    """Frames that can be a window's middle frame: all K frames of the window have a face."""
    return full_windows(video.valid, k) + k // 2


def face_runs(valid: np.ndarray, min_length: int = 1) -> list[tuple[int, int]]:
    """``[(start, stop), ...]``: the maximal runs of consecutive face frames (``stop``
    exclusive) that are at least ``min_length`` frames long, in order."""
    padded = np.concatenate([[False], np.asarray(valid, bool), [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)
            if b - a >= min_length]


def load_videos(data: Path, fmt: str, cache: Path, model_cfg: Any, progress: bool = True,
                transform: bool = True) -> tuple[list[TrainVideo], dict[str, Any]]:
    """Read a dataset, fill the face-crop cache as needed, return ``TrainVideo`` objects.

    ``model_cfg`` (an :class:`export.model.ModelConfig`) gives the crop size, the class order
    of the labels and the input transform. With ``transform`` the crops are what the model is
    fed: raw, or passed through the model's input transform (``model_cfg.input_transform``,
    restarted after every frame without a face); without it they are the raw crops (for a
    caller that applies the transform itself, like the ONNX engine). The cache always holds
    raw crops. Also returns a summary of the dataset (name, counts) for run records.
    """
    from export.preprocess import preprocess_dataset
    from realtime.face import FaceCropConfig

    dataset = load_dataset(data, fmt)
    cached = preprocess_dataset(dataset, cache, FaceCropConfig(crop_size=model_cfg.crop_size),
                                progress=progress)
    items = {(v.subject, v.video): v for v in dataset.videos}
    videos = []
    for c in cached:
        item = items[(c.subject, c.video)]
        valid = np.asarray(c.valid, bool)
        crops = transform_video(c.crops, valid, model_cfg.input_transform) if transform \
            else c.crops
        videos.append(TrainVideo(
            subject=c.subject, video=c.video, crops=crops, valid=valid,
            labels=frame_labels(len(c.crops), item.annotations, model_cfg.class_names),
            fps=float(c.fps), annotations=tuple(item.annotations)))
    info = {"name": dataset.name, "root": str(data), "format": fmt, "videos": len(videos),
            "subjects": sorted({v.subject for v in videos}),
            "frames": int(sum(len(v.crops) for v in videos)),
            "fps": sorted({round(v.fps, 3) for v in videos}),
            "expressions": {t: sum(a.type == t for v in videos for a in v.annotations)
                            for t in EXPRESSION_TYPES}}
    return videos, info
