"""Motion auxiliary loss of ``python -m export train --motion-weight W`` (off by default).

Not in the paper: the paper starts its backbone from ImageNet and AffectNet weights, which cannot
be downloaded here, and a backbone trained from scratch on a few identities learns who the person
is and almost nothing of the small frame-to-frame deformations that mark an expression. This
label-free term asks the backbone's feature maps to change where the face changes: for frame
pairs ``(t, t + d)`` of a training clip, ``d`` in (1, 2, 4), a per-position linear probe on
``|f_t - f_{t+d}|`` (512 -> 1 at each of the 4x4 positions) regresses the local image change
(block-averaged absolute difference of the two crops, on the same 4x4 grid, ``log1p``-scaled).
It costs no extra backbone pass (the clip's features are shared with the classification loss);
the probe is dropped after training, so the exported model is exactly STSNet_SW. On SynthME it
did not help (weights/MODEL_CARD.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from export.model import FEATURE_CHANNELS

MOTION_STEPS = (1, 2, 4)  # frame distances of the pairs the motion loss compares
MOTION_BLOCK_PX = 8  # crops are block-averaged first so sensor noise does not count as motion
MOTION_SCALE = 100.0  # target = log1p(scale * mean |block difference|), pixel values in [0, 1]


def motion_targets(clips: torch.Tensor, grid: int) -> dict[int, torch.Tensor]:
    """``(B, L, 1, S, S)`` crops -> {d: (B, L - d, grid, grid)} local change between t and t+d."""
    b, length, _, s, _ = clips.shape
    blocks = F.avg_pool2d(clips.reshape(b * length, 1, s, s), MOTION_BLOCK_PX)
    blocks = blocks.reshape(b, length, *blocks.shape[-2:])
    out = {}
    for d in MOTION_STEPS:
        if d >= length:
            continue
        diff = (blocks[:, d:] - blocks[:, :-d]).abs()
        pooled = F.adaptive_avg_pool2d(diff.reshape(-1, 1, *diff.shape[-2:]), grid)
        out[d] = torch.log1p(MOTION_SCALE * pooled.reshape(b, length - d, grid, grid))
    return out


def motion_loss(feats: torch.Tensor, targets: dict[int, torch.Tensor],
                probe: torch.nn.Conv2d) -> torch.Tensor:
    """Mean squared error of the probe's change estimate from ``|f_t - f_{t+d}|``.

    ``feats`` ``(B, L, C, H, W)`` are the clip's backbone features."""
    losses = []
    for d, target in targets.items():
        delta = (feats[:, d:] - feats[:, :-d]).abs().float()
        pred = probe(delta.reshape(-1, *delta.shape[2:])).reshape(target.shape)
        losses.append(F.mse_loss(pred, target))
    return torch.stack(losses).mean()


def make_motion_probe() -> torch.nn.Conv2d:
    """The per-position linear probe of the motion loss (not part of the exported model)."""
    return torch.nn.Conv2d(FEATURE_CHANNELS, 1, kernel_size=1)
