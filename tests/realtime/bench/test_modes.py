"""realtime.bench.modes: the mode comparison with the PyTorch eager reference; and the engine
speed change the batched mode measures (feature reuse across overlapping batches).

The one-thread head session test moved to tests/realtime/engine/test_sessions.py
(``test_sessions_are_the_modes_graphs_with_their_thread_counts``, same assertions through the
public ``Engine.sessions``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from realtime.bench import modes as MO
from realtime.bench import report as R
from realtime.bench.config import BenchConfig


def test_modes_include_the_eager_reference_when_torch_is_there(clip: Path,
                                                                 graphs: Path) -> None:
    pytest.importorskip("torch")
    cfg = BenchConfig(source=clip, weights=graphs, provider="cpu", frames=8, runs=1,
                      warmup_frames=0, threads=1)
    crops = np.random.default_rng(0).integers(0, 256, (9, 128, 128), dtype=np.uint8)
    modes, notes, latencies = MO.measure_modes(cfg, crops, lambda s: None)
    assert set(modes) == {"cached", "window", "eager"}
    assert modes["eager"]["latency"]["n"] == 9 - 5 + 1 == len(latencies["eager"])
    assert modes["eager"]["threads"] == 1 and "weights" in modes["eager"]
    ratios = R.compute_ratios(modes)
    assert ratios["cached_vs_eager"] == pytest.approx(
        modes["cached"]["windows_per_s"] / modes["eager"]["windows_per_s"])


# --------------------------------------------------------------- speed changes in the live half


def test_run_batch_reuses_the_repeated_context_features(graphs: Path) -> None:
    """Chunks that overlap by K - 1 crops (as the spotter's batch mode feeds them) pass each
    frame through the backbone once, with the same results as one call over everything."""
    from realtime.engine import Engine

    k = 5
    crops = np.random.default_rng(2).integers(0, 256, (30, 128, 128), dtype=np.uint8)
    whole = Engine(graphs, provider="cpu", warmup=False).run_batch(crops).probs
    engine = Engine(graphs, provider="cpu", warmup=False)
    parts = [engine.run_batch(crops[a:b]).probs for a, b in ((0, 12), (8, 21), (17, 30))]
    assert engine.timings.backbone.items == 30  # not 12 + 13 + 13
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    # Different leading crops: nothing is reused, every crop is computed.
    other = crops[17:30].copy()
    other[0] ^= 1
    before = engine.timings.backbone.items
    np.testing.assert_allclose(engine.run_batch(other).probs[1:], whole[k - 1 + 14:], atol=1e-6)
    assert engine.timings.backbone.items - before == 13
