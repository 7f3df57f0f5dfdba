"""``python -m export baseline --method offd``: a training-free optical-flow spotter (the peer).

In the spirit of the MEGC optical-flow feature-difference baselines (OF-FD, "Rethinking optical
flow"), on the same 128x128 face crops the model sees:

1. Regions anchored on face-mesh landmarks found once per video (on the median of its first
   face crops): both brows, both eyes, both mouth corners with the nasolabial fold, the chin.
2. Dense flow (OpenCV DIS) from crop ``t - k`` to crop ``t`` for two lags: ``k`` about half a
   micro-expression (0.1 s: 3 frames at 30 fps, 20 at 200 fps) and a longer one for
   macro-expressions (0.5 s).
3. Head motion compensation: an affine flow fitted on the upper face outline and the nose
   bridge (which expressions hardly move) is subtracted.
4. Per region the mean compensated magnitude, over that region's noise floor (its median in
   the video); a frame's score is the largest region's. Blink-aware: when the eyes move much
   more than the brows and mouth (a blink), eyes and brows are left out of that frame's score.
5. Runs above a threshold become intervals (shifted back by the lag: the flow against ``t - k``
   still sees a motion ``k`` frames after it ends); micro from the short lag (<= 0.5 s), macro
   from the long lag (> 0.5 s), micro candidates inside a macro interval dropped.

The two thresholds are the only fitted numbers, chosen on training subjects only (a grid
search for the best overall F1); validation subjects report how well they carry over, and the
test split is scored once with them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np

from realtime.metrics import Interval, SpottingScore, score
from realtime.postprocess import relabel_expression

# mediapipe face-mesh indices ("R" = subject's right = image left)
_BROW = {"R": (70, 63, 105, 66, 107, 46, 53, 52, 65, 55),
         "L": (300, 293, 334, 296, 336, 276, 283, 282, 295, 285)}
_EYE = {"R": (33, 246, 161, 160, 159, 158, 157, 173, 133, 7, 163, 144, 145, 153, 154, 155),
        "L": (263, 466, 388, 387, 386, 385, 384, 398, 362, 249, 390, 373, 374, 380, 381, 382)}
_MOUTH = {"R": (61, 78, 185, 146, 191, 95, 48, 64, 98, 115),
          "L": (291, 308, 409, 375, 415, 324, 278, 294, 327, 344)}
_CHIN = (152, 175, 199, 200, 18, 83, 313, 421, 201, 148, 377)
_ANCHORS = (10, 338, 297, 332, 284, 251, 389, 356, 454, 234, 127, 162, 21, 54, 103, 67, 109,
            6, 168, 197, 195, 5, 4)
REGIONS: dict[str, tuple[int, ...]] = {
    "brow_R": _BROW["R"], "brow_L": _BROW["L"], "eye_R": _EYE["R"], "eye_L": _EYE["L"],
    "mouth_R": _MOUTH["R"], "mouth_L": _MOUTH["L"], "chin": _CHIN,
}
EYES = ("eye_R", "eye_L")
BROWS = ("brow_R", "brow_L")
DIS_PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
               "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
               "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


@dataclass(frozen=True)
class OffdConfig:
    """Settings of the optical-flow peer. Lags and durations in seconds (converted with fps);
    thresholds in multiples of a region's noise floor."""

    micro_lag_s: float = 0.1
    macro_lag_s: float = 0.5
    preset: str = "fast"
    region_pad_iod: float = 0.1
    blink_ratio: float = 2.0
    smooth_s: float = 0.067
    micro_threshold: float = 4.0
    macro_threshold: float = 4.0
    merge_gap_s: float = 1.0  # chosen on SynthME2-30 validation subjects (docs/synthme2.md)
    micro_max_s: float = 0.5
    min_length_s: float = 0.1

    def __post_init__(self) -> None:
        for name in ("micro_lag_s", "macro_lag_s", "micro_max_s"):
            v = getattr(self, name)
            if not 0.0 < v <= 5.0:
                raise ValueError(f"{name}={v}: must be in (0, 5] seconds")
        if self.micro_lag_s >= self.macro_lag_s:
            raise ValueError(f"micro_lag_s={self.micro_lag_s} must be below "
                             f"macro_lag_s={self.macro_lag_s}")
        if self.preset not in DIS_PRESETS:
            raise ValueError(f"preset={self.preset!r}: must be one of {sorted(DIS_PRESETS)}")
        for name in ("micro_threshold", "macro_threshold", "blink_ratio"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"{name}={v}: must be a positive number")
        for name in ("merge_gap_s", "smooth_s", "min_length_s", "region_pad_iod"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)}: must be >= 0")


