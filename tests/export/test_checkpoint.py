"""One-file checkpoints: round trip, float16 storage, and clear refusals of bad files."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from export.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    CheckpointError,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from export.model import ModelConfig, STSNetSW, build_model

CFG = ModelConfig(crop_size=64, class_names=("none", "micro"), window=7, key_frames=4)


def _trained_looking_model(seed: int = 5) -> STSNetSW:
    """A model whose batch-norm statistics moved away from their defaults (they must be saved)."""
    model = build_model(CFG, seed=seed).train()
    with torch.no_grad():
        model(torch.rand(2, 7, 1, 64, 64, generator=torch.Generator().manual_seed(seed)))
    return model.eval()


def _windows() -> torch.Tensor:
    return torch.rand(3, 7, 1, 64, 64, generator=torch.Generator().manual_seed(9))


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[STSNetSW, Path]:
    model = _trained_looking_model()
    path = save_checkpoint(tmp_path_factory.mktemp("ckpt") / "sub" / "model.pt", model,
                           metadata={"protocol": "LOSO", "uf1": 0.25},
                           train_state={"epoch": 3, "lr": torch.tensor(0.01)})
    return model, path


def test_round_trip_gives_the_same_model(saved: tuple[STSNetSW, Path]) -> None:
    model, path = saved
    loaded, ckpt = model_from_checkpoint(path)
    assert not loaded.training
    assert loaded.config == CFG
    original, rebuilt = model.state_dict(), loaded.state_dict()
    assert original.keys() == rebuilt.keys()
    assert all(torch.equal(original[k], rebuilt[k]) for k in original)
    assert float(rebuilt["backbone.stem.1.running_var"].sub(1).abs().max()) > 0  # BN stats kept
    with torch.no_grad():
        for a, b in zip(model(_windows()), loaded(_windows())):
            assert torch.equal(a, b)
    assert ckpt["metadata"]["protocol"] == "LOSO" and ckpt["metadata"]["uf1"] == 0.25
    assert ckpt["metadata"]["package_version"]
    assert ckpt["train_state"]["epoch"] == 3
    assert not list(path.parent.glob("*.tmp")), "the atomic save left its temporary file"


def test_float16_storage_round_trip(saved: tuple[STSNetSW, Path], tmp_path: Path) -> None:
    model, full_path = saved
    path = save_checkpoint(tmp_path / "half.pt", model, storage_dtype=torch.float16)
    raw = load_checkpoint(path)
    assert raw["storage_dtype"] == "float16"
    assert raw["state_dict"]["head.fc.weight"].dtype == torch.float16
    assert path.stat().st_size < 0.6 * full_path.stat().st_size
    loaded, _ = model_from_checkpoint(path)
    rebuilt = loaded.state_dict()
    for name, value in model.state_dict().items():
        got = rebuilt[name]
        if value.is_floating_point():
            assert got.dtype == torch.float32, name
            assert torch.equal(got, value.half().float()), name
        else:
            assert torch.equal(got, value), name  # e.g. num_batches_tracked stays an integer


def test_truncated_file_is_refused_naming_the_path(saved: tuple[STSNetSW, Path],
                                                   tmp_path: Path) -> None:
    _, path = saved
    data = path.read_bytes()
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated") as info:
        load_checkpoint(bad)
    assert str(bad) in str(info.value)


def test_text_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("these are not weights\n")
    with pytest.raises(CheckpointError, match="not a torch file") as info:
        model_from_checkpoint(bad)
    assert str(bad) in str(info.value)


def test_foreign_torch_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "resnet.pt"
    torch.save({"state_dict": {"fc.weight": torch.zeros(2, 2)}}, bad)
    with pytest.raises(CheckpointError, match="not an STSNet_SW checkpoint") as info:
        load_checkpoint(bad)
    assert str(bad) in str(info.value)


def test_pickled_objects_are_not_loaded(tmp_path: Path) -> None:
    bad = tmp_path / "pickled.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "args": argparse.Namespace(lr=0.1)}, bad)
    with pytest.raises(CheckpointError, match="not a plain dict of tensors"):
        load_checkpoint(bad)


@pytest.mark.parametrize(("name", "content", "message"), [
    ("missing.pt", None, "not found"),
    ("empty.pt", b"", "empty"),
])
def test_missing_or_empty_file(tmp_path: Path, name: str, content: bytes | None,
                               message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_other_format_version_is_refused(saved: tuple[STSNetSW, Path], tmp_path: Path) -> None:
    ckpt = load_checkpoint(saved[1])
    ckpt["format_version"] = CHECKPOINT_VERSION + 1
    path = tmp_path / "future.pt"
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match=f"version {CHECKPOINT_VERSION + 1}"):
        load_checkpoint(path)


def test_config_that_does_not_fit_the_weights(saved: tuple[STSNetSW, Path]) -> None:
    ckpt = load_checkpoint(saved[1])
    with pytest.raises(CheckpointError, match="do not fit the model config"):
        model_from_checkpoint({**ckpt, "config": {**ckpt["config"], "gru_hidden": 16}})
    with pytest.raises(CheckpointError, match="do not fit the model config.*missing"):
        model_from_checkpoint({**ckpt, "config": {**ckpt["config"], "gru_layers": 3}})
    with pytest.raises(CheckpointError, match="invalid model config.*window"):
        model_from_checkpoint({**ckpt, "config": {**ckpt["config"], "window": 6}})
