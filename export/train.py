"""``python -m export train``: train STSNet_SW on face-crop caches, by subject-disjoint protocol.

Protocols: ``loso`` (leave one subject out, the paper's), ``kfold`` (k folds by subject),
``split`` (fixed held-out subjects) and ``all`` (one model on every subject, for shipping).
Each fold writes ``RUN/<fold>/checkpoint.pt`` (with optimizer/scheduler/epoch state for
``--resume``), ``RUN/<fold>/log.jsonl`` (loss, windows/s and validation F1 per epoch) and, for
held-out folds, its spotted intervals; ``RUN/results.md`` / ``results.json`` pool the folds with
the MEGC 2020 metric.

Efficiency on a CPU: training runs on contiguous clips of ``--clip-frames`` frames; every frame of
a clip passes the backbone once and all ``L - K + 1`` windows of the clip share those feature maps
(``STSNetSW.forward_clips``). bfloat16 autocast and channels-last memory are used where the CPU
supports them; CUDA is used when present.

Class imbalance: clip centres are sampled so that each class (none/micro/macro) is drawn equally
often (balanced sampling); the loss itself is unweighted.

Motion auxiliary loss (``--motion-weight``, off by default; not in the paper): a label-free term
that asks the backbone's feature maps to change where the face changes
(:mod:`export.motion_loss`); the probe it trains is dropped, the exported model is STSNet_SW.

Reference-difference input (``--input-tau-frames N``, not in the paper): the model is fed each
crop minus a running average of the face's previous crops (``realtime/reference.py``), which
takes the person out of the input. The setting is stored in the model's config and the graphs'
contract, and the live engine applies the same transform. With it, and without it, the recipe is
otherwise the same; photometric jitter is off with it (it would move the neutral grey).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from export.cachedir import cache_help, default_cache_dir
from export.checkpoint import load_checkpoint, save_checkpoint
from export.datasets import FORMATS, read_split
from export.evaluate import Report, TorchPredictor, evaluate_videos, pool_reports, write_report
from export.folds import PROTOCOLS, make_folds
from export.model import ModelConfig, STSNetSW, build_model
from export.motion_loss import make_motion_probe, motion_loss, motion_targets
from export.videos import TrainVideo, load_videos, window_centres
from realtime.reference import KIND_RAW

# TrainConfig fields set one to one by an option of the same name (``--clip-frames``).
_NUMERIC_OPTIONS = ("epochs", "lr", "lr_min", "momentum", "weight_decay", "clip_frames",
                    "batch_clips", "clips_per_epoch", "seed", "val_every", "motion_weight")
# What --no-augment turns off (resize_px 128 = the crop size: no resize-and-crop).
_NO_AUGMENT = {"flip": False, "photometric": False, "rotate_deg": 0.0, "scale_jitter": 0.0,
               "resize_px": 128}


@dataclass(frozen=True)
class TrainConfig:
    """Training recipe. Defaults are the paper's (Sec. 3.2) plus the authors' augmentation."""

    epochs: int = 30
    optimizer: str = "sgd"  # the paper's SGD; "adamw" converges faster from scratch
    lr: float = 1e-3
    lr_min: float = 1e-8
    momentum: float = 0.9
    weight_decay: float = 5e-4
    clip_frames: int = 16  # L: frames per training clip (L - K + 1 windows share one pass)
    batch_clips: int = 4
    clips_per_epoch: int = 400  # sampled with balanced class centres
    resize_px: int = 144  # authors' augmentation: resize to 144, random crop 128
    flip: bool = True
    rotate_deg: float = 10.0  # per-clip rotation in [-r, r] degrees
    scale_jitter: float = 0.1  # per-clip zoom in [1 - j, 1 + j]
    photometric: bool = True  # brightness/contrast/gamma jitter per clip, noise per frame
    bf16: bool = True  # bfloat16 autocast on CPU (and CUDA)
    seed: int = 0
    val_every: int = 0  # evaluate held-out videos every N epochs (0: only at the end)
    motion_weight: float = 0.0  # weight of the label-free motion auxiliary loss (0: off)

    def __post_init__(self) -> None:
        checks = {"epochs": self.epochs >= 1, "lr": self.lr > 0, "lr_min": 0 <= self.lr_min,
                  "batch_clips": self.batch_clips >= 1,
                  "clips_per_epoch": self.clips_per_epoch >= 1,
                  "clip_frames": self.clip_frames >= 5, "weight_decay": self.weight_decay >= 0,
                  "momentum": 0 <= self.momentum < 1, "val_every": self.val_every >= 0,
                  "motion_weight": self.motion_weight >= 0}
        checks["optimizer"] = self.optimizer in ("sgd", "adamw")
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            listed = ", ".join(f"{k}={getattr(self, k)!r}" for k in bad)
            raise ValueError(f"invalid training settings: {listed}"
                             " (epochs, batch_clips, clips_per_epoch >= 1; clip_frames >= 5; "
                             "lr > 0; 0 <= momentum < 1; motion_weight >= 0)")

    @classmethod
    def from_args(cls, args: argparse.Namespace,
                  model_cfg: ModelConfig | None = None) -> TrainConfig:
        """The recipe the ``train`` options ask for (ValueError naming a bad setting).

        ``--no-augment`` turns every augmentation off; a model fed difference images
        (``model_cfg``'s input transform is not raw) gets no photometric jitter, since
        brightness/contrast jitter would move a difference image's neutral grey (lighting
        changes reach such a model through the data instead)."""
        cfg = cls(optimizer=args.optimizer, bf16=not args.no_bf16,
                  **{name: getattr(args, name) for name in _NUMERIC_OPTIONS})
        if args.no_augment:
            return replace(cfg, **_NO_AUGMENT)
        if model_cfg is not None and model_cfg.input_transform.kind != KIND_RAW:
            return replace(cfg, photometric=False)
        return cfg


# --------------------------------------------------------------------------- sampling

class ClipSampler:
    """Draws training clips whose centre classes are balanced (each class equally likely)."""

    def __init__(self, videos: list[TrainVideo], model_cfg: ModelConfig, clip_frames: int,
                 seed: int) -> None:
        self.videos = videos
        self.k = model_cfg.window
        self.length = clip_frames
        self.rng = np.random.default_rng(seed)
        by_class: dict[int, list[tuple[int, int]]] = {}
        for vi, v in enumerate(videos):
            if len(v.valid) < clip_frames:
                continue
            for c in window_centres(v, clip_frames):
                by_class.setdefault(int(v.labels[c]), []).append((vi, int(c)))
        self.pools = {c: np.array(p, dtype=np.int64) for c, p in sorted(by_class.items()) if p}
        if not self.pools:
            raise ValueError(f"no clip of {clip_frames} consecutive face frames in the training "
                             "videos; check the face-crop cache (valid masks) and --clip-frames")

    def sample(self) -> tuple[np.ndarray, np.ndarray]:
        """One clip: crops (L, S, S) uint8 and per-window labels (L - K + 1,)."""
        classes = list(self.pools)
        c = classes[self.rng.integers(len(classes))]
        vi, centre = self.pools[c][self.rng.integers(len(self.pools[c]))]
        v = self.videos[vi]
        start = int(centre) - self.length // 2
        clip = v.crops[start:start + self.length]
        half = self.k // 2
        labels = v.labels[start + half:start + self.length - half]
        return clip, labels


def augment(clips: torch.Tensor, cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    """``(B, L, 1, S, S)`` in [0, 1]; one geometric/photometric draw per clip, time-consistent."""
    b, length, _, s, _ = clips.shape
    x = clips.reshape(b * length, 1, s, s)
    if cfg.resize_px > s:
        x = F.interpolate(x, size=(cfg.resize_px, cfg.resize_px), mode="bilinear",
                          align_corners=False)
        x = x.reshape(b, length, 1, cfg.resize_px, cfg.resize_px)
        out = torch.empty_like(clips)
        for i in range(b):
            oy, ox = (int(t) for t in torch.randint(0, cfg.resize_px - s + 1, (2,), generator=gen))
            out[i] = x[i, :, :, oy:oy + s, ox:ox + s]
        x = out
    else:
        x = x.reshape(b, length, 1, s, s)
    if cfg.flip:
        flip = torch.rand(b, generator=gen) < 0.5
        x = torch.where(flip.view(b, 1, 1, 1, 1), x.flip(-1), x)
    if cfg.rotate_deg > 0 or cfg.scale_jitter > 0:
        # One similarity transform per clip (rotation, zoom) so identity cues vary while the
        # frame-to-frame changes that mark an expression stay intact.
        angle = (torch.rand(b, generator=gen) * 2 - 1) * math.radians(cfg.rotate_deg)
        zoom = 1 + (torch.rand(b, generator=gen) * 2 - 1) * cfg.scale_jitter
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack([torch.stack([cos, -sin, torch.zeros(b)], 1),
                             torch.stack([sin, cos, torch.zeros(b)], 1)], 1)  # (B, 2, 3)
        theta = theta.repeat_interleave(length, dim=0)
        grid = F.affine_grid(theta, [b * length, 1, s, s], align_corners=False)
        x = F.grid_sample(x.reshape(b * length, 1, s, s), grid, mode="bilinear",
                          padding_mode="border", align_corners=False).reshape(b, length, 1, s, s)
    if cfg.photometric:
        gain = 1 + (torch.rand(b, 1, 1, 1, 1, generator=gen) - 0.5) * 0.4
        bias = (torch.rand(b, 1, 1, 1, 1, generator=gen) - 0.5) * 0.2
        gamma = torch.exp((torch.rand(b, 1, 1, 1, 1, generator=gen) - 0.5) * 0.6)
        noise = torch.randn(x.shape, generator=gen) * 0.004
        x = (x.clamp(0, 1) ** gamma * gain + bias + noise).clamp(0, 1)
    return x


# --------------------------------------------------------------------------- loop

def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but torch sees no CUDA device")
    return torch.device(name)


def train_one_epoch(model: STSNetSW, sampler: ClipSampler, optimizer: torch.optim.Optimizer,
                    scheduler: Any, cfg: TrainConfig, device: torch.device,
                    gen: torch.Generator, epoch: int, progress: bool = True,
                    probe: torch.nn.Conv2d | None = None) -> dict[str, float]:
    model.train()
    steps = max(1, cfg.clips_per_epoch // cfg.batch_clips)
    total_loss = correct = seen = motion_total = 0.0
    t0 = time.perf_counter()
    use_bf16 = cfg.bf16 and (device.type == "cuda" or cpu_has_bf16())
    for step in range(steps):
        batch = [sampler.sample() for _ in range(cfg.batch_clips)]
        clips = torch.from_numpy(np.stack([c for c, _ in batch])).float().div_(255).unsqueeze(2)
        labels = torch.from_numpy(np.concatenate([lab for _, lab in batch])).long()
        clips = augment(clips, cfg, gen).to(device)
        labels = labels.to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            logits, _, feats = model.forward_clips(clips, return_features=True)
        ce = F.cross_entropy(logits.float(), labels)
        loss = ce
        if probe is not None:
            aux = motion_loss(feats, motion_targets(clips, feats.shape[-1]), probe)
            motion_total += aux.item() * len(labels)
            loss = ce + cfg.motion_weight * aux
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total_loss += ce.item() * len(labels)
        correct += float((logits.argmax(1) == labels).sum())
        seen += len(labels)
        if progress and (step % 10 == 9 or step == steps - 1):
            rate = seen / (time.perf_counter() - t0)
            print(f"\r  epoch {epoch:3d} step {step + 1:4d}/{steps} loss {total_loss / seen:.4f} "
                  f"{rate:6.1f} windows/s", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    elapsed = time.perf_counter() - t0
    stats = {"motion_loss": motion_total / seen} if probe is not None else {}
    return {**stats, "loss": total_loss / seen, "train_acc": correct / seen,
            "windows_per_s": seen / elapsed, "lr": scheduler.get_last_lr()[0],
            "epoch_s": elapsed}


_BF16: bool | None = None


def cpu_has_bf16() -> bool:
    """bfloat16 autocast only pays off with native bf16 matrix units (AVX512-BF16 / AMX)."""
    global _BF16
    if _BF16 is None:
        try:
            flags = Path("/proc/cpuinfo").read_text()
            _BF16 = "avx512_bf16" in flags or "amx_bf16" in flags
        except OSError:
            _BF16 = False
    return _BF16


def fit(train_videos: list[TrainVideo], model_cfg: ModelConfig, cfg: TrainConfig,
        out_dir: Path, device: torch.device, resume: bool = False,
        val_videos: list[TrainVideo] | None = None, metadata: dict[str, Any] | None = None,
        progress: bool = True, init_backbone: Path | None = None,
        init_checkpoint: Path | None = None) -> tuple[STSNetSW, list[dict[str, Any]]]:
    """Train one model; checkpoint every epoch so ``resume`` continues where it stopped.
    ``init_backbone``: a pretrained backbone (``export.pretrain``) to start from;
    ``init_checkpoint``: a trained STSNet_SW of the same config whose weights (all of them)
    this run continues from, on a fresh optimizer and schedule (a warm restart)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / "checkpoint.pt"
    torch.manual_seed(cfg.seed)
    model = build_model(model_cfg, seed=cfg.seed)
    if init_backbone is not None:
        from export.pretrain import load_backbone_into

        pre = load_backbone_into(model, init_backbone, model_cfg)
        metadata = {**(metadata or {}), "init_backbone": {"file": str(init_backbone),
                                                           "subjects": pre.get("subjects")}}
    if init_checkpoint is not None:
        metadata = {**(metadata or {}),
                    "init_checkpoint": load_init_checkpoint(model, init_checkpoint, model_cfg)}
    model = model.to(device)
    if device.type == "cpu":
        model = model.to(memory_format=torch.channels_last)
    probe = make_motion_probe().to(device) if cfg.motion_weight > 0 else None
    params = list(model.parameters()) + (list(probe.parameters()) if probe is not None else [])
    optimizer, scheduler = _optimizer(params, cfg)
    sampler = ClipSampler(train_videos, model_cfg, cfg.clip_frames, cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    log: list[dict[str, Any]] = []
    start_epoch = 1
    if resume and ckpt_path.is_file():
        state = _load_train_state(ckpt_path, cfg, model, probe, optimizer, scheduler)
        start_epoch = int(state["epoch"]) + 1
        log = list(state.get("log", []))
        sampler.rng = np.random.default_rng(cfg.seed + start_epoch)
        gen.manual_seed(cfg.seed + start_epoch)
        print(f"  resuming {ckpt_path} at epoch {start_epoch}", file=sys.stderr)
    for epoch in range(start_epoch, cfg.epochs + 1):
        stats = train_one_epoch(model, sampler, optimizer, scheduler, cfg, device, gen, epoch,
                                progress, probe=probe)
        entry: dict[str, Any] = {"epoch": epoch, **stats}
        last = epoch == cfg.epochs
        if val_videos and (last or (cfg.val_every and epoch % cfg.val_every == 0)):
            report = evaluate_videos(TorchPredictor(model, device), val_videos)
            entry["val_f1"] = report.overall_f1("merging")
            entry["val"] = {k: v["overall"] for k, v in report.scores_dict().items()}
        log.append(entry)
        print(f"  epoch {epoch}: " + json.dumps({k: (round(v, 5) if isinstance(v, float) else v)
                                                 for k, v in entry.items() if k != "val"}),
              file=sys.stderr, flush=True)
        with open(out_dir / "log.jsonl", "a") as f:
            f.write(json.dumps(entry) + "\n")
        save_checkpoint(ckpt_path, model, metadata={**(metadata or {}), "epochs_done": epoch},
                        train_state={"optimizer": optimizer.state_dict(),
                                     "scheduler": scheduler.state_dict(), "epoch": epoch,
                                     "train_config": asdict(cfg), "log": log,
                                     **({"probe": probe.state_dict()} if probe is not None
                                        else {})})
    model.eval()
    return model, log


def load_init_checkpoint(model: STSNetSW, path: Path, model_cfg: ModelConfig) -> dict[str, Any]:
    """Load a trained checkpoint's weights into ``model`` (ValueError when its model config
    differs from ``model_cfg``: a warm start continues the same model). Returns what the new
    checkpoint records of it (file, sha256, the epochs and recipe it had)."""
    from export.checkpoint import CheckpointError, file_sha256, model_from_checkpoint

    try:
        start, ckpt = model_from_checkpoint(path)
    except CheckpointError as exc:
        raise ValueError(f"--init-checkpoint: {exc}") from exc
    if start.config.to_dict() != model_cfg.to_dict():
        theirs, ours = start.config.to_dict(), model_cfg.to_dict()
        diff = {k: (theirs.get(k), ours.get(k)) for k in sorted(set(theirs) | set(ours))
                if theirs.get(k) != ours.get(k)}
        raise ValueError(f"--init-checkpoint {path}: its model differs from the one the options "
                         f"describe (checkpoint, options): {diff}")
    model.load_state_dict(start.state_dict())
    meta = ckpt["metadata"]
    return {"file": str(path), "sha256": file_sha256(path),
            "epochs_done": meta.get("epochs_done"), "train_config": meta.get("train_config"),
            "earlier": meta.get("init_checkpoint")}


def _optimizer(params: list[torch.nn.Parameter], cfg: TrainConfig) -> tuple[Any, Any]:
    """The recipe's optimizer and its cosine schedule over all steps of all epochs."""
    if cfg.optimizer == "adamw":
        optimizer: torch.optim.Optimizer = torch.optim.AdamW(
            params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        optimizer = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                                    weight_decay=cfg.weight_decay)
    steps_per_epoch = max(1, cfg.clips_per_epoch // cfg.batch_clips)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=cfg.epochs * steps_per_epoch, eta_min=cfg.lr_min)
    return optimizer, scheduler


def _load_train_state(ckpt_path: Path, cfg: TrainConfig, model: STSNetSW,
                      probe: torch.nn.Conv2d | None, optimizer: Any, scheduler: Any
                      ) -> dict[str, Any]:
    """Load an unfinished run's weights and optimizer state; its ``train_state`` dict."""
    ckpt = load_checkpoint(ckpt_path)
    state = ckpt.get("train_state") or {}
    if state.get("train_config") != asdict(cfg):
        raise ValueError(f"{ckpt_path}: cannot resume, it was trained with different settings "
                         f"{state.get('train_config')}")
    model.load_state_dict(ckpt["state_dict"])
    if probe is not None:
        probe.load_state_dict(state["probe"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return state


# --------------------------------------------------------------------------- command line

# ModelConfig fields set by a ``train`` option of the same name, in --help order, with their
# help text; the defaults are ModelConfig's. One more model option is one more line here.
MODEL_OPTIONS: tuple[tuple[str, type, str], ...] = (
    ("window", int, "K"),
    ("input_tau_frames", int, "model input: 0 feeds raw crops (the paper); N > 0 feeds each crop "
     "minus a running average of the face's previous crops with a time constant of N frames "
     "(realtime/reference.py)"),
    ("input_lag_frames", int, "model input: N > 0 feeds each crop minus the face's crop N frames "
     "earlier (lag difference; realtime/reference.py); not with --input-tau-frames"),
    ("input_gain", float, "contrast of the difference input (with --input-tau-frames or "
     "--input-lag-frames)"),
    ("key_frames", int, "M"),
    ("key_frame_mode", str, "selector (the paper: top-M frames by the attention scores) or "
     "fixed (ablation: the M middle frames of every window)"),
)


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def model_config_from_args(args: argparse.Namespace) -> ModelConfig:
    """The model the ``train`` options describe (ValueError naming a bad setting)."""
    return ModelConfig(class_names=tuple(c.strip() for c in args.classes.split(",")),
                       **{name: getattr(args, name) for name, _, _ in MODEL_OPTIONS})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d, m = TrainConfig(), ModelConfig()
    parser.add_argument("--data", required=True, type=Path, help="dataset root")
    parser.add_argument("--format", default="auto", choices=FORMATS)
    parser.add_argument("--cache", type=Path, default=default_cache_dir(), help=cache_help())
    parser.add_argument("--out", required=True, type=Path, help="run folder")
    parser.add_argument("--protocol", default="loso", choices=PROTOCOLS)
    parser.add_argument("--folds", type=int, default=4, help="number of folds for kfold")
    parser.add_argument("--test-subjects", default="", help="comma list for --protocol split")
    parser.add_argument("--init-checkpoint", type=Path, default=None,
                        help="continue from a trained STSNet_SW checkpoint of the same model "
                        "(all weights; fresh optimizer and cosine schedule: a warm restart)")
    parser.add_argument("--no-held-out-eval", action="store_true",
                        help="skip the PyTorch evaluation of the held-out subjects after "
                        "training (`python -m export tune` scores them through ONNX, faster)")
    parser.add_argument("--init-backbone", type=Path, default=None,
                        help="start the backbone from `python -m export pretrain`'s file")
    parser.add_argument("--classes", default=",".join(m.class_names),
                        help="class order; 'none,micro' or 'none,macro' for a binary model")
    for name, kind, text in MODEL_OPTIONS:
        parser.add_argument(_option(name), type=kind, default=getattr(m, name), help=text)
    parser.add_argument("--final", action="store_true",
                        help="also train a final model on all subjects after the folds")
    parser.add_argument("--only-folds", default="", help="comma list of fold names to run")
    parser.add_argument("--optimizer", default=d.optimizer, choices=["sgd", "adamw"])
    for name in _NUMERIC_OPTIONS:
        parser.add_argument(_option(name), type=type(getattr(d, name)), default=getattr(d, name))
    parser.add_argument("--no-bf16", action="store_true", help="train in float32")
    parser.add_argument("--no-augment", action="store_true")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--resume", action="store_true", help="continue unfinished folds")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    try:
        model_cfg = model_config_from_args(args)
        cfg = TrainConfig.from_args(args, model_cfg)
        device = pick_device(args.device)
        if args.init_backbone is not None:
            from export.pretrain import read_backbone

            read_backbone(args.init_backbone, model_cfg)  # refuse a mismatch before any work
        if args.init_checkpoint is not None:
            if args.init_backbone is not None:
                raise ValueError("--init-checkpoint and --init-backbone: give one (a checkpoint "
                                 "already holds a backbone)")
            load_init_checkpoint(build_model(model_cfg, seed=0), args.init_checkpoint, model_cfg)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        videos, dataset_info = load_videos(args.data, args.format, args.cache, model_cfg)
        test_subjects = [s for s in args.test_subjects.split(",") if s]
        if args.protocol == "dataset":
            videos, test_subjects = _dataset_split(args.data, videos)
        subjects = sorted({v.subject for v in videos})
        folds = make_folds(subjects, args.protocol, args.folds, test_subjects, args.seed)
    except (ValueError, FileNotFoundError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.final and args.protocol != "all":
        folds.append(("all", []))
    if args.only_folds:
        wanted = set(args.only_folds.split(","))
        folds = [f for f in folds if f[0] in wanted]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "run.json").write_text(json.dumps(
        {"argv": sys.argv, "train_config": asdict(cfg), "model_config": model_cfg.to_dict(),
         "dataset": dataset_info, "folds": folds, "device": str(device)}, indent=2))
    print(f"{len(videos)} videos, {len(subjects)} subjects, {len(folds)} fold(s), device {device}",
          file=sys.stderr)
    held_out_reports = [report for name, test_subjects in folds
                        if (report := _run_fold(args, name, test_subjects, videos, model_cfg, cfg,
                                                device, dataset_info)) is not None]
    if held_out_reports:
        pooled = pool_reports(held_out_reports)
        write_report(pooled, args.out)
        print(pooled.table)
    return 0


def _dataset_split(data: Path, videos: list[TrainVideo]
                   ) -> tuple[list[TrainVideo], list[str]]:
    """``--protocol dataset``: the dataset's own split.csv; train on ``train``, hold out
    ``test``; ``validation`` subjects are left out of both (they choose thresholds)."""
    split = read_split(data)
    if not split:
        raise ValueError(f"--protocol dataset: {data} has no split.csv")
    kept = [v for v in videos if split.get(v.subject) in ("train", "test")]
    return kept, sorted({v.subject for v in kept if split[v.subject] == "test"})


def _run_fold(args: argparse.Namespace, name: str, test_subjects: list[str],
              videos: list[TrainVideo], model_cfg: ModelConfig, cfg: TrainConfig,
              device: torch.device, dataset_info: dict[str, Any]) -> Report | None:
    """Train one fold into ``RUN/<name>``; its held-out report (None when nothing is held out)."""
    train_v = [v for v in videos if v.subject not in test_subjects]
    test_v = [v for v in videos if v.subject in test_subjects]
    print(f"fold {name}: train on {len(train_v)} videos, hold out {test_subjects}",
          file=sys.stderr)
    meta = {"dataset": dataset_info, "protocol": args.protocol, "fold": name,
            "held_out_subjects": test_subjects, "train_config": asdict(cfg)}
    t0 = time.perf_counter()
    model, _ = fit(train_v, model_cfg, cfg, args.out / name, device, resume=args.resume,
                   val_videos=test_v if cfg.val_every else None, metadata=meta,
                   progress=not args.quiet, init_backbone=args.init_backbone,
                   init_checkpoint=args.init_checkpoint)
    if not test_v:
        return None
    if args.no_held_out_eval:
        print(f"fold {name}: trained in {time.perf_counter() - t0:.0f} s; held-out evaluation "
              "skipped (--no-held-out-eval)", file=sys.stderr)
        return None
    report = evaluate_videos(TorchPredictor(model, device), test_v)
    write_report(report, args.out / name)
    print(f"fold {name}: held-out F1 (merging) {report.overall_f1('merging'):.4f} "
          f"in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return report


def cosine_lr(step: int, total: int, lr: float, lr_min: float) -> float:
    """Closed form of the schedule (documentation/tests)."""
    return lr_min + (lr - lr_min) * (1 + math.cos(math.pi * step / total)) / 2
