"""Backbone pretraining on per-frame truth (export/pretrain.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from export.model import ModelConfig, build_model
from export.pretrain import (
    PretrainConfig,
    PretrainError,
    frame_targets,
    load_backbone_into,
    load_truths,
    pretrain,
    read_frame_truth,
    save_backbone,
)
from export.videos import TrainVideo

LAG = ModelConfig(crop_size=64, input_lag_frames=2, input_gain=4.0)


def test_lag_targets_are_the_change_over_the_lag_and_restart_after_a_face_gap():
    truth = np.arange(8, dtype=np.float32).reshape(8, 1) ** 2
    valid = np.array([1, 1, 1, 1, 0, 1, 1, 1], bool)
    got = frame_targets(truth, valid, LAG)[:, 0]
    # run 0..3: t - max(t-2, 0); run 5..7 restarts at 5
    assert got.tolist() == [0, 1, 4, 8, 0, 0, 11, 24]
    raw = frame_targets(truth, valid, ModelConfig(crop_size=64))
    np.testing.assert_array_equal(raw, truth)


def test_frame_truth_file_is_read_and_bad_files_are_refused(tmp_path):
    good = tmp_path / "v.frames.csv"
    good.write_text("frame,label,smile,AU12,blink\n0,none,0,0,0\n1,micro,0.5,0.25,0\n")
    names, values = read_frame_truth(good)
    assert names == ["smile", "AU12", "blink"]
    np.testing.assert_allclose(values, [[0, 0, 0], [0.5, 0.25, 0]])
    bad = tmp_path / "b.frames.csv"
    bad.write_text("frame,label,smile\n0,none,0\n2,none,0\n")
    with pytest.raises(PretrainError, match="frames must be 0..N-1"):
        read_frame_truth(bad)
    with pytest.raises(PretrainError, match="cannot read frame truth"):
        read_frame_truth(tmp_path / "missing.csv")
    (tmp_path / "x.frames.csv").write_text("a,b\n")
    with pytest.raises(PretrainError, match="not a SynthME frame-truth file"):
        read_frame_truth(tmp_path / "x.frames.csv")


def _video(n: int = 30, seed: int = 0) -> tuple[TrainVideo, np.ndarray]:
    """A bright square that appears for a few frames, with its truth: the target is learnable."""
    rng = np.random.default_rng(seed)
    crops = rng.integers(100, 110, (n, 64, 64), dtype=np.uint8)
    truth = np.zeros((n, 2), np.float32)
    for on in (5, 18):
        crops[on:on + 4, 20:40, 20:40] += 60
        truth[on:on + 4, 0] = 1.0
    v = TrainVideo(subject="s1", video=f"v{seed}", crops=crops, valid=np.ones(n, bool),
                   labels=np.zeros(n, np.int64), fps=30.0)
    return v, truth


def test_pretraining_learns_the_target_and_the_backbone_loads_into_stsnet(tmp_path):
    videos, truths = zip(*[_video(seed=i) for i in range(2)], strict=True)
    cfg = PretrainConfig(steps=60, batch_frames=8, lr=2e-3)
    model_cfg = ModelConfig(crop_size=64)
    state, log = pretrain(list(videos), list(truths), ["a", "b"], model_cfg, cfg, progress=False)
    assert log[-1]["loss"] < log[-1]["zero_guess"] * 0.6  # beats predicting zero
    path = tmp_path / "bb.pt"
    save_backbone(path, state, model_cfg, {"note": "test"})
    model = build_model(model_cfg)
    assert load_backbone_into(model, path, model_cfg) == {"note": "test"}
    for k, v in model.backbone.state_dict().items():
        torch.testing.assert_close(v, state[k])
    with pytest.raises(PretrainError, match="pretrained on input"):
        load_backbone_into(build_model(LAG), path, LAG)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(PretrainError, match="cannot read pretrained backbone"):
        load_backbone_into(model, tmp_path / "junk.pt", model_cfg)


def test_load_truths_checks_lengths(tmp_path):
    v, _ = _video(n=30)
    (tmp_path / "s1").mkdir()
    (tmp_path / "s1" / "v0.frames.csv").write_text(
        "frame,label,smile\n" + "".join(f"{i},none,0\n" for i in range(29)))
    with pytest.raises(PretrainError, match="29 truth rows for 30 frames"):
        load_truths(tmp_path, [v])


def test_bad_config_is_refused():
    with pytest.raises(PretrainError, match="steps must be an int"):
        PretrainConfig(steps=0)
    with pytest.raises(PretrainError, match="active_share"):
        PretrainConfig(active_share=2.0)
