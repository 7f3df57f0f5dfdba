"""Training, evaluation and the baseline on a tiny SynthME dataset the tests generate.

The LOSO run is the issue's "one command over a small generated dataset": it must complete and
write the pooled table, the spotted-interval CSVs and the timeline plots. Scores of a model
trained for a few steps are not asserted (they are noise); the pipeline's outputs are.
"""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from export.__main__ import main as export_main
from export.baseline import BaselineConfig, motion_signal, spot_video
from export.evaluate import VARIANTS
from export.model import ModelConfig, build_model
from export.motion_loss import make_motion_probe, motion_loss, motion_targets
from export.train import (
    MODEL_OPTIONS,
    ClipSampler,
    TrainConfig,
    add_arguments,
    augment,
    fit,
    model_config_from_args,
)
from export.videos import TrainVideo
from tests.export.helpers import torch_and_onnx_intervals


def _video(n: int = 40, valid_gap: int | None = None) -> TrainVideo:
    rng = np.random.default_rng(0)
    labels = np.zeros(n, np.int64)
    labels[10:16] = 1
    labels[20:32] = 2
    valid = np.ones(n, bool)
    if valid_gap is not None:
        valid[valid_gap] = False
    return TrainVideo("s1", "v1", rng.integers(0, 255, (n, 128, 128), dtype=np.uint8), valid,
                      labels, 30.0)


def test_clip_sampler_balances_classes_and_aligns_labels() -> None:
    v = _video()
    sampler = ClipSampler([v], ModelConfig(), clip_frames=8, seed=0)
    mids = []
    for _ in range(300):
        clip, labels = sampler.sample()
        assert clip.shape == (8, 128, 128) and labels.shape == (4,)
        # labels belong to the windows' middle frames: find the clip in the video
        start = next(s for s in range(len(v.crops) - 7) if np.array_equal(v.crops[s], clip[0]))
        np.testing.assert_array_equal(labels, v.labels[start + 2:start + 6])
        mids.append(int(v.labels[start + 4]))
    counts = np.bincount(mids, minlength=3) / len(mids)
    assert np.all(np.abs(counts - 1 / 3) < 0.1), counts


def test_augment_is_time_consistent_per_clip() -> None:
    frame = torch.rand(1, 1, 1, 128, 128)
    clip = frame.repeat(2, 6, 1, 1, 1)
    cfg = TrainConfig(photometric=False)
    out = augment(clip, cfg, torch.Generator().manual_seed(1))
    assert out.shape == clip.shape
    # one geometric draw per clip: all frames of a clip stay identical to each other
    for b in range(2):
        assert torch.allclose(out[b], out[b, :1].expand_as(out[b]))


