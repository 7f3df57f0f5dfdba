"""``python -m export diagnose``: why does a trained model (not) generalise to unseen subjects?

Two measurements on a checkpoint, on clips of training subjects and of held-out subjects:

1. **Feature variation.** For each clip (``--clip-frames`` consecutive face crops, centres drawn
   balanced over the classes as in training), the backbone's feature maps; the standard deviation
   of a feature unit over the clip's frames ("over time") against the standard deviation of the
   clip-mean feature across clips ("across clips", i.e. across people, videos and moments),
   averaged over units. A spotter needs features that move when the face moves; when the ratio
   is tiny the features mostly say who and where the person is.
2. **Head-only probe.** A copy of the window head is trained alone (AdamW, ``--steps`` steps of
   16 clips) on the frozen features of the training clips and scored by cross-entropy and
   accuracy on both sets before and after. A head that fits the training subjects while its
   held-out loss rises has learnt the training people's expressions, not expressions: the
   backbone's features do not carry an identity-free expression signal.

Neither measurement changes the checkpoint. Numbers depend on the clips drawn (``--seed``).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from export.cachedir import cache_help, default_cache_dir
from export.checkpoint import CheckpointError, model_from_checkpoint
from export.datasets import FORMATS
from export.model import STSNetSW, sliding_windows
from export.train import ClipSampler
from export.videos import TrainVideo, load_videos

PROBE_BATCH_CLIPS = 16
PROBE_LR = 1e-3


def clip_features(model: STSNetSW, videos: list[TrainVideo], clips: int, clip_frames: int,
                  seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``clips`` balanced clips -> features ``(C, L, 512, h, w)`` and window labels
    ``(C, L - K + 1)``."""
    sampler = ClipSampler(videos, model.config, clip_frames, seed)
    feats, labels = [], []
    model.eval()
    with torch.no_grad():
        for _ in range(clips):
            crops, lab = sampler.sample()
            x = torch.from_numpy(crops).float().div_(255).unsqueeze(1)
            feats.append(model.backbone(x))
            labels.append(torch.from_numpy(np.asarray(lab, np.int64)))
    return torch.stack(feats), torch.stack(labels)


def feature_variation(feats: torch.Tensor) -> dict[str, float]:
    """Mean over units of the std over a clip's frames, and of the clip means across clips."""
    pooled = feats.mean(dim=(-2, -1))  # (C, L, 512): one value per unit and frame
    over_time = float(pooled.std(dim=1).mean())
    across = float(pooled.mean(dim=1).std(dim=0).mean())
    return {"std_over_time": over_time, "std_across_clips": across,
            "ratio": over_time / across if across > 0 else float("nan")}


def _score(head: torch.nn.Module, feats: torch.Tensor, labels: torch.Tensor,
           window: int) -> dict[str, float]:
    head.eval()
    with torch.no_grad():
        logits, _ = head(sliding_windows(feats, window))
        target = labels.reshape(-1)
        return {"loss": float(F.cross_entropy(logits, target)),
                "accuracy": float((logits.argmax(1) == target).float().mean())}


def head_probe(model: STSNetSW, train: tuple[torch.Tensor, torch.Tensor],
               held_out: tuple[torch.Tensor, torch.Tensor], steps: int,
               seed: int) -> dict[str, Any]:
    """Train a copy of the head on frozen training features; scores before and after."""
    head = copy.deepcopy(model.head)
    window = model.config.window
    before = {"train": _score(head, *train, window), "held_out": _score(head, *held_out, window)}
    optimizer = torch.optim.AdamW(head.parameters(), lr=PROBE_LR)
    gen = torch.Generator().manual_seed(seed)
    feats, labels = train
    for _ in range(steps):
        head.train()
        idx = torch.randint(0, len(feats), (min(PROBE_BATCH_CLIPS, len(feats)),), generator=gen)
        logits, _ = head(sliding_windows(feats[idx], window))
        loss = F.cross_entropy(logits, labels[idx].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    after = {"train": _score(head, *train, window), "held_out": _score(head, *held_out, window)}
    return {"steps": steps, "before": before, "after": after}


def diagnose(model: STSNetSW, train_videos: list[TrainVideo], held_out_videos: list[TrainVideo],
             clips: int = 300, held_out_clips: int = 150, clip_frames: int = 16,
             steps: int = 600, seed: int = 0) -> dict[str, Any]:
    if not train_videos or not held_out_videos:
        raise ValueError("diagnose needs videos of training subjects and of held-out subjects")
    train = clip_features(model, train_videos, clips, clip_frames, seed)
    held = clip_features(model, held_out_videos, held_out_clips, clip_frames, seed + 1)
    return {"clips": {"train": clips, "held_out": held_out_clips, "frames": clip_frames},
            "features": {"train": feature_variation(train[0]),
                         "held_out": feature_variation(held[0])},
            "head_probe": head_probe(model, train, held, steps, seed)}


def format_report(report: dict[str, Any]) -> str:
    f, p = report["features"], report["head_probe"]
    lines = ["| clips | feature std over time | std across clips | ratio |",
             "| --- | ---: | ---: | ---: |"]
    for name in ("train", "held_out"):
        v = f[name]
        lines.append(f"| {name.replace('_', '-')} | {v['std_over_time']:.4f} | "
                     f"{v['std_across_clips']:.4f} | {v['ratio']:.4f} |")
    lines += ["", f"Head-only probe ({p['steps']} steps on frozen training features):", "",
              "| clips | loss before | loss after | accuracy before | accuracy after |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for name in ("train", "held_out"):
        b, a = p["before"][name], p["after"][name]
        lines.append(f"| {name.replace('_', '-')} | {b['loss']:.4f} | {a['loss']:.4f} | "
                     f"{b['accuracy']:.3f} | {a['accuracy']:.3f} |")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, type=Path, help="trained checkpoint")
    parser.add_argument("--data", required=True, type=Path, help="dataset root")
    parser.add_argument("--format", default="auto", choices=FORMATS)
    parser.add_argument("--cache", type=Path, default=default_cache_dir(), help=cache_help())
    parser.add_argument("--held-out", required=True,
                        help="comma list of the subjects the checkpoint was not trained on")
    parser.add_argument("--clips", type=int, default=300, help="training-subject clips")
    parser.add_argument("--held-out-clips", type=int, default=150, help="held-out clips")
    parser.add_argument("--clip-frames", type=int, default=16)
    parser.add_argument("--steps", type=int, default=600, help="head-only probe steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")


def run(args: argparse.Namespace) -> int:
    for name in ("clips", "held_out_clips", "steps"):
        if getattr(args, name) < 1:
            print(f"error: --{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}",
                  file=sys.stderr)
            return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        model, _ = model_from_checkpoint(args.checkpoint)
        videos, _ = load_videos(args.data, args.format, args.cache, model.config, progress=False)
    except (CheckpointError, ValueError, FileNotFoundError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    held = {s.strip() for s in args.held_out.split(",") if s.strip()}
    subjects = sorted({v.subject for v in videos})
    unknown = sorted(held - set(subjects))
    if not held or unknown:
        print(f"error: --held-out must name subjects of {args.data} {subjects}; unknown: "
              f"{unknown}", file=sys.stderr)
        return 2
    try:
        report = diagnose(model, [v for v in videos if v.subject not in held],
                          [v for v in videos if v.subject in held], args.clips,
                          args.held_out_clips, args.clip_frames, args.steps, args.seed)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report["checkpoint"] = str(args.checkpoint)
    report["held_out_subjects"] = sorted(held)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0
