"""export.bench_reference: the PyTorch eager reference runs the same model as the graphs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def graphs(exported_graphs) -> Path:
    return exported_graphs.out_dir


def test_eager_reference_matches_the_onnx_model(graphs: Path, exported_graphs) -> None:
    """The reference runs the same model (the fixture's checkpoint): same probabilities."""
    pytest.importorskip("torch")
    import importlib

    from realtime.engine import Engine

    ref = importlib.import_module("export.bench_reference").EagerReference(
        graphs, checkpoint=exported_graphs.checkpoint, threads=1)
    engine = Engine(graphs, provider="cpu", threads=1)
    crops = np.random.default_rng(1).integers(0, 256, (7, 128, 128), dtype=np.uint8)
    a = [ref.push(c) for c in crops]
    b = [engine.push(c) for c in crops]
    assert [x is None for x in a] == [y is None for y in b] == [True] * 4 + [False] * 3
    for x, y in zip(a[4:], b[4:]):
        np.testing.assert_allclose(x, y.probs, rtol=1e-3, atol=1e-4)
