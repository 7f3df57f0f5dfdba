"""One-file checkpoints: weights, model configuration, metadata and (optionally) training state.

A checkpoint is a plain dict saved with ``torch.save`` and loaded with ``weights_only=True``
(no pickled code runs on load)::

    {"format": "stsnet_sw.checkpoint", "format_version": 1, "config": {...},
     "state_dict": {...}, "metadata": {...}, "train_state": {...} | None}

``metadata`` records what a user needs to trust the weights: training data, protocol, metrics,
package version, creation time.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import time
from pathlib import Path
from typing import Any

import torch

from export import __version__
from export.model import ModelConfig, STSNetSW, build_model

CHECKPOINT_FORMAT = "stsnet_sw.checkpoint"
CHECKPOINT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, foreign or inconsistent."""


def save_checkpoint(path: str | Path, model: STSNetSW, metadata: dict[str, Any] | None = None,
                    train_state: dict[str, Any] | None = None,
                    storage_dtype: torch.dtype = torch.float32) -> Path:
    """Write atomically (temp file + rename) so an interrupted save never leaves a broken file.

    ``storage_dtype=torch.float16`` halves the file (used for the shipped weights); floating
    tensors are cast back to float32 on load, so the model rebuilt from the file is exactly the
    model its ONNX graphs were exported from.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"package_version": __version__, "created_unix_s": time.time(),
            "torch_version": str(torch.__version__)}
    meta.update(metadata or {})
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "config": model.config.to_dict(),
        "state_dict": {k: (v.detach().cpu().to(storage_dtype) if v.is_floating_point()
                           else v.detach().cpu()) for k, v in model.state_dict().items()},
        "storage_dtype": str(storage_dtype).replace("torch.", ""),
        "metadata": meta,
        "train_state": train_state,
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and validate a checkpoint dict; errors say what is wrong with which file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: checkpoint file is empty")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types on garbage (e.g. KeyError on text)
        first_line = (str(exc).splitlines() or [""])[0][:200]
        if isinstance(exc, pickle.UnpicklingError):  # torch's text urges unsafe loading
            first_line = "a pickle that is not a plain dict of tensors"
        raise CheckpointError(
            f"{path}: cannot read checkpoint - truncated, corrupt or not a torch file "
            f"({type(exc).__name__}: {first_line})") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not an STSNet_SW checkpoint (no format "
                              f"{CHECKPOINT_FORMAT!r}); was it saved by `python -m export train`?")
    if ckpt.get("format_version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {ckpt.get('format_version')!r}, "
                              f"this code reads version {CHECKPOINT_VERSION}")
    for key in ("config", "state_dict", "metadata"):
        if not isinstance(ckpt.get(key), dict):
            raise CheckpointError(f"{path}: checkpoint lacks {key!r}")
    return ckpt


def model_from_checkpoint(source: str | Path | dict[str, Any]) -> tuple[STSNetSW, dict[str, Any]]:
    """Rebuild the model a checkpoint describes and load its weights (eval mode)."""
    ckpt = source if isinstance(source, dict) else load_checkpoint(source)
    name = "checkpoint" if isinstance(source, dict) else str(source)
    try:
        config = ModelConfig.from_dict(ckpt["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{name}: invalid model config ({exc})") from exc
    model = build_model(config, seed=None)
    state = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # tensor shapes that do not fit the config
        raise CheckpointError(f"{name}: weights do not fit the model config "
                              f"({str(exc).strip()[:300]})") from exc
    if missing or unexpected:
        raise CheckpointError(f"{name}: weights do not fit the model config "
                              f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
    model.eval()
    return model, ckpt


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def update_metadata(path: str | Path, updates: dict[str, Any]) -> Path:
    """Merge ``updates`` into a checkpoint's metadata in place (atomic rewrite, weights and
    training state untouched). Returns the path."""
    path = Path(path)
    ckpt = load_checkpoint(path)
    ckpt["metadata"] = {**ckpt["metadata"], **updates}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, path)
    return path
