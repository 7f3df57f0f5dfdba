"""Frame storage, one class per backend, behind one small interface (:class:`FrameStore`).

The engine's front (:class:`~realtime.engine.Engine`) keeps the :class:`~realtime.engine.Tape`
(which slot, when to rebase) and hands each frame's network input to its store:

- :class:`CpuTape` (cached mode, CPU): a numpy tape of feature maps. The backbone writes its
  output straight into the frame's slot (I/O binding to the slot's address), the head reads the
  K slots in place, a rebase is a memmove.
- :class:`CudaTape` (cached mode, CUDA): a device-resident tape of feature maps. Each crop is
  uploaded once, the backbone's output is bound to the slot's device address and the head's
  input to the K slots' device address, so feature maps never leave the GPU. A rebase
  recomputes the K-1 kept frames from their inputs (held on the host), because onnxruntime's
  Python API has no device-to-device copy into part of a tensor: K-1 backbone frames once every
  ``capacity - K + 1`` frames.
- :class:`WindowStore` (window mode, either provider): a host tape of scaled crops; the
  whole-window graph runs on the K slots at every step.

:func:`make_store` picks the class for a mode and provider.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from realtime import contract as C
from realtime.engine.sessions import Graphs
from realtime.timing import EngineTimings

SCALE = np.float32(1.0 / 255.0)  # uint8 network input -> float in [0, 1]


def scaled_frames(inputs: np.ndarray) -> np.ndarray:
    """``(N, S, S)`` uint8 network inputs -> ``(N, 1, S, S)`` float32 in [0, 1]."""
    return (inputs.astype(np.float32) * SCALE)[:, None]


class HeadOutputs:
    """The head's three outputs for one window in preallocated host arrays.

    ``in_place``: onnxruntime writes straight into the arrays (CPU provider); otherwise the
    outputs are bound to host memory that onnxruntime allocates, and :meth:`collect` copies
    them over (tiny) after each run.
    """

    def __init__(self, binding: Any, classes: int, window: int, key_frames: int, *,
                 in_place: bool) -> None:
        self.probs = np.zeros((1, classes), np.float32)  # class probabilities
        self.scores = np.zeros((1, window), np.float32)  # key-frame scores
        self.keys = np.zeros((1, key_frames), np.int64)  # key-frame positions
        self._binding = binding
        self._in_place = in_place
        for name, arr in ((C.PROBS, self.probs), (C.SCORES, self.scores),
                          (C.KEY_INDICES, self.keys)):
            if in_place:
                binding.bind_output(name, "cpu", 0, arr.dtype, list(arr.shape), arr.ctypes.data)
            else:
                binding.bind_output(name, "cpu")

    def collect(self) -> None:
        """Make the arrays hold the last run's outputs."""
        if not self._in_place:
            probs, scores, keys = self._binding.copy_outputs_to_cpu()
            self.probs[:], self.scores[:], self.keys[:] = probs, scores, keys


class FrameStore(ABC):
    """Storage of the tape's frames on one backend, and the graph runs that write and read it.

    Slots are the :class:`~realtime.engine.Tape`'s. Nothing is allocated per frame.
    """

    head_input: str  # the per-window graph's input name

    def __init__(self, graphs: Graphs, capacity: int, timings: EngineTimings, *,
                 outputs_in_place: bool) -> None:
        c = graphs.contract
        self.window = c.window
        self.crop_size = c.crop_size
        self.feature_shape = c.feature_shape
        self.capacity = capacity
        self._timings = timings  # read at each use: the benchmark swaps in fresh timers
        self._head = graphs.head
        self._bind_h = self._head.io_binding()
        self.outputs = HeadOutputs(self._bind_h, len(c.class_names), c.window, c.key_frames,
                                   in_place=outputs_in_place)

    @property
    @abstractmethod
    def frame_shape(self) -> tuple[int, ...]:
        """Shape of one frame's entry in a window (a feature map or a scaled crop)."""

    @abstractmethod
    def frame_timer(self) -> AbstractContextManager[Any]:
        """What :meth:`put` and the input transform before it are timed as (or not timed)."""

    @abstractmethod
    def put(self, slot: int, inputs: np.ndarray) -> None:
        """Store the frame whose network input is ``inputs`` ((S, S) uint8) at ``slot``."""

    @abstractmethod
    def rebase(self, src: int, n: int) -> None:
        """Move the frames at slots ``[src, src + n)`` to ``[0, n)`` (the tape's rebase)."""

    @abstractmethod
    def run_head(self, start: int) -> None:
        """Classify the window at slots ``[start, start + K)``; results in :attr:`outputs`."""

    @abstractmethod
    def batch_into(self, inputs: np.ndarray, out: np.ndarray, batch: int) -> None:
        """Fill ``out`` ((N, *frame_shape)) with the window entries of N network inputs."""

    def warmup(self) -> None:
        """Run the graphs once through the bound paths (first real frame not slow)."""
        self.run_head(0)

    def run_head_batch(self, windows: np.ndarray) -> list[np.ndarray]:
        """Probabilities, key-frame scores and key indices of ``(B, K, *frame_shape)`` windows."""
        return self._head.run(None, {self.head_input: np.ascontiguousarray(windows)})


