"""Whole runs of consecutive crops in batches (files processed as fast as possible).

:class:`BatchRunner` is the state behind ``Engine.run_batch``: the previous call's last K - 1
crops, their network inputs and window entries (feature maps or scaled crops), and the running
input transform, so that chunks overlapping by K - 1 crops continue one face track and pass
each frame through the backbone once. The streaming tape is not touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from realtime.engine.results import BatchOutput
from realtime.engine.stores import FrameStore
from realtime.reference import InputTransform, ReferenceDifference
from realtime.timing import EngineTimings

DEFAULT_BATCH = 32  # frames per backbone call and windows per head call in run_batch


@dataclass(frozen=True)
class _Context:
    """The last K - 1 crops of a call, the network's inputs for them and their window entries."""

    crops: np.ndarray
    inputs: np.ndarray
    entries: np.ndarray


class BatchRunner:
    """Classifies every full window of a run of crops; continues the track across calls."""

    def __init__(self, store: FrameStore, transform: InputTransform, classes: int,
                 key_frames: int, timings: EngineTimings) -> None:
        self._store = store
        self._window = store.window
        self._classes = classes
        self._key_frames = key_frames
        self._timings = timings  # read at each use: the benchmark swaps in fresh timers
        self._reference = ReferenceDifference(transform)
        self._context: _Context | None = None

    def reset(self) -> None:
        """The next call starts a new face track."""
        self._reference.reset()
        self._context = None

    def run(self, crops: np.ndarray, batch: int) -> BatchOutput:
        """Rows for the windows of ``crops`` ((N, S, S) uint8, checked by the caller)."""
        n, k = crops.shape[0], self._window
        rows = max(n - k + 1, 0)
        probs = np.zeros((rows, self._classes), np.float32)
        scores = np.zeros((rows, k), np.float32)
        keys = np.zeros((rows, self._key_frames), np.int64)
        if rows:
            windows = self._window_entries(crops, batch)
            for i in range(0, rows, batch):
                j = min(i + batch, rows)
                with self._timings.head.measure(j - i):
                    p, sc, ky = self._store.run_head_batch(windows[i:j])
                probs[i:j], scores[i:j], keys[i:j] = p, sc, ky
        return BatchOutput(probs=probs, keyframe_scores=scores, key_indices=keys,
                           first_middle=(k - 1) // 2)

    def _window_entries(self, crops: np.ndarray, batch: int) -> np.ndarray:
        """``(N - K + 1, K, *frame_shape)`` view of every window's entries; keeps the context.

        Entries of crops that repeat the previous call's last K - 1 are reused, the rest are
        computed by the store (the backbone in cached mode).
        """
        n, k = crops.shape[0], self._window
        start = self._overlap(crops)
        if start == 0:
            self._reference.reset()
        inputs = self._reference.apply(crops[start:])  # the crops themselves when raw
        entries = np.empty((n, *self._store.frame_shape), np.float32)
        if start:
            assert self._context is not None
            inputs = np.concatenate([self._context.inputs, inputs])
            entries[:start] = self._context.entries
        self._store.batch_into(inputs[start:], entries[start:], batch)
        keep = min(k - 1, n)
        self._context = _Context(crops[n - keep:].copy(), inputs[n - keep:].copy(),
                                 entries[n - keep:].copy())
        windows = np.lib.stride_tricks.sliding_window_view(entries, k, axis=0)
        return np.moveaxis(windows, -1, 1)  # (rows, K, ...) view

    def _overlap(self, crops: np.ndarray) -> int:
        """How many leading crops repeat the previous call's last K - 1 crops (0 when they
        differ, or after :meth:`reset`)."""
        if self._context is None:
            return 0
        prev = self._context.crops
        m = len(prev)
        if m == 0 or len(crops) < m or not np.array_equal(crops[:m], prev):
            return 0
        return m
