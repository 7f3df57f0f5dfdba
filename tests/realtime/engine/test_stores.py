"""Storage backends (realtime/engine/stores.py): the bound streaming path of each store against
its batch path, rebases, timers, and the head's output arrays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from realtime import contract as C
from realtime.engine.sessions import GraphFiles, Graphs, open_graphs
from realtime.engine.stores import CpuTape, HeadOutputs, WindowStore, make_store
from realtime.timing import EngineTimings

K = 5
CAPACITY = 8


def _graphs(graph_dir: Path, mode: str) -> Graphs:
    files = GraphFiles(graph_dir, graph_dir / C.GRAPH_FILES["backbone"], mode)
    return open_graphs(files, "cpu", threads=1, device_id=0)


@pytest.fixture(scope="module", params=["cached", "window"])
def store_and_timings(request, graphs: Path) -> tuple[Any, EngineTimings]:
    timings = EngineTimings()
    return make_store(request.param, _graphs(graphs, request.param), CAPACITY, timings), timings


def test_make_store_picks_the_class_for_the_mode_on_cpu(store_and_timings) -> None:
    store, _ = store_and_timings
    assert type(store) in (CpuTape, WindowStore)
    assert store.head_input == (C.HEAD_INPUT if isinstance(store, CpuTape) else C.WINDOW_INPUT)
    assert store.frame_shape == ((512, 4, 4) if isinstance(store, CpuTape) else (1, 128, 128))


def _batch_probs(store: Any, inputs: np.ndarray) -> np.ndarray:
    entries = np.empty((len(inputs), *store.frame_shape), np.float32)
    store.batch_into(inputs, entries, 2)
    return store.run_head_batch(entries[None])[0][0]


def test_streaming_path_matches_batch_path_across_a_rebase(store_and_timings,
                                                           crops: np.ndarray) -> None:
    store, _ = store_and_timings
    for slot in range(CAPACITY):  # fill the whole tape: frame i at slot i
        store.put(slot, crops[slot])
    store.run_head(CAPACITY - K)
    np.testing.assert_allclose(store.outputs.probs[0],
                               _batch_probs(store, crops[CAPACITY - K:CAPACITY]), atol=1e-6)
    store.rebase(CAPACITY - (K - 1), K - 1)  # frames 4..7 move to slots 0..3
    store.put(K - 1, crops[CAPACITY])  # frame 8 goes to slot 4
    store.run_head(0)
    expected = _batch_probs(store, crops[CAPACITY - (K - 1):CAPACITY + 1])
    np.testing.assert_allclose(store.outputs.probs[0], expected, atol=1e-6)
    assert store.outputs.probs.shape == (1, 3) and store.outputs.keys.shape == (1, 3)
    assert abs(float(store.outputs.probs.sum()) - 1.0) < 1e-5


def test_only_the_feature_tape_times_its_frames_as_the_backbone(store_and_timings,
                                                                crops: np.ndarray) -> None:
    store, timings = store_and_timings
    before = timings.backbone.items
    with store.frame_timer():
        store.put(0, crops[0])
    assert timings.backbone.items - before == (1 if isinstance(store, CpuTape) else 0)


class _FakeBinding:
    """Records bind_output calls and serves outputs the way a non-CPU session does."""

    def __init__(self) -> None:
        self.bound: list[tuple[Any, ...]] = []

    def bind_output(self, *args: Any) -> None:
        self.bound.append(args)

    def copy_outputs_to_cpu(self) -> list[np.ndarray]:
        return [np.array([[0.1, 0.2, 0.7]], np.float32), np.arange(5, dtype=np.float32)[None],
                np.array([[0, 3, 4]], np.int64)]


def test_head_outputs_copied_from_onnxruntime_memory() -> None:
    b = _FakeBinding()
    out = HeadOutputs(b, classes=3, window=5, key_frames=3, in_place=False)
    assert b.bound == [(C.PROBS, "cpu"), (C.SCORES, "cpu"),
                                          (C.KEY_INDICES, "cpu")]
    out.collect()
    np.testing.assert_array_equal(out.probs, np.array([[0.1, 0.2, 0.7]], np.float32))
    np.testing.assert_array_equal(out.scores, [[0, 1, 2, 3, 4]])
    np.testing.assert_array_equal(out.keys, [[0, 3, 4]])


def test_head_outputs_bound_in_place_are_not_copied() -> None:
    b = _FakeBinding()
    out = HeadOutputs(b, classes=3, window=5, key_frames=3, in_place=True)
    names = [args[0] for args in b.bound]
    assert names == [C.PROBS, C.SCORES, C.KEY_INDICES]
    assert [args[-1] for args in b.bound] == [out.probs.ctypes.data, out.scores.ctypes.data,
                                              out.keys.ctypes.data]
    out.collect()  # onnxruntime wrote the arrays itself: nothing to copy
    assert not out.probs.any()