class FeatureTape(FrameStore):
    """Cached mode: the backbone runs once per frame; the tape holds feature maps."""

    head_input = C.HEAD_INPUT

    def __init__(self, graphs: Graphs, capacity: int, timings: EngineTimings, *,
                 outputs_in_place: bool) -> None:
        super().__init__(graphs, capacity, timings, outputs_in_place=outputs_in_place)
        s = self.crop_size
        self._backbone = graphs.backbone
        self._bind_b = self._backbone.io_binding()
        self._frame = np.zeros((1, 1, s, s), np.float32)  # one crop, scaled to [0, 1]

    @property
    def frame_shape(self) -> tuple[int, ...]:
        return self.feature_shape

    def frame_timer(self) -> AbstractContextManager[Any]:
        return self._timings.backbone.measure()  # includes the input transform and upload

    def put(self, slot: int, inputs: np.ndarray) -> None:
        np.multiply(inputs, SCALE, out=self._frame[0, 0])
        self.backbone_into(slot, self._frame, 1)

    @abstractmethod
    def backbone_into(self, slot: int, frames: np.ndarray, n: int) -> None:
        """Run the backbone on ``frames`` (n, 1, S, S) with its output written at ``slot``."""

    def warmup(self) -> None:
        self.backbone_into(0, self._frame, 1)
        self.run_head(0)

    def batch_into(self, inputs: np.ndarray, out: np.ndarray, batch: int) -> None:
        frames = scaled_frames(inputs)
        for i in range(0, len(inputs), batch):
            j = min(i + batch, len(inputs))
            with self._timings.backbone.measure(j - i):
                out[i:j] = self._backbone.run([C.BACKBONE_OUTPUT],
                                              {C.BACKBONE_INPUT: frames[i:j]})[0]


class CpuTape(FeatureTape):
    """Cached mode on CPU: a numpy tape of feature maps, bound in place."""

    def __init__(self, graphs: Graphs, capacity: int, timings: EngineTimings) -> None:
        super().__init__(graphs, capacity, timings, outputs_in_place=True)
        self._store = np.zeros((capacity, *self.feature_shape), np.float32)

    def backbone_into(self, slot: int, frames: np.ndarray, n: int) -> None:
        b = self._bind_b
        b.bind_input(C.BACKBONE_INPUT, "cpu", 0, np.float32, list(frames.shape),
                     frames.ctypes.data)
        b.bind_output(C.BACKBONE_OUTPUT, "cpu", 0, np.float32, [n, *self.feature_shape],
                      self._store[slot].ctypes.data)
        self._backbone.run_with_iobinding(b)

    def rebase(self, src: int, n: int) -> None:
        if n:
            self._store[:n] = self._store[src:src + n]

    def run_head(self, start: int) -> None:
        view = self._store[start:start + self.window][None]  # (1, K, C, h, w), contiguous view
        self._bind_h.bind_input(C.HEAD_INPUT, "cpu", 0, np.float32, list(view.shape),
                                view.ctypes.data)
        self._head.run_with_iobinding(self._bind_h)
        self.outputs.collect()  # a no-op: bound in place


