"""Backbone pretraining on SynthME's dense per-frame truth (a stand-in for the paper's AffectNet).

The paper adapts its ResNet-18 to faces by pretraining on ImageNet and AffectNet; neither can be
had here. The generator, though, knows for every frame which action units are active and how
strongly (``<video>.frames.csv``: smile strength, AU1..AU26, blink). This module regresses that
signal from the model's own input on *every* face frame, not only at window centres, so the
backbone learns facial motion before STSNet_SW is trained on the sparse window labels:

- for a lag-difference input (``x_t - x_{t-k}``) the target is the change the input shows,
  ``truth(t) - truth(t-k)`` (signed: onset and offset look opposite);
- for raw crops and the reference difference it is ``truth(t)`` itself.

The blink column is a target like any other, so the features keep blinks apart from the
micro-expressions they resemble in size. Only training subjects are read (the dataset's split, or
``--subjects``). The result is a checkpoint of the backbone alone; ``train --init-backbone FILE``
starts STSNet_SW from it (the input transform must match, it is checked).
"""

from __future__ import annotations

import argparse
import csv
import json
import pickle
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from export.cachedir import cache_help, default_cache_dir
from export.datasets import DatasetError, read_split, subjects_in
from export.model import FEATURE_CHANNELS, Backbone, ModelConfig
from export.videos import TrainVideo
from realtime.reference import KIND_LAG

PRETRAIN_FORMAT = "stsnet_sw-backbone-pretrain/1"


class PretrainError(ValueError):
    """Pretraining cannot run or its checkpoint cannot be used (the message says why)."""