def test_train_config_validation_names_the_setting() -> None:
    with pytest.raises(ValueError, match="epochs=0"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(ValueError, match="motion_weight=-1"):
        TrainConfig(motion_weight=-1.0)


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(["--data", "d", "--out", "o", *argv])


def test_train_config_from_args_defaults_no_augment_and_difference_input() -> None:
    args = _parse()
    assert TrainConfig.from_args(args, model_config_from_args(args)) == TrainConfig()
    args = _parse("--epochs", "3", "--lr", "0.01", "--optimizer", "adamw", "--no-bf16")
    cfg = TrainConfig.from_args(args)
    assert (cfg.epochs, cfg.lr, cfg.optimizer, cfg.bf16) == (3, 0.01, "adamw", False)
    off = TrainConfig.from_args(_parse("--no-augment"))
    assert (off.flip, off.photometric, off.rotate_deg, off.scale_jitter, off.resize_px) == (
        False, False, 0.0, 0.0, 128)
    assert off.epochs == TrainConfig().epochs  # nothing else changes
    args = _parse("--input-tau-frames", "120")
    ref = TrainConfig.from_args(args, model_config_from_args(args))
    assert ref == replace(TrainConfig(), photometric=False)  # jitter would move neutral grey
    with pytest.raises(ValueError, match="clip_frames=3"):
        TrainConfig.from_args(_parse("--clip-frames", "3"))


def test_model_options_map_to_model_config_fields() -> None:
    cfg = model_config_from_args(_parse("--classes", "none, macro", "--window", "7",
                                        "--key-frames", "2", "--input-tau-frames", "9",
                                        "--input-gain", "3"))
    assert cfg == ModelConfig(class_names=("none", "macro"), window=7, key_frames=2,
                              input_tau_frames=9, input_gain=3.0)
    assert model_config_from_args(_parse()) == ModelConfig()
    assert {name for name, _, _ in MODEL_OPTIONS} <= set(vars(_parse()))


def test_motion_loss_trains_the_backbone_and_leaves_the_exported_model_unchanged(
        tmp_path: Path) -> None:
    cfg = ModelConfig()
    probe = make_motion_probe()
    feats = torch.randn(2, 6, 512, 4, 4, requires_grad=True)
    targets = motion_targets(torch.rand(2, 6, 1, 128, 128), grid=4)
    loss = motion_loss(feats, targets, probe)
    loss.backward()
    assert loss.item() > 0 and feats.grad is not None and feats.grad.abs().sum() > 0
    # A fit with the auxiliary loss saves a plain STSNet_SW state dict (no probe in it).
    videos = [_video(40)]
    model, log = fit(videos, cfg, TrainConfig(epochs=1, clips_per_epoch=2, batch_clips=2,
                                              clip_frames=8, motion_weight=1.0, bf16=False),
                     tmp_path / "run", torch.device("cpu"), progress=False)
    assert "motion_loss" in log[0] and log[0]["motion_loss"] > 0
    assert set(model.state_dict()) == set(build_model(cfg).state_dict())


def test_loso_run_from_one_command_writes_table_csv_and_plots(
        tiny_synth: Path, tiny_subjects: list[str], tmp_path: Path) -> None:
    run = tmp_path / "run"
    code = export_main(["train", "--data", str(tiny_synth), "--cache", str(tmp_path / "cache"),
                        "--out", str(run), "--protocol", "loso", "--epochs", "1",
                        "--clips-per-epoch", "2", "--batch-clips", "2", "--clip-frames", "8",
                        "--quiet"])
    assert code == 0
    folds = sorted(p.name for p in run.iterdir() if p.is_dir() and p.name != "timelines")
    assert len(tiny_subjects) == 3
    assert folds == [f"loso_{s}" for s in tiny_subjects]
    for fold in folds:
        assert (run / fold / "checkpoint.pt").is_file()
        assert (run / fold / "log.jsonl").read_text().count("\n") == 1
    table = (run / "results.md").read_text()
    assert "F1-score" in table and "merging Overall" in table
    scores = json.loads((run / "results.json").read_text())["scores"]
    assert set(scores) == set(VARIANTS)
    gt_rows = list(csv.DictReader((run / "ground_truth.csv").open()))
    truth = list(csv.DictReader((tiny_synth / "annotations.csv").open()))
    assert len(gt_rows) == len(truth) == scores["merging"]["overall"]["total"]
    for name in VARIANTS:
        assert (run / f"intervals_{name.replace(' ', '_')}.csv").is_file()
    assert len(list((run / "timelines").glob("*.png"))) == 3
    # resume: a finished fold is not trained again (its log keeps one line)
    code = export_main(["train", "--data", str(tiny_synth), "--cache", str(tmp_path / "cache"),
                        "--out", str(run), "--protocol", "loso", "--epochs", "1",
                        "--clips-per-epoch", "2", "--batch-clips", "2", "--clip-frames", "8",
                        "--quiet", "--resume", "--only-folds", folds[0]])
    assert code == 0
    assert (run / folds[0] / "log.jsonl").read_text().count("\n") == 1


def test_reference_input_model_trains_exports_and_evaluates_the_same_in_torch_and_onnx(
        tiny_synth: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from export.checkpoint import model_from_checkpoint
    from realtime import contract as C
    from realtime.reference import InputTransform

    run = tmp_path / "run"
    assert export_main(["train", "--data", str(tiny_synth), "--cache", str(tmp_path / "cache"),
                        "--out", str(run), "--protocol", "all", "--epochs", "1",
                        "--clips-per-epoch", "2", "--batch-clips", "2", "--clip-frames", "8",
                        "--input-tau-frames", "9", "--input-gain", "3", "--quiet"]) == 0
    ckpt = run / "all" / "checkpoint.pt"
    model, _ = model_from_checkpoint(ckpt)
    assert model.config.input_transform == InputTransform(tau_frames=9, gain=3.0)
    graphs = tmp_path / "g"
    assert export_main(["onnx", "--checkpoint", str(ckpt), "--out", str(graphs)]) == 0
    _, contract = C.open_graph(graphs / "backbone.onnx", "backbone")
    assert contract.input_transform == {"kind": "reference_difference", "tau_frames": 9,
                                        "gain": 3.0}
    outs = torch_and_onnx_intervals(ckpt, graphs, tiny_synth, tmp_path)
    assert outs["torch"] == outs["onnx"]
    # graphs of a raw-input model do not evaluate a reference-input checkpoint
    raw_ckpt = tmp_path / "raw.pt"
    from export.checkpoint import save_checkpoint

    save_checkpoint(raw_ckpt, build_model(seed=5))
    assert export_main(["onnx", "--checkpoint", str(raw_ckpt), "--out", str(tmp_path / "r")]) == 0
    capsys.readouterr()
    assert export_main(["evaluate", "--checkpoint", str(ckpt), "--data", str(tiny_synth),
                        "--cache", str(tmp_path / "cache"), "--onnx", str(tmp_path / "r")]) == 2
    assert "raw crops" in capsys.readouterr().err


def test_baseline_finds_a_clear_motion_burst() -> None:
    n, fps = 90, 30.0
    crops = np.full((n, 128, 128), 100, np.uint8)
    crops[40:50, 16:48, 16:48] = 160  # a local change lasting 10 frames (1/3 s)
    valid = np.ones(n, bool)
    sig = motion_signal(crops, valid, fps)
    assert sig[:30].max() < sig[40:55].max()
    found = spot_video(crops, valid, fps, "s", "v", BaselineConfig())
    assert found and all(i.onset <= 55 and i.offset >= 40 for i in found)


def test_baseline_cli(tiny_synth: Path, tmp_path: Path,
                      capsys: pytest.CaptureFixture[str]) -> None:
    code = export_main(["baseline", "--data", str(tiny_synth), "--cache",
                        str(tmp_path / "cache"), "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["baseline"]["overall"]["total"] > 0


def test_lag_input_pretrained_backbone_and_the_datasets_own_split(
        tiny_synth: Path, tiny_subjects: list[str], tmp_path: Path) -> None:
    """pretrain on the train split -> train --protocol dataset --init-backbone with a lag input
    -> the held-out fold is the test split (validation left out) -> export -> torch == ONNX."""
    import shutil

    from export.checkpoint import load_checkpoint, model_from_checkpoint
    from realtime import contract as C
    from realtime.reference import InputTransform

    data = tmp_path / "data"
    shutil.copytree(tiny_synth, data)
    train_s, test_s, val_s = tiny_subjects
    (data / "split.csv").write_text(f"subject,split\n{train_s},train\n{test_s},test\n"
                                    f"{val_s},validation\n")
    cache = str(tmp_path / "cache")
    lag = ["--input-lag-frames", "3", "--input-gain", "8"]
    bb = tmp_path / "bb.pt"
    assert export_main(["pretrain", "--data", str(data), "--cache", cache, "--out", str(bb),
                        "--steps", "3", "--batch-frames", "4", "--quiet", *lag]) == 0
    run = tmp_path / "run"
    assert export_main(["train", "--data", str(data), "--cache", cache, "--out", str(run),
                        "--protocol", "dataset", "--init-backbone", str(bb), "--epochs", "1",
                        "--clips-per-epoch", "2", "--batch-clips", "2", "--clip-frames", "8",
                        "--quiet", *lag]) == 0
    record = json.loads((run / "run.json").read_text())
    assert record["folds"] == [["test", [test_s]]]
    ckpt = run / "test" / "checkpoint.pt"
    meta = load_checkpoint(ckpt)["metadata"]
    assert meta["init_backbone"]["subjects"] == [train_s]
    model, _ = model_from_checkpoint(ckpt)
    assert model.config.input_transform == InputTransform(lag_frames=3, gain=8.0)
    scored = {r["video"].split("_v")[0] for r in csv.DictReader((run / "ground_truth.csv").open())}
    assert scored <= {test_s}
    graphs = tmp_path / "g"
    assert export_main(["onnx", "--checkpoint", str(ckpt), "--out", str(graphs)]) == 0
    _, contract = C.open_graph(graphs / "backbone.onnx", "backbone")
    assert contract.input_transform == {"kind": "lag_difference", "lag_frames": 3, "gain": 8.0}
    outs = torch_and_onnx_intervals(ckpt, graphs, data, tmp_path)
    assert outs["torch"] == outs["onnx"]
    # post-processing chosen on the validation subject, scored on the test subject
    tuned = tmp_path / "tune.json"
    assert export_main(["tune", "--graphs", str(graphs), "--data", str(data), "--cache", cache,
                        "--json", str(tuned)]) == 0
    result = json.loads(tuned.read_text())
    best = result["best_on_validation"]
    assert best["validation"]["overall"]["f1"] == result["top5_on_validation"][0][0]
    assert result["test_default"]["overall"]["total"] == sum(
        1 for r in csv.DictReader((data / "annotations.csv").open()) if r["subject"] == test_s)
    # a backbone pretrained on another input is refused by name
    assert export_main(["train", "--data", str(data), "--cache", cache, "--out",
                        str(tmp_path / "r2"), "--protocol", "all", "--init-backbone", str(bb),
                        "--epochs", "1", "--clips-per-epoch", "2", "--quiet"]) == 2


def test_warm_restart_from_a_checkpoint_and_no_held_out_eval(
        tiny_synth: Path, tiny_subjects: list[str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """--init-checkpoint continues a trained model (its weights are the start, recorded in the
    new checkpoint); a different model is refused by name; --no-held-out-eval trains the fold
    and writes no held-out report."""
    from export.checkpoint import load_checkpoint, model_from_checkpoint

    cache = str(tmp_path / "cache")
    lag = ["--input-lag-frames", "3", "--input-gain", "8"]
    short = ["--epochs", "1", "--clips-per-epoch", "2", "--batch-clips", "2", "--clip-frames",
             "8", "--quiet"]
    first = tmp_path / "first"
    assert export_main(["train", "--data", str(tiny_synth), "--cache", cache, "--out",
                        str(first), "--protocol", "all", *short, *lag]) == 0
    start = first / "all" / "checkpoint.pt"
    # with --lr tiny the continued model stays next to its start; a fresh one (another seed)
    # would not
    second = tmp_path / "second"
    assert export_main(["train", "--data", str(tiny_synth), "--cache", cache, "--out",
                        str(second), "--protocol", "split", "--test-subjects",
                        tiny_subjects[0], "--init-checkpoint", str(start), "--lr", "1e-9",
                        "--seed", "5", "--no-held-out-eval", *short, *lag]) == 0
    ckpts = list(second.glob("*/checkpoint.pt"))
    assert len(ckpts) == 1
    meta = load_checkpoint(ckpts[0])["metadata"]
    assert meta["init_checkpoint"]["file"] == str(start)
    assert meta["init_checkpoint"]["epochs_done"] == 1
    a, _ = model_from_checkpoint(start)
    b, _ = model_from_checkpoint(ckpts[0])
    wa = dict(a.named_parameters())
    drift = max(float((p - wa[n]).detach().abs().max()) for n, p in b.named_parameters())
    assert drift < 1e-3
    assert not (second / "results.json").exists()  # no held-out report
    assert "held-out evaluation skipped" in capsys.readouterr().err
    # the options describe another model (raw input): refused before any training
    code = export_main(["train", "--data", str(tiny_synth), "--cache", cache, "--out",
                        str(tmp_path / "third"), "--protocol", "all",
                        "--init-checkpoint", str(start), *short])
    assert code == 2
    err = capsys.readouterr().err
    assert "--init-checkpoint" in err and "differs" in err and "input" in err
    assert not (tmp_path / "third").exists()
