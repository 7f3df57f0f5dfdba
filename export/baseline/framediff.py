"""``python -m export baseline --method framediff``: the frame-difference baseline (the default).

In the spirit of the MEGC feature-difference baselines: for every frame ``t`` the face crop is
compared with the crop ``d`` frames earlier (``d`` about a third of a second), block by block
(an 8x8 grid of the 128x128 crop); the frame's motion signal is the mean of the ``top_blocks``
largest block differences minus the median block difference (local facial motion stands out,
global changes such as lighting or noise are subtracted). The signal is smoothed over ``d``
frames, thresholded at ``median + p * (max - median)`` of the video (``p`` as in the MEGC 2020
baseline's threshold rule), and every run above the threshold becomes a segment: <= 0.5 s micro,
longer macro. Needs no labels and no training, so it is the floor a learned model must beat.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from realtime.metrics import Interval, score
from realtime.postprocess import relabel_expression


@dataclass(frozen=True)
class BaselineConfig:
    """Settings of the frame-difference baseline (lag in seconds, converted with the fps)."""

    p: float = 0.3  # threshold = median + p * (max - median) of the smoothed signal
    grid: int = 8  # blocks per side of the crop
    top_blocks: int = 6  # blocks whose difference makes the frame's signal
    lag_s: float = 1 / 3  # compare with the crop this long ago
    micro_max_s: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.p < 1:
            raise ValueError(f"p must be in (0, 1), got {self.p}")
        if not 1 <= self.top_blocks <= self.grid * self.grid:
            raise ValueError(f"top_blocks must be in [1, grid^2], got {self.top_blocks}")
        if self.lag_s <= 0:
            raise ValueError(f"lag_s must be > 0, got {self.lag_s}")


def motion_signal(crops: np.ndarray, valid: np.ndarray, fps: float,
                  cfg: BaselineConfig = BaselineConfig()) -> np.ndarray:
    """Per-frame local-motion signal ``(N,)`` (0 where a face is missing)."""
    n = len(crops)
    lag = max(1, round(cfg.lag_s * fps))
    sig = np.zeros(n, np.float32)
    if n <= lag:
        return sig
    s = crops.shape[1] // cfg.grid * cfg.grid
    x = crops[:, :s, :s].astype(np.float32)
    diff = np.abs(x[lag:] - x[:-lag])
    blocks = diff.reshape(n - lag, cfg.grid, s // cfg.grid, cfg.grid, s // cfg.grid).mean((2, 4))
    blocks = blocks.reshape(n - lag, -1)
    top = np.sort(blocks, axis=1)[:, -cfg.top_blocks:].mean(1)
    sig[lag:] = top - np.median(blocks, axis=1)
    ok = valid.copy()
    ok[lag:] &= valid[:-lag]
    ok[:lag] = False
    sig[~ok] = 0
    kernel = np.ones(lag, np.float32) / lag
    return np.convolve(sig, kernel, mode="same")


def spot_video(crops: np.ndarray, valid: np.ndarray, fps: float, subject: str, video: str,
               cfg: BaselineConfig = BaselineConfig()) -> list[Interval]:
    sig = motion_signal(crops, valid, fps, cfg)
    if not np.any(sig > 0):
        return []
    med = float(np.median(sig))
    thr = med + cfg.p * (float(sig.max()) - med)
    above = np.concatenate([[False], sig > thr, [False]])
    edges = np.flatnonzero(np.diff(above.astype(np.int8)))
    out = []
    for start, stop in zip(edges[::2], edges[1::2]):
        kind = relabel_expression(int(stop - start), fps, cfg.micro_max_s)
        out.append(Interval(subject, video, int(start), int(stop - 1), kind))
    return out


def evaluate_baseline(videos: list[Any], cfg: BaselineConfig = BaselineConfig(),
                      iou: float = 0.5) -> dict[str, Any]:
    gt = [Interval(v.subject, v.video, a.onset, a.offset, a.type)
          for v in videos for a in v.annotations]
    pred = [i for v in videos
            for i in spot_video(v.crops, v.valid, v.fps, v.subject, v.video, cfg)]
    s = score(gt, pred, iou)
    return {"score": s, "intervals": pred, "gt": gt}