class CudaTape(FeatureTape):
    """Cached mode on CUDA: a device tape of feature maps; a rebase recomputes the kept frames
    from their network inputs, which a ring of the last K inputs keeps on the host."""

    def __init__(self, graphs: Graphs, capacity: int, timings: EngineTimings) -> None:
        import onnxruntime as ort

        super().__init__(graphs, capacity, timings, outputs_in_place=False)
        s, k, dev = self.crop_size, self.window, graphs.device_id
        self._device_id = dev
        self._dev = ort.OrtValue.ortvalue_from_shape_and_type(
            (capacity, *self.feature_shape), np.float32, "cuda", dev)
        self._dev_frame = ort.OrtValue.ortvalue_from_shape_and_type(
            (1, 1, s, s), np.float32, "cuda", dev)  # one crop's upload slot
        self._slot_bytes = int(np.prod(self.feature_shape)) * 4
        self._inputs = np.zeros((k, s, s), np.uint8)  # last K network inputs, slot count % K
        self._count = 0  # frames put so far

    def put(self, slot: int, inputs: np.ndarray) -> None:
        self._inputs[self._count % self.window] = inputs
        self._count += 1
        super().put(slot, inputs)

    def backbone_into(self, slot: int, frames: np.ndarray, n: int) -> None:
        b = self._bind_b
        if n == 1:
            self._dev_frame.update_inplace(frames)  # the crop's single upload
            b.bind_ortvalue_input(C.BACKBONE_INPUT, self._dev_frame)
        else:
            b.bind_cpu_input(C.BACKBONE_INPUT, frames)
        b.bind_output(C.BACKBONE_OUTPUT, "cuda", self._device_id, np.float32,
                      [n, *self.feature_shape], self._dev.data_ptr() + slot * self._slot_bytes)
        # run_with_iobinding synchronises the device at the end of the run, so the head
        # (another session, another stream) reads finished features.
        self._backbone.run_with_iobinding(b)

    def rebase(self, src: int, n: int) -> None:
        if n == 0:
            return
        # The n kept frames are the last n put (the tape rebases before the next put).
        idx = [(self._count - n + i) % self.window for i in range(n)]
        self.backbone_into(0, np.ascontiguousarray(scaled_frames(self._inputs[idx])), n)

    def run_head(self, start: int) -> None:
        h = self._bind_h
        h.bind_input(C.HEAD_INPUT, "cuda", self._device_id, np.float32,
                     [1, self.window, *self.feature_shape],
                     self._dev.data_ptr() + start * self._slot_bytes)
        self._head.run_with_iobinding(h)
        self.outputs.collect()


class WindowStore(FrameStore):
    """Window mode: a host tape of scaled crops; the whole-window graph runs on every window
    (bound in place on CPU, uploaded from the tape on CUDA)."""

    head_input = C.WINDOW_INPUT

    def __init__(self, graphs: Graphs, capacity: int, timings: EngineTimings) -> None:
        on_host = graphs.provider == "cpu"
        super().__init__(graphs, capacity, timings, outputs_in_place=on_host)
        s = self.crop_size
        self._store = np.zeros((capacity, 1, s, s), np.float32)  # tape of scaled crops
        self._bind_window = self._bind_in_place if on_host else self._bind_h.bind_cpu_input

    @property
    def frame_shape(self) -> tuple[int, ...]:
        return (1, self.crop_size, self.crop_size)

    def frame_timer(self) -> AbstractContextManager[Any]:
        return contextlib.nullcontext()  # no backbone stage: the head times the whole graph

    def put(self, slot: int, inputs: np.ndarray) -> None:
        np.multiply(inputs, SCALE, out=self._store[slot, 0])

    def rebase(self, src: int, n: int) -> None:
        self._store[:n] = self._store[src:src + n]

    def _bind_in_place(self, name: str, view: np.ndarray) -> None:
        self._bind_h.bind_input(name, "cpu", 0, np.float32, list(view.shape), view.ctypes.data)

    def run_head(self, start: int) -> None:
        view = self._store[start:start + self.window][None]  # (1, K, 1, S, S), contiguous view
        self._bind_window(C.WINDOW_INPUT, view)
        self._head.run_with_iobinding(self._bind_h)
        self.outputs.collect()

    def batch_into(self, inputs: np.ndarray, out: np.ndarray, batch: int) -> None:
        out[:] = scaled_frames(inputs)


def make_store(mode: str, graphs: Graphs, capacity: int, timings: EngineTimings) -> FrameStore:
    """The storage backend for a mode ("cached" or "window") on the graphs' provider."""
    if mode == "window":
        return WindowStore(graphs, capacity, timings)
    if graphs.provider == "cpu":
        return CpuTape(graphs, capacity, timings)
    return CudaTape(graphs, capacity, timings)
