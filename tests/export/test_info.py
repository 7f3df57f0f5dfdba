"""``python -m export info``: parameter counts and FLOPs, checked against hand derivations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torchvision

from export.__main__ import main
from export.checkpoint import save_checkpoint
from export.info import count_flops, measure
from export.model import ModelConfig, build_model


def _run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(["info", "--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def _head_params(cfg: ModelConfig) -> int:
    c, h, q = 512, cfg.gru_hidden, cfg.num_classes
    selector = 4 * c * c + (c * c + c) + (c + 1) + 2 * (2 * c)  # w1,w2,w3,u; l1; l2; 2 norms
    gru = 0
    for layer in range(cfg.gru_layers):
        inp = c if layer == 0 else 2 * h
        gru += 2 * (3 * h * (inp + h) + 2 * 3 * h)  # two directions, weights and both biases
    fc = 2 * h * cfg.feature_size ** 2 * q + q
    return selector + gru + fc


def _head_flops(cfg: ModelConfig) -> int:
    c, h, k, m = 512, cfg.gru_hidden, cfg.window, cfg.key_frames
    positions = cfg.feature_size ** 2
    selector = 2 * k * (5 * c * c + c) + 2 * (2 * k * k * c)  # 5 square linears, l2, attention
    gru = 0
    for layer in range(cfg.gru_layers):
        inp = c if layer == 0 else 2 * h
        gru += 2 * positions * m * 2 * (3 * h * (inp + h))  # FLOPs x sequences x steps x dirs
    fc = 2 * 2 * h * positions * cfg.num_classes
    return selector + gru + fc


def test_default_model_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    info = _run_json([], capsys)
    cfg = ModelConfig()
    assert info["config"] == cfg.to_dict()
    # torchvision's ResNet-18 minus its classifier and 3-channel 7x7 stem, plus our 1-channel 5x5
    resnet = torchvision.models.resnet18()
    expected_backbone = (sum(p.numel() for p in resnet.parameters())
                         - sum(p.numel() for p in resnet.fc.parameters())
                         - resnet.conv1.weight.numel() + 64 * 5 * 5)
    assert info["backbone_params"] == expected_backbone
    assert info["head_params"] == _head_params(cfg)
    assert info["total_params"] == info["backbone_params"] + info["head_params"]
    assert info["head_flops_per_window"] == _head_flops(cfg)
    assert info["live_flops_per_frame"] == (info["backbone_flops_per_frame"]
                                            + info["head_flops_per_window"])
    assert info["window_graph_flops"] == (5 * info["backbone_flops_per_frame"]
                                          + info["head_flops_per_window"])


def test_backbone_flops_match_a_per_convolution_count() -> None:
    """Sum 2 * C_in * k * k * (output elements) over every convolution, via forward hooks."""
    import torch

    backbone = build_model(ModelConfig(crop_size=96)).backbone.eval()
    total = 0

    def hook(module: torch.nn.Conv2d, _inputs: object, output: torch.Tensor) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        total += 2 * (module.in_channels // module.groups) * kh * kw * output.numel()

    handles = [m.register_forward_hook(hook) for m in backbone.modules()
               if isinstance(m, torch.nn.Conv2d)]
    example = torch.rand(1, 1, 96, 96)
    with torch.no_grad():
        backbone(example)
    for handle in handles:
        handle.remove()
    assert total > 0
    assert count_flops(backbone, example) == total


def test_checkpoint_option_and_text_output(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    cfg = ModelConfig(crop_size=64, class_names=("none", "micro"), gru_hidden=16)
    path = save_checkpoint(tmp_path / "small.pt", build_model(cfg, seed=2))
    info = _run_json(["--checkpoint", str(path)], capsys)
    assert info["source"] == str(path)
    assert info["config"] == cfg.to_dict()
    assert info["head_params"] == _head_params(cfg)
    assert info["head_flops_per_window"] == _head_flops(cfg)
    # every convolution's output area shrinks 4x from a 128- to a 64-pixel crop
    default = measure(build_model(seed=0))
    assert 4 * info["backbone_flops_per_frame"] == default.backbone_flops_per_frame

    assert main(["info", "--checkpoint", str(path)]) == 0
    text = capsys.readouterr().out
    assert "multiply-add = 2 FLOPs" in text
    assert f"{info['total_params']:,d}" in text
    assert f"{info['backbone_flops_per_frame'] / 1e9:.3f} GFLOPs" in text


def test_bad_checkpoint_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint")
    assert main(["info", "--checkpoint", str(bad)]) == 2
    out = capsys.readouterr().out
    assert "error" in out and str(bad) in out


def test_measure_keeps_the_training_mode() -> None:
    model = build_model(ModelConfig(crop_size=64)).train()
    measure(model)
    assert model.training
