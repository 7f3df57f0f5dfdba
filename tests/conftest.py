"""Shared test fixtures.

``exported_graphs`` (session scope) builds a randomly initialised STSNet_SW model (default
config, seed :data:`GRAPHS_SEED`), saves it as a checkpoint with float16 storage (as the shipped
weights are) and exports the three ONNX graphs with ``export.onnx_export.export_checkpoint``,
once per test session, into a temporary folder. It returns an :class:`ExportedGraphs`::

    def test_something(exported_graphs):
        exported_graphs.checkpoint      # Path of the .pt checkpoint
        exported_graphs.out_dir         # folder holding the graphs and their shared weights
        exported_graphs.graphs          # {"backbone": Path, "head": Path, "window": Path}
        exported_graphs.backbone        # same paths, as attributes
        exported_graphs.weights         # the shared external-data file

The folder is read-only by convention: do not write into it, copy it if a test must.
``other_exported_graphs`` is the same from a different seed (hence a different checkpoint
SHA-256): pair it with ``exported_graphs`` to test that stale or mixed graphs are refused.
``reference_exported_graphs`` is a model whose input is the reference difference
(``input_tau_frames`` = :data:`REFERENCE_TAU_FRAMES`, see ``realtime/reference.py``).
Both are built lazily; torch is imported only when one is requested, so torch-free tests do not
pay for it. The export takes a few seconds on a 2-core machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

GRAPHS_SEED = 1234
OTHER_GRAPHS_SEED = 4321
REFERENCE_TAU_FRAMES = 6


@dataclass(frozen=True)
class ExportedGraphs:
    """A checkpoint and the three ONNX graphs exported from it."""

    checkpoint: Path
    out_dir: Path
    graphs: dict[str, Path]  # graph kind ("backbone", "head", "window") -> .onnx path
    weights: Path  # external-data file shared by the three graphs
    seed: int  # the seed the random model was built with

    @property
    def backbone(self) -> Path:
        return self.graphs["backbone"]

    @property
    def head(self) -> Path:
        return self.graphs["head"]

    @property
    def window(self) -> Path:
        return self.graphs["window"]


def build_and_export(root: Path, seed: int, input_tau_frames: int = 0,
                     train_fps: float | None = None) -> ExportedGraphs:
    """Random model (default config but the input transform) -> ``root/model.pt`` -> graphs in
    ``root/graphs``; ``train_fps`` records a training frame rate (the contract's train_fps)."""
    import torch

    from export.checkpoint import save_checkpoint
    from export.model import ModelConfig, build_model
    from export.onnx_export import SHARED_WEIGHTS_FILE, export_checkpoint

    checkpoint = save_checkpoint(
        root / "model.pt", build_model(ModelConfig(input_tau_frames=input_tau_frames), seed=seed),
        metadata={"training": f"none (random weights, seed {seed}) - test fixture",
                  **({} if train_fps is None else {"dataset": {"fps": train_fps}})},
        storage_dtype=torch.float16)
    out_dir = root / "graphs"
    graphs = export_checkpoint(checkpoint, out_dir)
    return ExportedGraphs(checkpoint=checkpoint, out_dir=out_dir, graphs=dict(graphs),
                          weights=out_dir / SHARED_WEIGHTS_FILE, seed=seed)


@pytest.fixture(scope="session")
def exported_graphs(tmp_path_factory: pytest.TempPathFactory) -> ExportedGraphs:
    return build_and_export(tmp_path_factory.mktemp("exported_graphs"), GRAPHS_SEED)


@pytest.fixture(scope="session")
def other_exported_graphs(tmp_path_factory: pytest.TempPathFactory) -> ExportedGraphs:
    return build_and_export(tmp_path_factory.mktemp("other_exported_graphs"), OTHER_GRAPHS_SEED)


@pytest.fixture(scope="session")
def graphs_30fps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of graphs whose contract says they were trained at 30 fps (resampling)."""
    return build_and_export(tmp_path_factory.mktemp("graphs_30fps"), GRAPHS_SEED,
                            train_fps=30.0).out_dir


@pytest.fixture(scope="session")
def reference_exported_graphs(tmp_path_factory: pytest.TempPathFactory) -> ExportedGraphs:
    return build_and_export(tmp_path_factory.mktemp("reference_exported_graphs"), GRAPHS_SEED,
                            input_tau_frames=REFERENCE_TAU_FRAMES)
