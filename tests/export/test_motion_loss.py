"""The label-free motion auxiliary loss: targets locate image change, not pixel noise."""

from __future__ import annotations

import numpy as np
import torch

from export.motion_loss import motion_targets


def test_motion_targets_locate_the_change_and_ignore_pixel_noise() -> None:
    rng = np.random.default_rng(1)
    base = rng.uniform(0.2, 0.8, (1, 1, 1, 128, 128)).astype(np.float32)
    clip = np.repeat(base, 6, axis=1)
    clip = clip + rng.normal(0, 0.004, clip.shape).astype(np.float32)  # sensor noise only
    clip[0, 3:, 0, :32, 96:] += 0.1  # a patch changes from frame 3 on (top-right 4x4 cell)
    targets = motion_targets(torch.from_numpy(clip), grid=4)
    assert sorted(targets) == [1, 2, 4]
    assert targets[1].shape == (1, 5, 4, 4) and targets[4].shape == (1, 2, 4, 4)
    step = targets[1][0, 2]  # frames 2 -> 3: the step
    assert step[0, 3] > 1.0  # log1p(100 * 0.1 * 1.0) = 2.4
    others = np.delete(step.numpy().ravel(), 3)
    assert others.max() < 0.1  # noise averaged over 8x8 blocks stays near 0
    assert targets[1][0, 0].max() < 0.1  # frames 0 -> 1: nothing moved
