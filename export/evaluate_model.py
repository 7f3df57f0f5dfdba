"""Evaluate a model on videos: sliding windows -> per-frame classes -> segments -> MEGC score.

``python -m export evaluate --checkpoint FILE --data ROOT`` (or ``--onnx DIR`` for the exported
graphs) runs every held-out video frame by frame: each frame whose K-frame window has a face on
every frame gets class probabilities; the first and last K//2 frames, and windows that touch a
frame without a face, are "none". The labels are post-processed three ways, as in the paper's
Tables 2-4 (``no merging``; ``merging``: gaps of G=1 frame filled; ``duration relabel``: merging,
then every segment of <= 0.5 s is micro and longer ones macro), and scored with the MEGC 2020
metric. Writes ``results.md`` / ``results.json``, ``intervals_<variant>.csv`` and one timeline
PNG per video.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from realtime.metrics import Interval, format_table, score, table_dict, write_intervals_csv
from realtime.postprocess import PostprocessConfig, postprocess
from realtime.reference import transform_video

VARIANTS: dict[str, PostprocessConfig] = {
    "no merging": PostprocessConfig(merge_gap_frames=0),
    "merging": PostprocessConfig(merge_gap_frames=1),
    "duration relabel": PostprocessConfig(merge_gap_frames=1, relabel_by_duration=True),
}


def load_videos(data: Path, fmt: str, cache: Path, model_cfg: Any,
                progress: bool = True) -> tuple[list[Any], dict[str, Any]]:
    """Read a dataset, fill the face-crop cache as needed, return ``TrainVideo`` objects.

    The crops are what the model is fed: raw, or passed through the model's input transform
    (``model_cfg.input_transform``, restarted after every frame without a face). The cache
    always holds raw crops."""
    from export.datasets import frame_labels, load_dataset
    from export.preprocess import preprocess_dataset
    from export.train import TrainVideo
    from realtime.face import FaceCropConfig

    transform = model_cfg.input_transform
    dataset = load_dataset(data, fmt)
    cached = preprocess_dataset(dataset, cache, FaceCropConfig(crop_size=model_cfg.crop_size),
                                progress=progress)
    items = {(v.subject, v.video): v for v in dataset.videos}
    videos = []
    for c in cached:
        item = items[(c.subject, c.video)]
        labels = frame_labels(len(c.crops), item.annotations, model_cfg.class_names)
        valid = np.asarray(c.valid, bool)
        crops = transform_video(c.crops, valid, transform)
        videos.append(TrainVideo(subject=c.subject, video=c.video, crops=crops,
                                 valid=valid, labels=labels,
                                 fps=float(c.fps), annotations=tuple(item.annotations)))
    info = {"name": dataset.name, "root": str(data), "format": fmt, "videos": len(videos),
            "subjects": sorted({v.subject for v in videos}),
            "frames": int(sum(len(v.crops) for v in videos)),
            "fps": sorted({round(v.fps, 3) for v in videos}),
            "expressions": {t: sum(a.type == t for v in videos for a in v.annotations)
                            for t in ("micro", "macro")}}
    return videos, info


class TorchPredictor:
    """Per-frame class probabilities from a PyTorch model (backbone once per frame)."""

    def __init__(self, model: Any, device: Any = None, batch_frames: int = 64) -> None:
        import torch

        self.torch = torch
        self.model = model.eval()
        self.device = device or torch.device("cpu")
        self.batch = batch_frames
        self.k = model.config.window
        self.class_names = model.config.class_names

    def features(self, crops: np.ndarray) -> np.ndarray:
        torch = self.torch
        out = []
        with torch.inference_mode():
            for i in range(0, len(crops), self.batch):
                x = torch.from_numpy(crops[i:i + self.batch]).float().div_(255).unsqueeze(1)
                out.append(self.model.backbone(x.to(self.device)).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 512, 4, 4), np.float32)

    def head(self, windows: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.inference_mode():
            logits, _ = self.model.head(torch.from_numpy(windows).to(self.device))
            return torch.softmax(logits.float(), 1).cpu().numpy()


class OnnxPredictor:
    """The same through the exported graphs (backbone.onnx + head.onnx) with ONNX Runtime."""

    def __init__(self, graph_dir: Path, batch_frames: int = 64) -> None:
        from realtime import contract as C

        self.bb, cb = C.open_graph(graph_dir / C.GRAPH_FILES["backbone"], "backbone")
        self.hd, ch = C.open_graph(graph_dir / C.GRAPH_FILES["head"], "head")
        C.check_pair(cb, ch, "backbone.onnx", "head.onnx")
        self.k, self.class_names, self.batch = cb.window, cb.class_names, batch_frames
        self.input_transform = cb.transform

    def features(self, crops: np.ndarray) -> np.ndarray:
        out = [self.bb.run(None, {"frames": (crops[i:i + self.batch, None] / np.float32(255))
                                  .astype(np.float32)})[0]
               for i in range(0, len(crops), self.batch)]
        return np.concatenate(out) if out else np.zeros((0, 512, 4, 4), np.float32)

    def head(self, windows: np.ndarray) -> np.ndarray:
        return self.hd.run(None, {"features": windows.astype(np.float32)})[0]


def predict_video(predictor: Any, crops: np.ndarray, valid: np.ndarray,
                  batch_windows: int = 256) -> np.ndarray:
    """``(N, Q)`` probabilities per frame; frames without a full face window get class "none"."""
    n, k = len(crops), predictor.k
    q = len(predictor.class_names)
    probs = np.zeros((n, q), np.float32)
    probs[:, 0] = 1.0
    if n < k:
        return probs
    feats = np.zeros((n, 512, 4, 4), np.float32)
    idx = np.nonzero(valid)[0]
    if len(idx):
        feats[idx] = predictor.features(crops[idx])
    ok = np.convolve(valid.astype(np.int32), np.ones(k, np.int32), "valid") == k
    starts = np.nonzero(ok)[0]
    for i in range(0, len(starts), batch_windows):
        s = starts[i:i + batch_windows]
        windows = feats[s[:, None] + np.arange(k)]
        probs[s + k // 2] = predictor.head(windows)
    return probs


def spot(probs: np.ndarray, fps: float, class_names: tuple[str, ...], subject: str, video: str,
         config: Any) -> list[Interval]:
    labels = probs.argmax(1)
    segs = postprocess(labels, fps, config, class_names=class_names, probs=probs)
    return [Interval(subject, video, s.onset, s.offset, s.expression) for s in segs]


def evaluate_predictions(per_video: list[dict[str, Any]], class_names: tuple[str, ...],
                         iou: float = 0.5) -> dict[str, Any]:
    """Score stored per-video probabilities under each post-processing variant."""
    gt = [Interval(v["subject"], v["video"], a.onset, a.offset, a.type)
          for v in per_video for a in v["annotations"] if a.type in class_names]
    scores, intervals = {}, {}
    for name, cfg in VARIANTS.items():
        pred = [i for v in per_video
                for i in spot(v["probs"], v["fps"], class_names, v["subject"], v["video"], cfg)]
        scores[name] = score(gt, pred, iou)
        intervals[name] = pred
    return {"scores_obj": scores, "scores": table_dict(scores), "table": format_table(scores),
            "intervals": intervals, "gt": gt, "per_video": per_video}


def evaluate_videos(model_or_predictor: Any, videos: list[Any], device: Any = None,
                    iou: float = 0.5) -> dict[str, Any]:
    predictor = (model_or_predictor if hasattr(model_or_predictor, "features")
                 else TorchPredictor(model_or_predictor, device))
    was_training = getattr(model_or_predictor, "training", False)
    per_video = [{"subject": v.subject, "video": v.video, "fps": v.fps,
                  "annotations": v.annotations, "valid": v.valid,
                  "probs": predict_video(predictor, v.crops, v.valid)} for v in videos]
    if was_training:
        model_or_predictor.train()
    return evaluate_predictions(per_video, tuple(predictor.class_names), iou)


def pool_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Pool held-out folds into one "long video" score (the LOSO way)."""
    per_video = [v for r in reports for v in r["per_video"]]
    names = reports[0]["per_video"][0]["probs"].shape[1] if per_video else 3
    class_names = ("none", "micro", "macro")[:names]
    return evaluate_predictions(per_video, class_names)