@dataclass(frozen=True)
class PretrainConfig:
    """Optimisation settings of the pretraining run."""

    steps: int = 600
    batch_frames: int = 48
    lr: float = 1e-3
    weight_decay: float = 1e-4
    active_share: float = 0.5  # share of each batch drawn from frames whose target is non-zero
    seed: int = 0

    def __post_init__(self) -> None:
        for name, lo in (("steps", 1), ("batch_frames", 2)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise PretrainError(f"{name} must be an int >= {lo}, got {v!r}")
        if not 0.0 <= self.active_share <= 1.0:
            raise PretrainError(f"active_share must be in [0, 1], got {self.active_share!r}")
        if not self.lr > 0:
            raise PretrainError(f"lr must be > 0, got {self.lr!r}")


def read_frame_truth(path: Path) -> tuple[list[str], np.ndarray]:
    """``<video>.frames.csv`` -> (column names, ``(N, C)`` float32), frame order checked."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as exc:
        raise PretrainError(f"cannot read frame truth {path}: {exc.strerror or exc}") from exc
    if not rows or rows[0][:2] != ["frame", "label"] or len(rows[0]) < 3:
        raise PretrainError(f"{path}: not a SynthME frame-truth file (header 'frame,label,...')")
    names = rows[0][2:]
    try:
        frames = [int(r[0]) for r in rows[1:]]
        values = np.array([[float(x) for x in r[2:]] for r in rows[1:]], np.float32)
    except (ValueError, IndexError) as exc:
        raise PretrainError(f"{path}: malformed row ({exc})") from exc
    if frames != list(range(len(frames))) or values.shape[1:] != (len(names),):
        raise PretrainError(f"{path}: frames must be 0..N-1 with {len(names)} values each")
    return names, values


def frame_targets(truth: np.ndarray, valid: np.ndarray, model_cfg: ModelConfig) -> np.ndarray:
    """What the backbone should read off each frame's input (see the module docstring).

    For a lag difference the target follows the input exactly, including its restart: within a
    face run the frames before the run's ``k``-th stand in for ``t - k`` by the run's first frame.
    """
    t = model_cfg.input_transform
    if t.kind != KIND_LAG:
        return truth.copy()
    out = np.zeros_like(truth)
    k = t.lag_frames
    start = 0
    for i in range(len(truth)):
        if not valid[i]:
            start = i + 1
            continue
        out[i] = truth[i] - truth[max(i - k, start)]
    return out


class PretrainNet(nn.Module):
    """The STSNet_SW backbone with a linear read-out of the pooled features."""

    def __init__(self, model_cfg: ModelConfig, outputs: int) -> None:
        super().__init__()
        self.backbone = Backbone(model_cfg)
        self.readout = nn.Linear(FEATURE_CHANNELS, outputs)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.readout(self.backbone(frames).mean(dim=(2, 3)))


class _FramePool:
    """Face frames of the training videos with their targets, sampled half active, half not."""

    def __init__(self, videos: list[TrainVideo], targets: list[np.ndarray], seed: int) -> None:
        self.videos, self.targets = videos, targets
        self.rng = np.random.default_rng(seed)
        active, quiet = [], []
        for vi, (v, tg) in enumerate(zip(videos, targets, strict=True)):
            for i in np.flatnonzero(v.valid):
                (active if np.abs(tg[i]).max() > 1e-3 else quiet).append((vi, int(i)))
        if not active and not quiet:
            raise PretrainError("no face frame in the pretraining videos")
        self.active = np.array(active or quiet, np.int64)
        self.quiet = np.array(quiet or active, np.int64)

    def sample(self, n: int, active_share: float) -> tuple[np.ndarray, np.ndarray]:
        n_act = int(round(n * active_share))
        picks = np.concatenate([
            self.active[self.rng.integers(len(self.active), size=n_act)],
            self.quiet[self.rng.integers(len(self.quiet), size=n - n_act)]])
        crops = np.stack([self.videos[vi].crops[i] for vi, i in picks])
        targets = np.stack([self.targets[vi][i] for vi, i in picks])
        return crops, targets


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Horizontal flips and small shifts (the input's geometry, never its grey levels)."""
    flip = torch.rand(x.shape[0], generator=gen) < 0.5
    x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
    dy, dx = (int(v) for v in torch.randint(-4, 5, (2,), generator=gen))
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def pretrain(videos: list[TrainVideo], truths: list[np.ndarray], column_names: list[str],
             model_cfg: ModelConfig, cfg: PretrainConfig, progress: bool = True
             ) -> tuple[dict[str, torch.Tensor], list[dict[str, float]]]:
    """Fit the backbone; returns its state dict and a per-50-step log (loss vs a zero guess)."""
    targets = [frame_targets(t, v.valid, model_cfg) for v, t in zip(videos, truths, strict=True)]
    scale = np.concatenate([t[v.valid] for v, t in zip(videos, targets, strict=True)]).std(0)
    scale = np.where(scale > 1e-6, scale, 1.0).astype(np.float32)
    pool = _FramePool(videos, targets, cfg.seed)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    net = PretrainNet(model_cfg, len(column_names))
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps, eta_min=cfg.lr * 1e-3)
    log: list[dict[str, float]] = []
    losses, zero = [], []
    t0 = time.perf_counter()
    net.train()
    # bfloat16 only where the CPU has bf16 units: emulated, a 60-step test run took > 600 s
    # on an AVX2-only EPYC (the recipe's numbers came from a CPU with AVX512-BF16)
    from export.train import cpu_has_bf16

    use_bf16 = cpu_has_bf16()
    for step in range(1, cfg.steps + 1):
        crops, tg = pool.sample(cfg.batch_frames, cfg.active_share)
        x = _augment(torch.from_numpy(crops).float().div_(255).unsqueeze(1), gen)
        y = torch.from_numpy(tg / scale)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
            pred = net(x)
        loss = F.mse_loss(pred.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        zero.append(float((y ** 2).mean()))
        if step % 50 == 0 or step == cfg.steps:
            rec = {"step": step, "loss": float(np.mean(losses)), "zero_guess": float(np.mean(zero)),
                   "frames_per_s": step * cfg.batch_frames / (time.perf_counter() - t0)}
            log.append(rec)
            losses, zero = [], []
            if progress:
                print(f"pretrain step {step}/{cfg.steps}: loss {rec['loss']:.4f} "
                      f"(zero guess {rec['zero_guess']:.4f}), {rec['frames_per_s']:.0f} frames/s",
                      file=sys.stderr)
    return {k: v.detach().clone() for k, v in net.backbone.state_dict().items()}, log


def save_backbone(path: Path, state: dict[str, torch.Tensor], model_cfg: ModelConfig,
                  meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": PRETRAIN_FORMAT, "backbone": state,
                "input_transform": model_cfg.input_transform.to_dict(),
                "crop_size": model_cfg.crop_size, "meta": meta}, tmp)
    tmp.replace(path)


