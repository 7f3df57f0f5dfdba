"""The engine's front: :class:`Engine` checks its settings, opens the graphs, keeps the tape's
index logic and the tags of recent frames, and hands the storage to one backend class."""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from realtime import contract as C
from realtime.engine.batch import DEFAULT_BATCH, BatchRunner
from realtime.engine.results import BatchOutput, WindowOutput
from realtime.engine.sessions import MODES, PROVIDERS, GraphFiles, open_graphs
from realtime.engine.stores import make_store
from realtime.engine.tape import DEFAULT_TAPE_CAPACITY, Tape
from realtime.reference import ReferenceDifference
from realtime.timing import EngineTimings
from realtime.vocab import check_int, check_threads

MAX_TAPE_CAPACITY = 100_000  # slots


def _check_settings(provider: str, mode: str, threads: int | None, device_id: int,
                    backbone_file: str | Path | None) -> tuple[int | None, int]:
    """Refuse bad constructor arguments by name; ``(threads, device_id)`` as plain ints."""
    if provider not in PROVIDERS:
        raise ValueError(f"provider must be one of {list(PROVIDERS)}, got {provider!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    threads = check_threads(threads)
    device_id = check_int("device_id", device_id, 0)
    if backbone_file is not None and (not isinstance(backbone_file, str | Path)
                                      or not str(backbone_file).strip()):
        raise ValueError(f"backbone_file must be None or a file name or path, "
                         f"got {backbone_file!r}")
    return threads, device_id


def _array_problem(x: Any) -> str:
    return f"{x.dtype} array of shape {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__


class Engine:
    """Runs the exported STSNet_SW graphs on face crops, one frame at a time or in batches.

    graph_dir: folder with backbone.onnx, head.onnx, stsnet_sw.onnx and stsnet_sw.weights.
    provider: "auto" (CUDA when a GPU is usable, else CPU, saying why in ``provider_note``),
        "cuda" (error when no GPU is usable) or "cpu".
    mode: "cached" (backbone once per frame + head per window) or "window" (whole-window graph).
    threads: onnxruntime intra-op threads on CPU for the backbone and whole-window graphs
        (None: one per physical core). The head graph runs on one thread: its operators are
        too small for a thread hand-off to pay (one window: 0.81 -> 0.63 ms on 2 cores).
    capacity: slots of the frame tape (>= K; see :mod:`realtime.engine.tape`).
    device_id: CUDA device ordinal.
    warmup: run each graph once at start-up so the first real frame is not slow.
    backbone_file: the backbone graph to use in cached mode instead of ``backbone.onnx``: a file
        name in ``graph_dir`` or a path (e.g. ``backbone_int8.onnx`` from
        ``python -m export quantize``); it must carry the same checkpoint's contract. None:
        ``backbone_int8.onnx`` on CPU when the folder holds one (the shipped weights do once
        its F1 gate passed; ``backbone_file="backbone.onnx"`` forces fp32), else
        ``backbone.onnx``.

    Attributes after construction: ``provider`` ("cuda" or "cpu", the one in use),
    ``provider_note`` (why, when "auto" fell back), ``contract`` (the graphs' metadata),
    ``sessions`` (graph kind -> onnxruntime session), ``window`` (K), ``crop_size`` (S),
    ``class_names``, ``input_transform`` (what the backbone is fed,
    :class:`~realtime.reference.InputTransform`), ``timings`` (:class:`EngineTimings`).
    Not thread-safe: one engine per stream.
    """

    def __init__(self, graph_dir: str | Path, provider: str = "auto", mode: str = "cached",
                 threads: int | None = None, *, capacity: int = DEFAULT_TAPE_CAPACITY,
                 device_id: int = 0, warmup: bool = True,
                 backbone_file: str | Path | None = None) -> None:
        threads, device_id = _check_settings(provider, mode, threads, device_id, backbone_file)
        self.graph_dir = Path(graph_dir)
        self.backbone_path = self.graph_dir / (
            C.GRAPH_FILES["backbone"] if backbone_file is None else backbone_file)
        self.mode = mode
        self.threads = threads
        self.device_id = device_id
        self.timings = EngineTimings()
        int8 = self.graph_dir / C.INT8_BACKBONE_FILE
        cpu_backbone = int8 if backbone_file is None and int8.is_file() else None
        graphs = open_graphs(GraphFiles(self.graph_dir, self.backbone_path, mode, cpu_backbone),
                             provider, threads, device_id)
        if graphs.backbone_path is not None:
            self.backbone_path = graphs.backbone_path  # the int8 one on CPU when shipped
        self.provider, self.provider_note = graphs.provider, graphs.provider_note
        self.sessions: dict[str, Any] = dict(graphs.sessions)
        c = self.contract = graphs.contract
        self.window: int = c.window
        self.key_frames: int = c.key_frames
        self.crop_size: int = c.crop_size
        self.class_names: tuple[str, ...] = c.class_names
        self.feature_shape: tuple[int, int, int] = c.feature_shape
        self.input_transform = c.transform
        self.frames_behind = (self.window - 1) // 2
        capacity = check_int("capacity", capacity, self.window, MAX_TAPE_CAPACITY)
        self._tape = Tape(self.window, capacity)
        self._tags: deque[Any] = deque(maxlen=self.window)
        self._reference = ReferenceDifference(self.input_transform)
        self._input = np.zeros((self.crop_size,) * 2, np.uint8)  # this frame's network input
        self._store = make_store(mode, graphs, capacity, self.timings)
        self._batch = BatchRunner(self._store, self.input_transform, len(self.class_names),
                                  self.key_frames, self.timings)
        if warmup:
            self.warmup()

    def warmup(self) -> None:
        """Run the graphs once through the same bound paths as :meth:`push`, so that the first
        real frame is not slow. Empties the frame buffer; timings are not recorded."""
        self.reset()
        self._store.warmup()

    # -- streaming -----------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the buffered frames (face lost, frame gap, new video): the next :meth:`push`
        or :meth:`run_batch` starts a new face track."""
        self._tape.reset()
        self._tags.clear()
        self._reference.reset()
        self._batch.reset()

    @property
    def buffered(self) -> int:
        """Consecutive frames currently buffered (0..K)."""
        return self._tape.filled

    @property
    def rebases(self) -> int:
        """Tape rebases since construction."""
        return self._tape.rebases

    def push(self, crop: np.ndarray, tag: Any = None) -> WindowOutput | None:
        """Add the next frame's crop; return the middle frame's result once K frames are held.

        ``crop``: (S, S) uint8 grayscale face crop. ``tag``: any value (e.g. ``(frame_index,
        time_s)``) handed back in the :class:`WindowOutput` of this frame. Frames pushed after
        one another are taken as consecutive: call :meth:`reset` at any break.
        """
        s = self.crop_size
        if not isinstance(crop, np.ndarray) or crop.shape != (s, s) or crop.dtype != np.uint8:
            raise ValueError(f"crop must be a ({s}, {s}) uint8 grayscale array, "
                             f"got {_array_problem(crop)}")
        t0 = time.perf_counter()
        tape, store = self._tape, self._store
        slot, rebase = tape.advance()
        self._tags.append(tag)
        if rebase is not None:
            store.rebase(*rebase)
        with self.timings.input.measure():
            network_input = self._reference.update(crop, out=self._input)  # crop when raw
        with store.frame_timer():
            store.put(slot, network_input)
        out = None
        if tape.ready:
            with self.timings.head.measure():
                store.run_head(tape.window_start)
            res = store.outputs
            out = WindowOutput(
                probs=res.probs[0].copy(), keyframe_scores=res.scores[0].copy(),
                key_indices=res.keys[0].copy(), frames_behind=self.frames_behind,
                position=tape.pushed - 1 - self.frames_behind,
                tag=self._tags[self.window - 1 - self.frames_behind])
        self.timings.push.add((time.perf_counter() - t0) * 1e3)
        return out

    # -- batch ---------------------------------------------------------------------------------
    def run_batch(self, crops: np.ndarray, batch: int = DEFAULT_BATCH) -> BatchOutput:
        """Classify every full window of N consecutive crops ((N, S, S) uint8), in batches.

        Row i of the result is the window of crops i..i+K-1 (middle crop i + (K-1)//2). Leaves
        the streaming buffer alone. Memory grows with N: feed long videos in chunks that
        overlap by K - 1 crops. A call whose first K - 1 crops are byte for byte the previous
        call's last ones continues that call's face track: their feature maps are reused
        (cached mode; each frame passes the backbone once) and a reference-difference input
        carries on; any other call, and any call after :meth:`reset`, starts a new track.
        """
        s = self.crop_size
        if not isinstance(crops, np.ndarray) or crops.ndim != 3 or crops.shape[1:] != (s, s) \
                or crops.dtype != np.uint8:
            raise ValueError(f"crops must be an (N, {s}, {s}) uint8 array, "
                             f"got {_array_problem(crops)}")
        return self._batch.run(crops, check_int("batch", batch, 1))

    # -- several faces: one backbone call for the crops of all faces --------------------------
    def frame_entries(self, inputs: np.ndarray) -> np.ndarray:
        """Window entries of N network inputs ((N, S, S) uint8, one per face, input transform
        already applied): feature maps from one backbone call in cached mode, scaled crops in
        window mode. ``(N, *entry_shape)`` float32; the streaming tape is not touched."""
        s = self.crop_size
        if not isinstance(inputs, np.ndarray) or inputs.ndim != 3 or inputs.shape[1:] != (s, s) \
                or inputs.dtype != np.uint8 or len(inputs) == 0:
            raise ValueError(f"inputs must be an (N >= 1, {s}, {s}) uint8 array, "
                             f"got {_array_problem(inputs)}")
        out = np.empty((len(inputs), *self._store.frame_shape), np.float32)
        self._store.batch_into(inputs, out, len(inputs))
        return out

    def classify_windows(self, windows: np.ndarray) -> BatchOutput:
        """Classify B windows of entries ((B, K, *entry_shape) float32, from
        :meth:`frame_entries`) in one head call (the whole-window graph in window mode)."""
        shape = (self.window, *self._store.frame_shape)
        if not isinstance(windows, np.ndarray) or windows.ndim != len(shape) + 1 \
                or windows.shape[1:] != shape or windows.dtype != np.float32 or not len(windows):
            raise ValueError(f"windows must be a (B >= 1, {', '.join(map(str, shape))}) float32 "
                             f"array, got {_array_problem(windows)}")
        with self.timings.head.measure(len(windows)):
            probs, scores, keys = self._store.run_head_batch(windows)
        return BatchOutput(probs=np.asarray(probs), keyframe_scores=np.asarray(scores),
                           key_indices=np.asarray(keys), first_middle=self.frames_behind)

    # -- info ----------------------------------------------------------------------------------
    def describe(self) -> str:
        """One line: provider, mode, graphs and model identity."""
        threads = "auto" if self.threads is None else str(self.threads)
        backbone = ""
        if self.mode == "cached" and self.backbone_path.name != C.GRAPH_FILES["backbone"]:
            backbone = f"backbone={self.backbone_path.name} "
        return (f"provider={self.provider} mode={self.mode} {backbone}K={self.window} "
                f"S={self.crop_size} input={self.input_transform.describe()} "
                f"classes={','.join(self.class_names)} threads={threads} "
                f"checkpoint={self.contract.checkpoint_sha256[:12]} ({self.provider_note})")
