"""ONNX Runtime engine front: streaming vs window vs batch parity, middle-frame bookkeeping,
reset, timings, settings, and the contract's input transform in every path."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from realtime import contract as C
from realtime.engine import Engine, WindowOutput, cuda_problem
from realtime.reference import InputTransform, transform_video

K = 5  # window of the default model config (checked against the engine below)


# ----------------------------------------------------------------------------------- engines


@pytest.fixture(scope="module")
def cached(graphs) -> Engine:
    # A short tape so that streaming tests cross several rebases.
    return Engine(graphs, provider="cpu", mode="cached", capacity=7)


@pytest.fixture(scope="module")
def windowed(graphs) -> Engine:
    return Engine(graphs, provider="cpu", mode="window", capacity=6)


def _stream(engine: Engine, crops: np.ndarray) -> list[WindowOutput | None]:
    engine.reset()
    return [engine.push(c, tag=i) for i, c in enumerate(crops)]


def test_engine_reads_the_contract(cached: Engine) -> None:
    assert cached.window == K
    assert cached.crop_size == 128
    assert cached.class_names[0] == "none"
    assert cached.frames_behind == (K - 1) // 2
    assert cached.provider == "cpu"


def test_cached_window_and_batch_agree(cached: Engine, windowed: Engine,
                                       crops: np.ndarray) -> None:
    a = [o for o in _stream(cached, crops) if o is not None]
    b = [o for o in _stream(windowed, crops) if o is not None]
    batch_c = cached.run_batch(crops, batch=4)
    batch_w = windowed.run_batch(crops, batch=3)
    n = len(crops) - K + 1
    assert len(a) == len(b) == len(batch_c) == len(batch_w) == n
    pa = np.stack([o.probs for o in a])
    pb = np.stack([o.probs for o in b])
    for other in (pb, batch_c.probs, batch_w.probs):
        np.testing.assert_allclose(pa, other, rtol=0, atol=1e-5)
    np.testing.assert_allclose(np.stack([o.keyframe_scores for o in a]),
                               batch_w.keyframe_scores, atol=1e-5)
    np.testing.assert_array_equal(np.stack([o.key_indices for o in a]), batch_c.key_indices)
    # The test only means something if the windows really differ.
    assert np.ptp(pa, axis=0).max() > 1e-4
    assert np.allclose(pa.sum(axis=1), 1.0, atol=1e-5)
    assert cached.rebases > 0 and windowed.rebases > 0


def test_push_returns_the_middle_frame(cached: Engine, crops: np.ndarray) -> None:
    outs = _stream(cached, crops[:9])
    assert outs[:K - 1] == [None] * (K - 1)
    for newest, out in enumerate(outs):
        if out is None:
            continue
        assert out.frames_behind == (K - 1) // 2
        assert out.tag == newest - (K - 1) // 2
        assert out.position == newest - (K - 1) // 2
        assert out.probs.shape == (len(cached.class_names),)
        assert out.keyframe_scores.shape == (K,)
        assert out.key_indices.shape == (cached.key_frames,)
        assert list(out.key_indices) == sorted(out.key_indices)


def test_results_are_copies_not_views_of_engine_buffers(cached: Engine,
                                                        crops: np.ndarray) -> None:
    outs = _stream(cached, crops[:8])
    first = outs[K - 1]
    assert first is not None
    kept = first.probs.copy()
    for c in crops[8:12]:
        cached.push(c)
    np.testing.assert_array_equal(first.probs, kept)


def test_reset_breaks_the_window(cached: Engine, crops: np.ndarray) -> None:
    cached.reset()
    for c in crops[:7]:
        cached.push(c)
    cached.reset()
    assert cached.buffered == 0
    after = [cached.push(c, tag=i) for i, c in enumerate(crops[10:17])]
    assert after[:K - 1] == [None] * (K - 1)
    fresh = _stream(cached, crops[10:17])
    for x, y in zip(after, fresh):
        if x is None:
            assert y is None
        else:
            assert y is not None and x.tag == y.tag
            np.testing.assert_allclose(x.probs, y.probs, atol=1e-6)


def test_run_batch_shapes_and_short_input(cached: Engine, crops: np.ndarray) -> None:
    short = cached.run_batch(crops[:K - 1])
    assert len(short) == 0 and short.probs.shape == (0, len(cached.class_names))
    out = cached.run_batch(crops[:K])
    assert len(out) == 1 and out.first_middle == (K - 1) // 2


@pytest.mark.parametrize("bad", [np.zeros((64, 64), np.uint8), np.zeros((128, 128), np.float32),
                                 np.zeros((128, 128, 3), np.uint8), [[0]]])
def test_push_rejects_bad_crops(cached: Engine, bad) -> None:
    with pytest.raises(ValueError, match="crop must be a \\(128, 128\\) uint8"):
        cached.push(bad)


def test_run_batch_rejects_bad_input(cached: Engine) -> None:
    with pytest.raises(ValueError, match="crops must be"):
        cached.run_batch(np.zeros((6, 64, 64), np.uint8))


def test_timings_are_recorded(graphs, crops: np.ndarray) -> None:
    engine = Engine(graphs, provider="cpu")
    for c in crops[:8]:
        engine.push(c)
    t = engine.timings
    assert t.backbone.items == 8 and t.head.items == 8 - K + 1 and t.push.items == 8
    assert t.input.items == 8 and t.input.mean_ms < t.push.mean_ms  # its own stage
    assert 0 < t.backbone.mean_ms < 10_000 and t.head.mean_ms > 0
    assert t.to_dict()["backbone"]["p95_ms"] >= t.to_dict()["backbone"]["p50_ms"]


def test_streaming_does_not_grow_python_memory(graphs, crops: np.ndarray) -> None:
    engine = Engine(graphs, provider="cpu", capacity=8)
    for c in crops:
        engine.push(c)
    tracemalloc.start()
    try:
        for c in crops:
            engine.push(c)
        before, _ = tracemalloc.get_traced_memory()
        for _ in range(3):
            for c in crops:
                engine.push(c)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Bounded sample windows of the timers may still fill; nothing per frame may pile up.
    assert after - before < 200_000


# ----------------------------------------------------------------------------------- settings


@pytest.mark.parametrize("kwargs,match", [
    ({"provider": "gpu"}, "provider must be one of"),
    ({"mode": "fast"}, "mode must be one of"),
    ({"threads": 0}, "threads must be None or an int"),
    ({"capacity": 3}, "capacity must be an int"),
    ({"device_id": -1}, "device_id must be"),
])
def test_bad_settings_are_refused(graphs, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        Engine(graphs, warmup=False, **kwargs)


@pytest.mark.skipif(cuda_problem() is not None, reason="no usable CUDA GPU")
@pytest.mark.parametrize("which", ["raw", "reference"])
def test_cuda_streaming_matches_cpu(exported_graphs, reference_exported_graphs, which: str,
                                    crops: np.ndarray) -> None:
    # the CUDA rebase recomputes kept frames from the stored network inputs: with a reference-
    # difference input those must be the transformed crops
    graphs = (exported_graphs if which == "raw" else reference_exported_graphs).out_dir
    gpu = Engine(graphs, provider="cuda", capacity=7)
    cpu = Engine(graphs, provider="cpu")
    assert gpu.provider == "cuda"
    a = [o for o in _stream(gpu, crops) if o is not None]
    b = [o for o in _stream(cpu, crops) if o is not None]
    assert gpu.rebases > 0
    np.testing.assert_allclose(np.stack([o.probs for o in a]),
                               np.stack([o.probs for o in b]), atol=1e-3)
    np.testing.assert_allclose(gpu.run_batch(crops).probs, cpu.run_batch(crops).probs,
                               atol=1e-3)


# ------------------------------------------------------------------ reference-difference input


def _expected_probs(graph_dir: Path, crops: np.ndarray, transform) -> np.ndarray:
    """Direct computation: transform the crops as one track, backbone, head on each window."""
    inputs = transform_video(crops, np.ones(len(crops), bool), transform)
    bb, _ = C.open_graph(graph_dir / C.GRAPH_FILES["backbone"], "backbone")
    hd, _ = C.open_graph(graph_dir / C.GRAPH_FILES["head"], "head")
    feats = bb.run(None, {C.BACKBONE_INPUT: (inputs[:, None] / np.float32(255))
                          .astype(np.float32)})[0]
    idx = np.arange(len(crops) - K + 1)[:, None] + np.arange(K)
    return hd.run(None, {C.HEAD_INPUT: feats[idx]})[0]


def test_engine_applies_the_contracts_input_transform_in_every_path(ref_graphs: Path,
                                                                    crops: np.ndarray) -> None:
    from tests.conftest import REFERENCE_TAU_FRAMES

    cached = Engine(ref_graphs, provider="cpu", mode="cached", capacity=7)
    windowed = Engine(ref_graphs, provider="cpu", mode="window", capacity=6)
    assert cached.input_transform == InputTransform(tau_frames=REFERENCE_TAU_FRAMES)
    assert "reference difference" in cached.describe()
    expected = _expected_probs(ref_graphs, crops, cached.input_transform)
    raw = _expected_probs(ref_graphs, crops, InputTransform())
    assert np.abs(expected - raw).max() > 1e-4  # the transform really changes the output
    for engine in (cached, windowed):
        streamed = np.stack([o.probs for o in _stream(engine, crops) if o is not None])
        np.testing.assert_allclose(streamed, expected, atol=1e-5)
        engine.reset()
        np.testing.assert_allclose(engine.run_batch(crops, batch=4).probs, expected, atol=1e-5)


def test_reset_restarts_the_reference(ref_graphs: Path, crops: np.ndarray) -> None:
    engine = Engine(ref_graphs, provider="cpu", capacity=7)
    for c in crops[:9]:
        engine.push(c)
    engine.reset()
    after = [o.probs for o in (engine.push(c) for c in crops[9:]) if o is not None]
    fresh = Engine(ref_graphs, provider="cpu", capacity=7)
    again = [o.probs for o in _stream(fresh, crops[9:]) if o is not None]
    np.testing.assert_allclose(np.stack(after), np.stack(again), atol=1e-6)


@pytest.mark.parametrize("mode", ["cached", "window"])
def test_run_batch_chunks_continue_the_track_only_when_they_overlap(
        ref_graphs: Path, crops: np.ndarray, mode: str) -> None:
    engine = Engine(ref_graphs, provider="cpu", mode=mode)
    engine.reset()
    whole = engine.run_batch(crops).probs
    engine.reset()
    first = engine.run_batch(crops[:12]).probs
    second = engine.run_batch(crops[12 - (K - 1):]).probs  # overlaps by K - 1: same track
    np.testing.assert_allclose(np.concatenate([first, second]), whole, atol=1e-5)
    engine.reset()  # a break: the same crops now start a new track
    restarted = engine.run_batch(crops[12 - (K - 1):]).probs
    np.testing.assert_allclose(restarted, _expected_probs(
        ref_graphs, crops[12 - (K - 1):], engine.input_transform), atol=1e-5)
    assert np.abs(restarted - second).max() > 1e-5