def plot_timeline(entry: dict[str, Any], intervals: list[Interval], class_names: tuple[str, ...],
                  path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    probs = entry["probs"]
    t = np.arange(len(probs)) / entry["fps"]
    fig, ax = plt.subplots(figsize=(12, 3))
    colors = {"micro": "tab:red", "macro": "tab:blue", "none": "0.6"}
    for c, name in enumerate(class_names):
        if name != "none":
            ax.plot(t, probs[:, c], color=colors[name], lw=0.8, label=f"p({name})")
    for a in entry["annotations"]:
        ax.axvspan(a.onset / entry["fps"], (a.offset + 1) / entry["fps"], ymin=0.9, ymax=1.0,
                   color=colors[a.type], alpha=0.6)
    for i in intervals:
        ax.axvspan(i.onset / entry["fps"], (i.offset + 1) / entry["fps"], ymin=0.0, ymax=0.1,
                   color=colors[i.type], alpha=0.6)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("time (s)")
    ax.set_title(f"{entry['subject']}/{entry['video']}: ground truth (top band) vs spotted "
                 "(bottom band, merging)")
    ax.legend(loc="center right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write_report(report: dict[str, Any], out_dir: Path, plots: bool = True) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.md").write_text(report["table"] + "\n")
    (out_dir / "results.json").write_text(json.dumps(
        {"scores": report["scores"], "videos": [f"{v['subject']}/{v['video']}"
                                                for v in report["per_video"]]}, indent=2))
    for name, intervals in report["intervals"].items():
        write_intervals_csv(out_dir / f"intervals_{name.replace(' ', '_')}.csv", intervals)
    write_intervals_csv(out_dir / "ground_truth.csv", report["gt"])
    if plots:
        class_names = ("none", "micro", "macro")[:report["per_video"][0]["probs"].shape[1]] \
            if report["per_video"] else ()
        pdir = out_dir / "timelines"
        pdir.mkdir(exist_ok=True)
        merged = report["intervals"]["merging"]
        for v in report["per_video"]:
            mine = [i for i in merged if i.subject == v["subject"] and i.video == v["video"]]
            plot_timeline(v, mine, class_names, pdir / f"{v['subject']}_{v['video']}.png")


def run_model_evaluation(args: argparse.Namespace) -> int:
    """``evaluate --checkpoint FILE --data ROOT [--onnx DIR] [--out DIR]``."""
    from export.checkpoint import CheckpointError, model_from_checkpoint

    try:
        model, ckpt = model_from_checkpoint(args.checkpoint)
        subjects = [s for s in (getattr(args, "subjects", "") or "").split(",") if s]
        videos, _ = load_videos(Path(args.data), getattr(args, "format", "auto"),
                                Path(getattr(args, "cache", "cache")), model.config)
        if subjects:
            videos = [v for v in videos if v.subject in subjects]
        onnx_dir = getattr(args, "onnx", None)
        predictor: Any = OnnxPredictor(Path(onnx_dir)) if onnx_dir else TorchPredictor(model)
        if onnx_dir and predictor.input_transform != model.config.input_transform:
            raise ValueError(f"{onnx_dir}: the graphs take {predictor.input_transform.describe()}"
                             f" but {args.checkpoint} takes "
                             f"{model.config.input_transform.describe()}; export them again")
    except (CheckpointError, ValueError, FileNotFoundError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = evaluate_videos(predictor, videos, iou=getattr(args, "iou", 0.5))
    out = getattr(args, "out", None)
    if out:
        write_report(report, Path(out))
    if getattr(args, "json", False):
        print(json.dumps(report["scores"], indent=2))
    else:
        print(report["table"])
    return 0
