"""PyTorch eager per-window reference for ``python -m realtime bench``.

The authors' inference code slides a K-frame window over the video and, at every step, sends the
whole window through the model: K crops through the backbone, then the head. This module does
exactly that with the PyTorch model in eager mode (fp32, ``torch.inference_mode``), so the
benchmark can say how much the exported graphs and the feature cache gain over it.

The live half never imports torch: ``realtime.bench.modes`` loads this module by name with
``importlib``, only when torch is installed, and only for this one comparison.

Speed does not depend on the weights' values, but the reference uses the real ones when it can:
the checkpoint passed in, else a ``*.pt`` file next to the graphs whose SHA-256 matches the
graphs' contract, else a freshly initialised model of the same configuration (said so in
:attr:`EagerReference.weights_note`).
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import torch

from export.checkpoint import file_sha256, model_from_checkpoint
from export.model import ModelConfig, build_model
from realtime import contract as C


def _graph_contract(graph_dir: Path) -> C.Contract:
    """The contract in the metadata of the first exported graph found in ``graph_dir``."""
    import onnx

    for kind in ("window", "head", "backbone"):
        path = graph_dir / C.GRAPH_FILES[kind]
        if path.is_file():
            proto = onnx.load(str(path), load_external_data=False)
            meta = {p.key: p.value for p in proto.metadata_props}
            if C.CONTRACT_KEY in meta:
                return C.Contract.from_json(meta[C.CONTRACT_KEY], str(path))
    raise C.ContractError(f"{graph_dir}: no exported STSNet_SW graph with a contract found")


def _find_checkpoint(graph_dir: Path, sha256: str) -> Path | None:
    """A ``*.pt`` file in ``graph_dir`` whose SHA-256 is ``sha256`` (the graphs' own)."""
    for path in sorted(graph_dir.glob("*.pt")):
        if path.stat().st_size < 2_000_000_000 and file_sha256(path) == sha256:
            return path
    return None


class EagerReference:
    """The model in PyTorch eager mode, run on the whole K-crop window at every step.

    graph_dir: folder of the exported graphs (for the model configuration and to find the
        matching checkpoint).
    checkpoint: the checkpoint to load (default: a matching ``*.pt`` in ``graph_dir``).
    threads: torch intra-op threads (None: torch's default, one per physical core).
    device: "cpu" or "cuda".
    """

    def __init__(self, graph_dir: str | Path, checkpoint: str | Path | None = None,
                 threads: int | None = None, device: str = "cpu") -> None:
        graph_dir = Path(graph_dir)
        contract = _graph_contract(graph_dir)
        if threads is not None:
            torch.set_num_threads(int(threads))
        self.device = torch.device(device)
        path = Path(checkpoint) if checkpoint is not None else _find_checkpoint(
            graph_dir, contract.checkpoint_sha256)
        if path is not None:
            model, _ = model_from_checkpoint(path)
            self.weights_note = f"checkpoint {path}"
        else:
            config = ModelConfig.from_dict(dict(contract.model.get("config") or {}))
            model = build_model(config, seed=0)
            self.weights_note = ("random weights of the graphs' configuration (no matching "
                                 "checkpoint found; speed does not depend on the values)")
        self.model = model.float().eval().to(self.device)
        cfg = self.model.config
        self.window, self.crop_size = cfg.window, cfg.crop_size
        self._crops: deque[np.ndarray] = deque(maxlen=self.window)
        self.threads = torch.get_num_threads()
        self.torch_version = torch.__version__

    def reset(self) -> None:
        """Forget the buffered crops (a new window starts)."""
        self._crops.clear()

    def push(self, crop: np.ndarray) -> np.ndarray | None:
        """Add one (S, S) uint8 crop; once K are held, classify the window's middle frame the
        authors' way (whole window through the model) and return its class probabilities."""
        self._crops.append(crop)
        if len(self._crops) < self.window:
            return None
        k, s = self.window, self.crop_size
        with torch.inference_mode():
            window = torch.from_numpy(np.stack(self._crops)).to(self.device)
            window = window.float().div_(255.0).reshape(1, k, 1, s, s)
            logits, _ = self.model(window)
            probs = torch.softmax(logits, dim=1)[0].cpu().numpy()
        return probs

    def backbone_pass_ms(self, crop: np.ndarray, repeats: int = 20) -> list[float]:
        """Wall times of single-frame backbone passes (eager), for comparison."""
        x = torch.from_numpy(crop).to(self.device).float().div_(255.0)[None, None]
        out = []
        with torch.inference_mode():
            for _ in range(repeats):
                t0 = time.perf_counter()
                self.model.backbone(x)
                self.sync()
                out.append((time.perf_counter() - t0) * 1e3)
        return out

    def sync(self) -> None:
        """Wait for the device's queued work (CUDA), so that wall times cover it."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def describe(self) -> dict[str, Any]:
        """torch version, threads, device and where the weights came from (for the report)."""
        return {"torch": self.torch_version, "threads": self.threads,
                "device": str(self.device), "weights": self.weights_note}
