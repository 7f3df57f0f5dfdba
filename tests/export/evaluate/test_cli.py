"""``python -m export evaluate --checkpoint``: PyTorch and the graphs agree; clean errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from export.__main__ import main as export_main
from export.checkpoint import save_checkpoint
from export.model import build_model
from tests.export.helpers import torch_and_onnx_intervals


def test_evaluate_checkpoint_torch_and_onnx_give_the_same_intervals(
        tiny_synth: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = save_checkpoint(tmp_path / "m.pt", build_model(seed=5))
    assert export_main(["onnx", "--checkpoint", str(ckpt), "--out", str(tmp_path / "g")]) == 0
    capsys.readouterr()
    outs = torch_and_onnx_intervals(ckpt, tmp_path / "g", tiny_synth, tmp_path)
    assert outs["torch"] == outs["onnx"]
    # The PyTorch run (only it) points at the faster --onnx path.
    assert capsys.readouterr().err.count("--onnx DIR (graphs made by") == 1


def test_evaluate_bad_checkpoint_is_a_clear_error(tiny_synth: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert export_main(["evaluate", "--checkpoint", str(bad), "--data", str(tiny_synth)]) == 2
    assert "bad.pt" in capsys.readouterr().err


def test_evaluate_missing_graphs_and_bad_iou_are_clear_errors(
        tiny_synth: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = save_checkpoint(tmp_path / "m.pt", build_model(seed=5))
    base = ["evaluate", "--checkpoint", str(ckpt), "--data", str(tiny_synth)]
    assert export_main([*base, "--onnx", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and "graph folder not found" in err and "Traceback" not in err
    assert export_main([*base, "--iou", "1.5"]) == 2
    assert "--iou must be in (0, 1]" in capsys.readouterr().err
