"""Batches of consecutive crops (realtime/engine/batch.py): batch sizes, chunk continuation and
what a call too short for a window leaves behind."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from realtime.engine import Engine

K = 5


@pytest.mark.parametrize("mode", ["cached", "window"])
def test_batch_size_changes_the_calls_not_the_results(graphs: Path, crops: np.ndarray,
                                                      mode: str) -> None:
    engine = Engine(graphs, provider="cpu", mode=mode, warmup=False)
    results = {}
    for batch in (1, 3, 32):
        engine.reset()
        engine.timings.reset()
        results[batch] = engine.run_batch(crops, batch=batch)
        rows = len(crops) - K + 1
        assert engine.timings.head.count == math.ceil(rows / batch)
        assert engine.timings.head.items == rows
        if mode == "cached":
            assert engine.timings.backbone.count == math.ceil(len(crops) / batch)
            assert engine.timings.backbone.items == len(crops)
        else:
            assert engine.timings.backbone.count == 0  # no separate backbone in window mode
    for batch in (3, 32):
        np.testing.assert_allclose(results[batch].probs, results[1].probs, atol=1e-6)
        np.testing.assert_array_equal(results[batch].key_indices, results[1].key_indices)


@pytest.mark.parametrize("mode", ["cached", "window"])
def test_a_call_too_short_for_a_window_leaves_the_track_alone(ref_graphs: Path,
                                                             crops: np.ndarray,
                                                             mode: str) -> None:
    engine = Engine(ref_graphs, provider="cpu", mode=mode, warmup=False)
    whole = engine.run_batch(crops).probs
    engine.reset()
    engine.timings.reset()
    first = engine.run_batch(crops[:12]).probs
    assert len(engine.run_batch(crops[:K - 1])) == 0  # no window: nothing computed or kept
    rest = engine.run_batch(crops[12 - (K - 1):]).probs  # still continues the first call
    np.testing.assert_allclose(np.concatenate([first, rest]), whole, atol=1e-5)
    if mode == "cached":
        assert engine.timings.backbone.items == len(crops)  # each frame through it once


def test_run_batch_leaves_the_streaming_window_alone(graphs: Path, crops: np.ndarray) -> None:
    engine = Engine(graphs, provider="cpu", capacity=7)
    streamed = [engine.push(c) for c in crops[:8]]
    engine.run_batch(crops[10:20])
    after = engine.push(crops[8])  # continues the pushed frames 0..7, not the batch
    engine.reset()
    again = [engine.push(c) for c in crops[:9]]
    assert streamed[-1] is not None and after is not None and again[-1] is not None
    np.testing.assert_allclose(after.probs, again[-1].probs, atol=1e-6)
    assert after.position == again[-1].position == 8 - (K - 1) // 2
