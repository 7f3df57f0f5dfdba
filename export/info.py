"""``python -m export info``: parameter counts and FLOPs of STSNet_SW.

FLOPs are measured, not estimated by hand: one forward pass runs under
:class:`torch.utils.flop_counter.FlopCounterMode`, which counts matrix products and convolutions
(including those inside the GRU) with a multiply-add as 2 FLOPs. Element-wise work (batch norm,
ReLU, softmax, sigmoid) is not counted; it is a small fraction of the total.

The live engine runs the backbone once per new frame and the head once per window, so one new
frame costs ``backbone_flops_per_frame + head_flops_per_window``; the whole-window graph, which
recomputes every frame of the window, costs ``window * backbone_flops_per_frame +
head_flops_per_window`` per window.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from export.checkpoint import CheckpointError, model_from_checkpoint
from export.model import FEATURE_CHANNELS, STSNetSW, build_model, count_parameters


@dataclass(frozen=True)
class ModelInfo:
    """Size and compute of one model (FLOPs count a multiply-add as 2)."""

    source: str  # checkpoint path, or "default config (untrained)"
    config: dict[str, Any]
    backbone_params: int
    head_params: int
    total_params: int
    backbone_flops_per_frame: int
    head_flops_per_window: int
    live_flops_per_frame: int  # backbone on the new frame + head on the window it completes
    window_graph_flops: int  # whole-window graph: K backbone passes + one head pass

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def count_flops(module: nn.Module, example: torch.Tensor) -> int:
    """FLOPs of one forward pass of ``module`` on ``example`` (multiply-add = 2 FLOPs)."""
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        module(example)
    return int(counter.get_total_flops())


def measure(model: STSNetSW, source: str = "model") -> ModelInfo:
    """Parameter counts and per-frame / per-window FLOPs of ``model`` (batch of one)."""
    cfg = model.config
    was_training = model.training
    model.eval()
    try:
        frame = torch.rand(1, 1, cfg.crop_size, cfg.crop_size)
        feats = torch.rand(1, cfg.window, FEATURE_CHANNELS, cfg.feature_size, cfg.feature_size)
        backbone_flops = count_flops(model.backbone, frame)
        head_flops = count_flops(model.head, feats)
    finally:
        model.train(was_training)
    backbone_params = count_parameters(model.backbone)
    head_params = count_parameters(model.head)
    return ModelInfo(
        source=source, config=cfg.to_dict(),
        backbone_params=backbone_params, head_params=head_params,
        total_params=count_parameters(model),
        backbone_flops_per_frame=backbone_flops, head_flops_per_window=head_flops,
        live_flops_per_frame=backbone_flops + head_flops,
        window_graph_flops=cfg.window * backbone_flops + head_flops)


def format_info(info: ModelInfo) -> str:
    """A short human-readable table."""
    cfg = info.config
    lines = [
        f"STSNet_SW from {info.source}",
        f"  window K={cfg['window']}, key frames M={cfg['key_frames']}, "
        f"crop {cfg['crop_size']}x{cfg['crop_size']} gray, classes {cfg['class_names']}",
        "parameters",
        f"  backbone  {info.backbone_params:>12,d}",
        f"  head      {info.head_params:>12,d}",
        f"  total     {info.total_params:>12,d}",
        "FLOPs (multiply-add = 2 FLOPs; matmuls and convolutions only)",
        f"  backbone, per frame        {info.backbone_flops_per_frame / 1e9:8.3f} GFLOPs",
        f"  head, per window           {info.head_flops_per_window / 1e9:8.3f} GFLOPs",
        f"  live engine, per new frame {info.live_flops_per_frame / 1e9:8.3f} GFLOPs",
        f"  whole-window graph         {info.window_graph_flops / 1e9:8.3f} GFLOPs",
    ]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="checkpoint (.pt) file; default: an untrained default-config model")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    if args.checkpoint is None:
        model, source = build_model(seed=0), "default config (untrained)"
    else:
        try:
            model, _ = model_from_checkpoint(args.checkpoint)
        except CheckpointError as exc:
            print(f"error: {exc}")
            return 2
        source = str(args.checkpoint)
    info = measure(model, source)
    print(json.dumps(info.to_dict(), indent=2) if args.json else format_info(info))
    return 0
