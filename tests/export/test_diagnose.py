"""``python -m export diagnose``: feature variation, the head-only probe and the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from export.__main__ import main as export_main
from export.model import build_model


def test_feature_variation_separates_change_over_time_from_change_across_clips() -> None:
    from export.diagnose import feature_variation

    gen = torch.Generator().manual_seed(0)
    per_clip = torch.randn(50, 1, 512, 1, 1, generator=gen) * 2.0  # who/where: differs by clip
    over_time = torch.randn(50, 16, 512, 1, 1, generator=gen) * 0.02  # what moves in a clip
    v = feature_variation((per_clip + over_time).expand(-1, -1, -1, 4, 4))
    assert v["std_over_time"] == pytest.approx(0.02, rel=0.1)
    assert v["std_across_clips"] == pytest.approx(2.0, rel=0.15)
    assert v["ratio"] < 0.02


def test_head_probe_fits_a_signal_the_features_carry() -> None:
    from export.diagnose import head_probe

    model = build_model(seed=0)
    gen = torch.Generator().manual_seed(1)

    def clips(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.randint(0, 3, (n, 1), generator=gen).expand(n, 12).contiguous()
        feats = torch.randn(n, 16, 512, 4, 4, generator=gen) * 0.1
        feats[:, :, :3] += torch.nn.functional.one_hot(labels[:, :1], 3).float().view(
            n, 1, 3, 1, 1) * 3.0  # units 0-2 say the class, in every subject
        return feats, labels

    before = model.head.fc.weight.detach().clone()
    out = head_probe(model, clips(48), clips(24), steps=60, seed=0)
    assert out["after"]["train"]["loss"] < out["before"]["train"]["loss"] - 0.3
    assert out["after"]["held_out"]["accuracy"] > 0.8  # a shared signal generalises
    assert torch.equal(model.head.fc.weight, before)  # the checkpoint's own head is untouched


def test_diagnose_cli(tiny_synth: Path, tiny_subjects: list[str], tmp_path: Path,
                      capsys: pytest.CaptureFixture[str]) -> None:
    from export.checkpoint import save_checkpoint

    ckpt = tmp_path / "m.pt"
    save_checkpoint(ckpt, build_model(seed=0))
    base = ["diagnose", "--checkpoint", str(ckpt), "--data", str(tiny_synth), "--cache",
            str(tmp_path / "cache"), "--clips", "4", "--held-out-clips", "3", "--steps", "2",
            "--clip-frames", "8"]
    assert export_main([*base, "--held-out", "s09"]) == 2
    assert "unknown: ['s09']" in capsys.readouterr().err
    first = tiny_subjects[0]
    assert export_main([*base, "--held-out", first, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["held_out_subjects"] == [first]
    assert out["features"]["train"]["std_across_clips"] > 0
    assert set(out["head_probe"]["after"]) == {"train", "held_out"}
    assert export_main([*base, "--held-out", first]) == 0
    assert "Head-only probe (2 steps" in capsys.readouterr().out