def lag_frames(seconds: float, fps: float) -> int:
    """A lag in seconds as a whole number of frames (at least 1)."""
    if not fps > 0:
        raise ValueError(f"fps={fps}: must be > 0")
    return max(1, int(round(seconds * fps)))


# --- regions ---
def crop_landmarks(crops: np.ndarray, valid: np.ndarray, samples: int = 15) -> np.ndarray | None:
    """468 face-mesh landmarks (x, y in crop px) on the median of the first valid crops."""
    from export.synth.faces import face_mesh_landmarks

    idx = np.flatnonzero(valid)[:samples]
    if len(idx) == 0:
        return None
    med = np.median(crops[idx].astype(np.float32), axis=0).astype(np.uint8)
    up = cv2.resize(med, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)
    lm = face_mesh_landmarks(cv2.cvtColor(up, cv2.COLOR_GRAY2BGR))
    return None if lm is None else lm / 2.0


@dataclass(frozen=True)
class Regions:
    """Region boxes (x0, y0, x1, y1, crop px) and the anchor points of the head-motion fit."""

    boxes: dict[str, tuple[int, int, int, int]]
    anchors: np.ndarray  # (A, 2) float, crop px
    iod_px: float

    @classmethod
    def from_landmarks(cls, lm: np.ndarray, size: int, pad_iod: float = 0.1) -> Regions:
        iod = float(np.linalg.norm(lm[list(_EYE["L"][:1]) + [362]].mean(0)
                                   - lm[list(_EYE["R"][:1]) + [133]].mean(0)))
        pad = pad_iod * iod
        boxes = {}
        for name, idx in REGIONS.items():
            p = lm[list(idx)]
            x0, y0 = np.floor(p.min(0) - pad).astype(int)
            x1, y1 = np.ceil(p.max(0) + pad).astype(int)
            boxes[name] = (max(0, x0), max(0, y0), min(size, x1 + 1), min(size, y1 + 1))
        return cls(boxes, lm[list(_ANCHORS)].astype(np.float64), iod)


