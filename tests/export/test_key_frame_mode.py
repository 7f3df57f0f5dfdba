"""The key-frame selector ablation (key_frame_mode="fixed"): the M middle frames, in PyTorch
and in the exported graphs, from the same weights as the selector model."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from export.checkpoint import save_checkpoint
from export.model import ModelConfig, build_model, fixed_key_frames
from export.onnx_export import export_checkpoint
from realtime.contract import open_graph


def test_fixed_frames_are_centred() -> None:
    assert fixed_key_frames(2, 5, 3).tolist() == [[1, 2, 3], [1, 2, 3]]
    assert fixed_key_frames(1, 5, 1).tolist() == [[2]]
    assert fixed_key_frames(1, 5, 5).tolist() == [[0, 1, 2, 3, 4]]
    assert fixed_key_frames(1, 7, 3).tolist() == [[2, 3, 4]]


def test_bad_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="key_frame_mode"):
        ModelConfig(key_frame_mode="random")


def test_fixed_mode_picks_the_middle_whatever_the_scores() -> None:
    model = build_model(seed=4).eval()
    feats = torch.randn(3, 5, 512, 4, 4)
    with torch.no_grad():
        _, _, idx_sel = model.head(feats, return_keys=True)
        model.head.config = dataclasses.replace(model.config, key_frame_mode="fixed")
        logits_fixed, scores, idx = model.head(feats, return_keys=True)
    assert idx.tolist() == [[1, 2, 3]] * 3 and scores.shape == (3, 5)
    assert logits_fixed.shape == (3, 3)
    assert idx_sel.shape == (3, 3)


def test_exported_ablation_matches_pytorch(tmp_path: Path) -> None:
    model = build_model(seed=5).eval()
    ckpt = save_checkpoint(tmp_path / "m.pt", model)
    graphs = export_checkpoint(ckpt, tmp_path / "g", key_frame_mode="fixed")
    _, contract = open_graph(graphs["window"], "window")
    assert contract.model["config"]["key_frame_mode"] == "fixed"
    windows = np.random.default_rng(0).random((4, 5, 1, 128, 128), dtype=np.float32)
    sess = ort.InferenceSession(str(graphs["window"]), providers=["CPUExecutionProvider"])
    probs, _, keys = sess.run(None, {"windows": windows})
    fixed = dataclasses.replace(model.config, key_frame_mode="fixed")
    model.config = model.head.config = fixed
    with torch.no_grad():
        feats = model.backbone(torch.from_numpy(windows.reshape(20, 1, 128, 128)))
        logits, _ = model.head(feats.reshape(4, 5, *feats.shape[1:]))
    assert keys.tolist() == [[1, 2, 3]] * 4
    np.testing.assert_allclose(probs, torch.softmax(logits, 1).numpy(), atol=1e-4)