def read_backbone(path: Path, model_cfg: ModelConfig) -> dict[str, Any]:
    """A pretrained backbone file, checked against the model it is for (PretrainError naming a
    different input transform or crop size, or a file that is not one)."""
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise PretrainError(f"cannot read pretrained backbone {path}: {exc}") from exc
    if not isinstance(ck, dict) or ck.get("format") != PRETRAIN_FORMAT:
        raise PretrainError(f"{path} is not a pretrained backbone ({PRETRAIN_FORMAT})")
    want = model_cfg.input_transform.to_dict()
    if ck["input_transform"] != want or ck["crop_size"] != model_cfg.crop_size:
        raise PretrainError(f"{path} was pretrained on input {ck['input_transform']} at "
                            f"{ck['crop_size']} px; this model takes {want} at "
                            f"{model_cfg.crop_size} px")
    return ck


def load_backbone_into(model: nn.Module, path: Path, model_cfg: ModelConfig) -> dict[str, Any]:
    """Copy a pretrained backbone into ``model.backbone``; returns the file's metadata."""
    ck = read_backbone(path, model_cfg)
    model.backbone.load_state_dict(ck["backbone"])
    return dict(ck.get("meta", {}))


def load_truths(data: Path, videos: list[TrainVideo]) -> tuple[list[str], list[np.ndarray]]:
    """The frame truth of every video (``ROOT/<subject>/<video>.frames.csv``), columns checked."""
    names: list[str] | None = None
    truths = []
    for v in videos:
        cols, values = read_frame_truth(data / v.subject / f"{v.video}.frames.csv")
        if names is not None and cols != names:
            raise PretrainError(f"{v.subject}/{v.video}: frame-truth columns differ from the "
                                f"first video's")
        if len(values) != len(v.valid):
            raise PretrainError(f"{v.subject}/{v.video}: {len(values)} truth rows for "
                                f"{len(v.valid)} frames")
        names = cols
        truths.append(values)
    if names is None:
        raise PretrainError("no video to pretrain on")
    return names, truths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = PretrainConfig()
    parser.add_argument("--data", required=True, type=Path,
                        help="SynthME dataset root (with <subject>/<video>.frames.csv)")
    parser.add_argument("--cache", type=Path, default=default_cache_dir(), help=cache_help())
    parser.add_argument("--out", required=True, type=Path, help="pretrained backbone file (.pt)")
    parser.add_argument("--split", default="train",
                        help="pretrain on this split of the dataset's split.csv (default train)")
    parser.add_argument("--subjects", default="", help="comma list instead of --split")
    parser.add_argument("--input-tau-frames", type=int, default=0,
                        help="reference-difference input, as in train")
    parser.add_argument("--input-lag-frames", type=int, default=0,
                        help="lag-difference input, as in train")
    parser.add_argument("--input-gain", type=float, default=4.0, help="as in train")
    parser.add_argument("--steps", type=int, default=d.steps, help="optimiser steps")
    parser.add_argument("--batch-frames", type=int, default=d.batch_frames, help="frames per step")
    parser.add_argument("--lr", type=float, default=d.lr, help="AdamW learning rate (cosine)")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def run(args: argparse.Namespace) -> int:
    from export.videos import load_videos

    try:
        cfg = PretrainConfig(steps=args.steps, batch_frames=args.batch_frames, lr=args.lr,
                             seed=args.seed)
        model_cfg = ModelConfig(input_tau_frames=args.input_tau_frames,
                                input_lag_frames=args.input_lag_frames,
                                input_gain=args.input_gain)
        subjects = ([s for s in args.subjects.split(",") if s] if args.subjects
                    else subjects_in(read_split(args.data), args.split))
        if args.threads:
            torch.set_num_threads(args.threads)
        videos, info = load_videos(args.data, "generic", args.cache, model_cfg,
                                   progress=not args.quiet)
        videos = [v for v in videos if v.subject in set(subjects)]
        names, truths = load_truths(args.data, videos)
        t0 = time.perf_counter()
        state, log = pretrain(videos, truths, names, model_cfg, cfg, progress=not args.quiet)
    except (PretrainError, DatasetError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    meta = {"config": asdict(cfg), "subjects": subjects, "videos": len(videos),
            "columns": names, "dataset": info.get("name"), "log": log,
            "seconds": round(time.perf_counter() - t0, 1)}
    save_backbone(args.out, state, model_cfg, meta)
    print(json.dumps({"out": str(args.out), "final": log[-1], "seconds": meta["seconds"]}))
    return 0