# --- per-frame scores ---
def _affine_residual(flow: np.ndarray, anchors: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Flow minus the affine flow fitted (least squares) at the anchor points."""
    h, w = flow.shape[:2]
    ax = np.clip(np.round(anchors[:, 0]).astype(int), 0, w - 1)
    ay = np.clip(np.round(anchors[:, 1]).astype(int), 0, h - 1)
    v = flow[ay, ax].astype(np.float64)  # (A, 2)
    design = np.column_stack([anchors, np.ones(len(anchors))])
    coef, *_ = np.linalg.lstsq(design, v, rcond=None)  # (3, 2)
    return flow - (grid @ coef).astype(np.float32)


@dataclass(frozen=True)
class VideoSignals:
    """Per-frame region magnitudes (N, R) for the short and the long lag, and the regions."""

    subject: str
    video: str
    fps: float
    micro: np.ndarray
    macro: np.ndarray
    valid: np.ndarray
    names: tuple[str, ...]
    annotations: tuple[Any, ...] = field(default_factory=tuple)


def region_magnitudes(crops: np.ndarray, valid: np.ndarray, lag: int, regions: Regions,
                      preset: str = "fast") -> np.ndarray:
    """(N, R) mean compensated flow magnitude per region between crop t - lag and crop t.

    Rows without a face on both frames are NaN.
    """
    n, h, w = crops.shape
    names = list(REGIONS)
    out = np.full((n, len(names)), np.nan, np.float32)
    dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    grid = np.stack([xs, ys, np.ones_like(xs)], axis=-1)
    for t in range(lag, n):
        if not (valid[t] and valid[t - lag]):
            continue
        flow = dis.calc(crops[t - lag], crops[t], None)
        res = _affine_residual(flow, regions.anchors, grid)
        mag = np.sqrt(res[..., 0] ** 2 + res[..., 1] ** 2)
        for j, name in enumerate(names):
            x0, y0, x1, y1 = regions.boxes[name]
            out[t, j] = mag[y0:y1, x0:x1].mean()
    return out


def video_signals(crops: np.ndarray, valid: np.ndarray, fps: float, subject: str, video: str,
                  cfg: OffdConfig = OffdConfig(), annotations: Sequence[Any] = ()
                  ) -> VideoSignals:
    """Flow magnitudes of one video for both lags (the expensive, threshold-free part)."""
    crops = np.ascontiguousarray(crops, np.uint8)
    valid = np.asarray(valid, bool)
    lm = crop_landmarks(crops, valid)
    names = tuple(REGIONS)
    if lm is None:
        nan = np.full((len(crops), len(names)), np.nan, np.float32)
        return VideoSignals(subject, video, fps, nan, nan.copy(), valid, names,
                            tuple(annotations))
    regions = Regions.from_landmarks(lm, crops.shape[1], cfg.region_pad_iod)
    micro = region_magnitudes(crops, valid, lag_frames(cfg.micro_lag_s, fps), regions,
                              cfg.preset)
    macro = region_magnitudes(crops, valid, lag_frames(cfg.macro_lag_s, fps), regions,
                              cfg.preset)
    return VideoSignals(subject, video, fps, micro, macro, valid, names, tuple(annotations))


def frame_score(mags: np.ndarray, names: Sequence[str], cfg: OffdConfig, fps: float
                ) -> np.ndarray:
    """(N,) score: the largest region magnitude over its noise floor, blinks masked, smoothed.

    A frame is a blink when the eyes' normalised magnitude exceeds ``blink_ratio`` times that
    of the mouth and chin regions and is at least the brows' (a closing lid drags the brow
    boxes' skin too); eyes and brows then do not count.
    """
    floor = np.nanmedian(mags, axis=0) if np.isfinite(mags).any() else np.ones(mags.shape[1])
    floor = np.where(np.isfinite(floor), floor, 1.0)
    rel = mags / (np.maximum(floor, 1e-3) + 0.02)
    rel = np.where(np.isfinite(rel), rel, 0.0)
    col = {n: i for i, n in enumerate(names)}
    eyes = rel[:, [col[n] for n in EYES]].max(1)
    brows = rel[:, [col[n] for n in BROWS]].max(1)
    lower = rel[:, [col[n] for n in names if n not in EYES + BROWS]].max(1)
    blink = (eyes > cfg.blink_ratio * lower) & (eyes >= brows)
    masked = rel.copy()
    masked[np.ix_(blink, [col[n] for n in EYES + BROWS])] = 0.0
    s = masked.max(1)
    width = max(1, int(round(cfg.smooth_s * fps)))
    if width > 1:
        s = np.convolve(s, np.ones(width) / width, mode="same")
    return s.astype(np.float32)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


def _merge(spans: list[tuple[int, int]], gap: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a - out[-1][1] - 1 <= gap:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


VARIANTS = ("no merging", "merging", "duration relabel")


def spot_signals(sig: VideoSignals, cfg: OffdConfig, variant: str = "merging"
                 ) -> list[Interval]:
    """Intervals of one video from its flow signals (see the module docstring, step 5).

    ``no merging``: every run as found; ``merging``: runs closer than ``merge_gap_s`` joined;
    ``duration relabel``: merged, then each interval typed by its length alone.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant {variant!r}: must be one of {VARIANTS}")
    fps = sig.fps
    n = len(sig.valid)
    k_mi, k_ma = lag_frames(cfg.micro_lag_s, fps), lag_frames(cfg.macro_lag_s, fps)
    micro_max = int(round(cfg.micro_max_s * fps))
    min_len = max(1, int(round(cfg.min_length_s * fps)))
    gap = int(round(cfg.merge_gap_s * fps)) if variant != "no merging" else -1

    def spans(mags: np.ndarray, thr: float, lag: int) -> list[tuple[int, int]]:
        s = frame_score(mags, sig.names, cfg, fps)
        out = []
        for a, b in _runs(s > thr):
            a0, b0 = max(0, a - 1), min(n - 1, b - lag + 1)
            if b0 - a0 + 1 >= min_len:
                out.append((a0, b0))
        return _merge(out, gap) if gap >= 0 else out

    macro = [(a, b) for a, b in spans(sig.macro, cfg.macro_threshold, k_ma)
             if b - a + 1 > micro_max]
    micro = [(a, b) for a, b in spans(sig.micro, cfg.micro_threshold, k_mi)
             if b - a + 1 <= micro_max
             and all(b < c or a > d for c, d in macro)]
    out = [Interval(sig.subject, sig.video, a, b, "macro") for a, b in macro]
    out += [Interval(sig.subject, sig.video, a, b, "micro") for a, b in micro]
    if variant == "duration relabel":
        out = [replace(i, type=relabel_expression(i.offset - i.onset + 1, fps, cfg.micro_max_s))
               for i in out]
    return sorted(out, key=lambda i: (i.onset, i.offset))


def ground_truth(signals: Iterable[VideoSignals]) -> list[Interval]:
    return [Interval(s.subject, s.video, a.onset, a.offset, a.type)
            for s in signals for a in s.annotations]


def score_signals(signals: Sequence[VideoSignals], cfg: OffdConfig, variant: str = "merging",
                  iou: float = 0.5) -> tuple[SpottingScore, list[Interval]]:
    pred = [i for s in signals for i in spot_signals(s, cfg, variant)]
    return score(ground_truth(signals), pred, iou), pred


DEFAULT_GRID = (0.6, 0.8, 1.0, 1.1, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 8.0,
                10.0, 12.0, 15.0, 20.0)


def fit_thresholds(signals: Sequence[VideoSignals], cfg: OffdConfig = OffdConfig(),
                   grid: Sequence[float] = DEFAULT_GRID, iou: float = 0.5) -> OffdConfig:
    """The (micro, macro) thresholds with the best overall F1 (merging) on ``signals``.

    Pass training subjects only. The macro threshold is chosen first on macro F1 (micro
    candidates do not change macro matches except by suppression), then the micro one on
    overall F1; ties go to the higher threshold.
    """
    if not signals:
        raise ValueError("fit_thresholds: no videos to fit on (no training subjects?)")
    best_macro, best = cfg.macro_threshold, -1.0
    for t in sorted(grid, reverse=True):
        s, _ = score_signals(signals, replace(cfg, macro_threshold=t,
                                              micro_threshold=1e9), "merging", iou)
        f1 = s.macro.f1
        if f1 > best:
            best_macro, best = t, f1
    cfg = replace(cfg, macro_threshold=best_macro)
    best_micro, best = cfg.micro_threshold, -1.0
    for t in sorted(grid, reverse=True):
        s, _ = score_signals(signals, replace(cfg, micro_threshold=t), "merging", iou)
        f1 = s.overall.f1
        if f1 > best:
            best_micro, best = t, f1
    return replace(cfg, micro_threshold=best_micro)


def clip_crops(path: str, crop_size: int = 128) -> tuple[np.ndarray, np.ndarray, float]:
    """(crops (N, S, S) uint8, valid (N,), fps) of a video file through the live face cropper."""
    from realtime.face import FaceCropConfig, FaceCropper

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ValueError(f"{path}: cannot be opened as a video")
    fps = float(cap.get(cv2.CAP_PROP_FPS)) or 30.0
    crops, valid = [], []
    with FaceCropper(FaceCropConfig(crop_size=crop_size)) as cropper:
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                res = cropper.process(frame)
                ok_face = res.crop is not None and res.status == "ok"
                crops.append(res.crop if ok_face else np.zeros((crop_size, crop_size), np.uint8))
                valid.append(ok_face)
        finally:
            cap.release()
    if not crops:
        raise ValueError(f"{path}: no frame could be decoded")
    return np.stack(crops), np.asarray(valid, bool), fps


@dataclass(frozen=True)
class FalseAlarms:
    """Detections on a clip that has no expression to find (a "none" stretch check)."""

    clip: str
    face_frames: int
    fps: float
    detections: int
    micro: int
    macro: int

    @property
    def face_minutes(self) -> float:
        return self.face_frames / self.fps / 60.0

    @property
    def per_minute(self) -> float:
        return self.detections / self.face_minutes if self.face_frames else float("nan")


def false_alarms(path: str, cfg: OffdConfig) -> FalseAlarms:
    """Every interval OF-FD reports on a clip counts as a false alarm (merging variant)."""
    from pathlib import Path

    crops, valid, fps = clip_crops(path)
    sig = video_signals(crops, valid, fps, "real", Path(path).name, cfg)
    found = spot_signals(sig, cfg, "merging")
    return FalseAlarms(Path(path).name, int(valid.sum()), fps, len(found),
                       sum(i.type == "micro" for i in found),
                       sum(i.type == "macro" for i in found))
