"""Fixtures of the engine tests: the exported test graphs (raw and reference-difference input)
and a run of slowly changing crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def graphs(exported_graphs) -> Path:
    return exported_graphs.out_dir


@pytest.fixture(scope="module")
def ref_graphs(reference_exported_graphs) -> Path:
    return reference_exported_graphs.out_dir


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    rng = np.random.default_rng(7)
    base = rng.integers(0, 256, (128, 128), dtype=np.uint8)
    # Slowly changing frames (like a face) plus some noise, so windows differ.
    frames = [np.clip(base.astype(int) + 6 * i + rng.integers(-20, 20, (128, 128)), 0, 255)
              for i in range(23)]
    return np.stack(frames).astype(np.uint8)
