"""ONNX Runtime engine: face crops in, class probabilities of each window's middle frame out.

Two ways to run the same model, chosen by ``mode``:

- ``"cached"`` (default, the streaming path): ``backbone.onnx`` runs once per frame and its
  512x4x4 feature map goes into a buffer of recent features; ``head.onnx`` runs once per window on
  the last K of them. Each frame passes the backbone once instead of K times.
- ``"window"``: the whole-window graph ``stsnet_sw.onnx`` runs on the last K crops at every
  step. K times the backbone work; kept for parity checks and as a fallback.

The buffer of recent frames is a *tape*: a preallocated array of ``capacity`` slots written one
slot per frame, so the last K frames always sit in K contiguous slots in time order and the head
reads them in place (no gather copy, no per-frame allocation). When the tape is full, the last
K-1 frames move to its start ("rebase"), once every ``capacity - K + 1`` frames. The index logic
lives in :class:`Tape` and is shared by the CPU and CUDA paths; only the storage differs:

- CPU: a numpy array; the backbone writes its output straight into the next slot (I/O binding to
  the slot's address); a rebase is a memmove.
- CUDA: a device-resident OrtValue; each crop is uploaded once, the backbone's output is bound to
  the slot's device address, and the head's input is bound to the K slots' device address, so
  feature maps never leave the GPU. A rebase recomputes the K-1 kept frames from their crops
  (held on the host), because onnxruntime's Python API has no device-to-device copy into part of
  a tensor; this costs K-1 backbone frames once every ``capacity - K + 1`` frames.

:meth:`Engine.push` adds one frame and, once K consecutive frames are buffered, returns the
result for the window's MIDDLE frame, which is ``(K - 1) // 2`` frames behind the frame just
pushed. :meth:`Engine.reset` empties the buffer (face lost, frame gap). :meth:`Engine.run_batch`
classifies a whole run of consecutive crops in batches (files processed as fast as possible).

When the graphs' contract names a reference-difference input (``realtime.reference``), the
engine turns each crop into the network's input itself, with a running reference that restarts
at :meth:`Engine.reset`; callers always pass plain face crops.

Torch-free: numpy and onnxruntime only.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from realtime import contract as C
from realtime.reference import ReferenceDifference
from realtime.timing import EngineTimings, StageTimer

__all__ = ["DEFAULT_BATCH", "DEFAULT_TAPE_CAPACITY", "HEAD_THREADS", "MODES", "PROVIDERS",
           "BatchOutput", "Engine", "EngineError", "EngineTimings", "StageTimer", "Tape",
           "WindowOutput", "cuda_problem"]

PROVIDERS = ("auto", "cuda", "cpu")
MODES = ("cached", "window")
DEFAULT_TAPE_CAPACITY = 64  # slots; a rebase every capacity - K + 1 frames
DEFAULT_BATCH = 32  # frames per backbone call and windows per head call in run_batch
HEAD_THREADS = 1  # intra-op threads of head.onnx (small operators: hand-offs cost more)
_ORT_DEFAULT_LOG_SEVERITY = 2  # onnxruntime's default (warning)


class EngineError(RuntimeError):
    """The engine cannot start: unusable provider, missing graphs or weights (message says why)."""


class _CudaStartError(EngineError):
    """onnxruntime fell back from CUDA to CPU while opening a graph (libraries missing)."""


# ------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class WindowOutput:
    """Result of one window, for its middle frame.

    probs: (Q,) class probabilities, in ``class_names`` order ("none" first).
    keyframe_scores: (K,) key-frame scores of the window's frames, oldest first.
    key_indices: (M,) positions (0..K-1, ascending) of the chosen key frames in the window.
    frames_behind: how many pushes ago the middle frame was pushed ((K - 1) // 2).
    position: 0-based count of the middle frame among the frames pushed since the last reset.
    tag: whatever was passed as ``tag`` when the middle frame was pushed (e.g. its frame index
        and media time), so callers need no bookkeeping of their own.
    """

    probs: np.ndarray
    keyframe_scores: np.ndarray
    key_indices: np.ndarray
    frames_behind: int
    position: int
    tag: Any = None

    @property
    def label(self) -> int:
        """Argmax class index."""
        return int(np.argmax(self.probs))


@dataclass(frozen=True)
class BatchOutput:
    """Results of :meth:`Engine.run_batch` for N consecutive crops: one row per full window.

    Row i belongs to the window of crops i..i+K-1, i.e. to middle crop ``i + first_middle``.
    Empty (0 rows) when N < K.
    """

    probs: np.ndarray  # (N - K + 1, Q)
    keyframe_scores: np.ndarray  # (N - K + 1, K)
    key_indices: np.ndarray  # (N - K + 1, M)
    first_middle: int  # (K - 1) // 2

    def __len__(self) -> int:
        return int(self.probs.shape[0])


# ------------------------------------------------------------------------------------- tape


class Tape:
    """Index logic of the frame buffer (shared by the CPU and CUDA paths; no storage here).

    ``capacity`` slots; frames are written to consecutive slots; the last ``window`` frames are
    the contiguous slots ``[end - window, end)``. :meth:`advance` returns the slot for the next
    frame, after a rebase when the tape is full (the caller moves or recomputes the kept frames).
    """

    def __init__(self, window: int, capacity: int = DEFAULT_TAPE_CAPACITY) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError(f"window must be an int >= 1, got {window!r}")
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < window:
            raise ValueError(f"capacity must be an int >= window ({window}), got {capacity!r}")
        self.window = window
        self.capacity = capacity
        self.end = 0  # next slot to write; slots [end - filled, end) hold the recent frames
        self.filled = 0  # consecutive frames since the last reset held, at most window
        self.pushed = 0  # frames pushed since the last reset (not capped)
        self.rebases = 0

    def reset(self) -> None:
        self.end = 0
        self.filled = 0
        self.pushed = 0

    def advance(self) -> tuple[int, tuple[int, int] | None]:
        """Claim the slot for the next frame: ``(slot, rebase)``.

        ``rebase`` is None, or ``(src, n)``: before writing, the caller must move the ``n``
        frames in slots ``[src, src + n)`` to slots ``[0, n)`` (keeping their order).
        """
        rebase = None
        if self.end == self.capacity:
            keep = min(self.filled, self.window - 1)
            rebase = (self.end - keep, keep)
            self.end = keep
            self.rebases += 1
        slot = self.end
        self.end += 1
        self.filled = min(self.filled + 1, self.window)
        self.pushed += 1
        return slot, rebase

    @property
    def ready(self) -> bool:
        """True when the last ``window`` consecutive frames are buffered."""
        return self.filled >= self.window

    @property
    def window_start(self) -> int:
        """First slot of the current window (valid when :attr:`ready`)."""
        return self.end - self.window

    def recent_slots(self) -> list[int]:
        """Slots of the buffered frames, oldest first."""
        return list(range(self.end - self.filled, self.end))


# ------------------------------------------------------------------------------------- providers


def _cuda_driver_problem() -> str | None:
    """None when the NVIDIA driver sees at least one GPU, else why not (no onnxruntime noise)."""
    names = ["nvcuda.dll"] if sys.platform == "win32" else ["libcuda.so.1", "libcuda.so"]
    lib = None
    for name in names:
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    if lib is None:
        return "no NVIDIA driver found (libcuda is not installed)"
    try:
        rc = int(lib.cuInit(0))
        if rc != 0:
            return f"the NVIDIA driver cannot initialise CUDA (cuInit error {rc}; no usable GPU)"
        count = ctypes.c_int(0)
        rc = int(lib.cuDeviceGetCount(ctypes.byref(count)))
    except (AttributeError, OSError) as exc:
        return f"the NVIDIA driver library is unusable ({exc})"
    if rc != 0 or count.value < 1:
        return "the NVIDIA driver reports no CUDA device"
    return None


def cuda_problem() -> str | None:
    """None when onnxruntime can try its CUDA provider here, else a one-line reason."""
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return (f"this onnxruntime build ({ort.__version__}, providers "
                f"{ort.get_available_providers()}) has no CUDA provider; install onnxruntime-gpu")
    return _cuda_driver_problem()


@contextlib.contextmanager
def _quiet_ort() -> Iterator[None]:
    """Silence onnxruntime's own log while a CUDA session is tried (we report the outcome)."""
    import onnxruntime as ort

    ort.set_default_logger_severity(4)
    try:
        yield
    finally:
        ort.set_default_logger_severity(_ORT_DEFAULT_LOG_SEVERITY)


def _session_options(threads: int | None) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.inter_op_num_threads = 1
    so.intra_op_num_threads = 0 if threads is None else int(threads)  # 0: physical cores
    # Capture, face tracking and the model share the CPU: idle ORT threads sleep, not spin.
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 3
    return so


# ------------------------------------------------------------------------------------- engine


class Engine:
    """Runs the exported STSNet_SW graphs on face crops, one frame at a time or in batches.

    graph_dir: folder with backbone.onnx, head.onnx, stsnet_sw.onnx and stsnet_sw.weights.
    provider: "auto" (CUDA when a GPU is usable, else CPU, saying why in ``provider_note``),
        "cuda" (error when no GPU is usable) or "cpu".
    mode: "cached" (backbone once per frame + head per window) or "window" (whole-window graph).
    threads: onnxruntime intra-op threads on CPU for the backbone and whole-window graphs
        (None: one per physical core). The head graph runs on one thread: its operators are
        too small for a thread hand-off to pay (one window: 0.81 -> 0.63 ms on 2 cores).
    capacity: slots of the frame tape (>= K; see the module docstring).
    device_id: CUDA device ordinal.
    warmup: run each graph once at start-up so the first real frame is not slow.
    backbone_file: the backbone graph to use in cached mode instead of ``backbone.onnx``: a file
        name in ``graph_dir`` or a path (e.g. ``backbone_int8.onnx`` from
        ``python -m export quantize``); it must carry the same checkpoint's contract.

    Attributes after construction: ``provider`` ("cuda" or "cpu", the one in use),
    ``provider_note`` (why, when "auto" fell back), ``contract`` (the graphs' metadata),
    ``window`` (K), ``crop_size`` (S), ``class_names``, ``input_transform`` (what the
    backbone is fed, :class:`~realtime.reference.InputTransform`), ``timings``
    (:class:`EngineTimings`).
    Not thread-safe: one engine per stream.
    """

    def __init__(self, graph_dir: str | Path, provider: str = "auto", mode: str = "cached",
                 threads: int | None = None, *, capacity: int = DEFAULT_TAPE_CAPACITY,
                 device_id: int = 0, warmup: bool = True,
                 backbone_file: str | Path | None = None) -> None:
        if provider not in PROVIDERS:
            raise ValueError(f"provider must be one of {list(PROVIDERS)}, got {provider!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                    or not 1 <= threads <= 256):
            raise ValueError(f"threads must be None or an int in [1, 256], got {threads!r}")
        if isinstance(device_id, bool) or not isinstance(device_id, int) or device_id < 0:
            raise ValueError(f"device_id must be an int >= 0, got {device_id!r}")
        self.graph_dir = Path(graph_dir)
        if backbone_file is not None and (not isinstance(backbone_file, str | Path)
                                          or not str(backbone_file).strip()):
            raise ValueError(f"backbone_file must be None or a file name or path, "
                             f"got {backbone_file!r}")
        self.backbone_path = self.graph_dir / (
            C.GRAPH_FILES["backbone"] if backbone_file is None else backbone_file)
        self.mode = mode
        self.threads = threads
        self.device_id = device_id
        self.timings = EngineTimings()
        self._check_files()

        self.provider, self.provider_note = self._choose_provider(provider)
        try:
            self._open_sessions()
        except _CudaStartError as exc:
            if provider != "auto":
                raise
            self.provider, self.provider_note = "cpu", f"CUDA not usable ({exc}); running on CPU"
            self._open_sessions()
        c = self.contract
        self.window: int = c.window
        self.key_frames: int = c.key_frames
        self.crop_size: int = c.crop_size
        self.class_names: tuple[str, ...] = c.class_names
        self.feature_shape: tuple[int, int, int] = c.feature_shape
        self.input_transform = c.transform
        self._reference = ReferenceDifference(self.input_transform)  # push()
        self._batch_reference = ReferenceDifference(self.input_transform)  # run_batch()
        self.frames_behind = (self.window - 1) // 2
        if isinstance(capacity, bool) or not isinstance(capacity, int) or not (
                self.window <= capacity <= 100_000):
            raise ValueError(f"capacity must be an int in [{self.window}, 100000], "
                             f"got {capacity!r}")
        self._tape = Tape(self.window, capacity)
        self._tags: deque[Any] = deque(maxlen=self.window)
        # run_batch: the last K - 1 crops of the previous call, the network's inputs for them
        # and (cached mode) their feature maps.
        self._batch_context: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None
        self._allocate()
        if warmup:
            self.warmup()

    # -- set-up --------------------------------------------------------------------------------
    def _check_files(self) -> None:
        d = self.graph_dir
        if not d.is_dir():
            raise EngineError(f"{d}: graph folder not found (it must hold "
                              f"{', '.join(C.GRAPH_FILES.values())} and stsnet_sw.weights; make "
                              "them with `python -m export onnx --checkpoint FILE --out DIR`)")
        kinds = ("backbone", "head") if self.mode == "cached" else ("window",)
        missing = [C.GRAPH_FILES[k] for k in kinds
                   if k != "backbone" and not (d / C.GRAPH_FILES[k]).is_file()]
        if "backbone" in kinds and not self.backbone_path.is_file():
            missing.insert(0, str(self.backbone_path.relative_to(d)
                                  if self.backbone_path.is_relative_to(d) else self.backbone_path))
        if missing:
            raise EngineError(f"{d}: missing {', '.join(missing)} (mode {self.mode!r}); export "
                              "the graphs with `python -m export onnx --checkpoint FILE --out "
                              f"{d}`")

    def _choose_provider(self, provider: str) -> tuple[str, str]:
        if provider == "cpu":
            return "cpu", "CPU requested"
        problem = cuda_problem()
        if problem is None:
            return "cuda", f"CUDA device {self.device_id}"
        if provider == "cuda":
            raise EngineError(f"provider 'cuda' requested but CUDA is not usable: {problem}")
        return "cpu", f"CUDA not usable ({problem}); running on CPU"

    def _open(self, kind: str) -> tuple[Any, C.Contract]:
        import onnxruntime as ort

        path = self.backbone_path if kind == "backbone" else self.graph_dir / C.GRAPH_FILES[kind]
        so = _session_options(HEAD_THREADS if kind == "head" else self.threads)
        if self.provider == "cpu":
            return self._open_checked(path, kind, ["CPUExecutionProvider"], so)
        with contextlib.suppress(Exception):  # CUDA/cuDNN from pip wheels, when installed
            ort.preload_dlls(directory="")
        cuda = ("CUDAExecutionProvider", {"device_id": str(self.device_id),
                                          "cudnn_conv_algo_search": "HEURISTIC",
                                          "do_copy_in_default_stream": "1"})
        with _quiet_ort():
            session, contract = self._open_checked(path, kind, [cuda, "CPUExecutionProvider"], so)
        if session.get_providers()[0] != "CUDAExecutionProvider":
            raise _CudaStartError(
                f"{path}: onnxruntime {ort.__version__} could not start its CUDA provider "
                f"(build for CUDA {getattr(ort, 'cuda_version', '?')}; are the matching CUDA "
                "and cuDNN libraries installed?)")
        return session, contract

    def _open_checked(self, path: Path, kind: str, providers: list[Any],
                      so: Any) -> tuple[Any, C.Contract]:
        try:
            return C.open_graph(path, kind, providers, so)
        except C.ContractError as exc:
            weights = self.graph_dir / "stsnet_sw.weights"
            if "not a loadable" in str(exc) and not weights.is_file():
                raise C.ContractError(f"{path}: cannot load; its weights file {weights} is "
                                      "missing (keep the .onnx files and stsnet_sw.weights "
                                      "together)") from exc
            raise

    def _open_sessions(self) -> None:
        self._backbone: Any = None
        self._head: Any = None
        if self.mode == "cached":
            b_path = self.backbone_path
            h_path = self.graph_dir / C.GRAPH_FILES["head"]
            self._backbone, bc = self._open("backbone")
            self._head, hc = self._open("head")
            C.check_pair(bc, hc, str(b_path), str(h_path))
            self.contract = hc
        else:
            self._head, self.contract = self._open("window")

    def _allocate(self) -> None:
        """Preallocate the tape, input and output buffers (nothing is allocated per frame)."""
        import onnxruntime as ort

        k, s = self.window, self.crop_size
        cap = self._tape.capacity
        q, m = len(self.class_names), self.key_frames
        self._probs = np.zeros((1, q), np.float32)
        self._scores = np.zeros((1, k), np.float32)
        self._keys = np.zeros((1, m), np.int64)
        self._frame = np.zeros((1, 1, s, s), np.float32)  # one crop, scaled to [0, 1]
        self._input = np.zeros((s, s), np.uint8)  # this frame's network input (transformed crop)
        self._crops = np.zeros((k, s, s), np.uint8)  # last K inputs (CUDA rebase), ring by pushed
        self._dev: Any = None
        if self.mode == "window":
            self._store = np.zeros((cap, 1, s, s), np.float32)  # tape of scaled crops
        elif self.provider == "cpu":
            self._store = np.zeros((cap, *self.feature_shape), np.float32)  # tape of features
        else:
            self._store = None
            self._dev = ort.OrtValue.ortvalue_from_shape_and_type(
                (cap, *self.feature_shape), np.float32, "cuda", self.device_id)
            self._dev_frame = ort.OrtValue.ortvalue_from_shape_and_type(
                (1, 1, s, s), np.float32, "cuda", self.device_id)  # one crop's upload slot
        self._slot_bytes = int(np.prod(self.feature_shape)) * 4
        self._bind_b = self._backbone.io_binding() if self._backbone is not None else None
        self._bind_h = self._head.io_binding()
        if self.provider == "cpu":
            for name, arr in ((C.PROBS, self._probs), (C.SCORES, self._scores),
                              (C.KEY_INDICES, self._keys)):
                self._bind_h.bind_output(name, "cpu", 0, arr.dtype, list(arr.shape),
                                         arr.ctypes.data)
        else:
            for name in (C.PROBS, C.SCORES, C.KEY_INDICES):
                self._bind_h.bind_output(name, "cpu")  # tiny; copied back by onnxruntime

    def warmup(self) -> None:
        """Run the graphs once through the same bound paths as :meth:`push`, so that the first
        real frame is not slow. Empties the frame buffer; timings are not recorded."""
        self.reset()
        if self.mode == "cached":
            self._backbone_into(0, self._frame, 1)
        self._run_head(0)

    # -- streaming -----------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the buffered frames (face lost, frame gap, new video): the next :meth:`push`
        or :meth:`run_batch` starts a new face track."""
        self._tape.reset()
        self._tags.clear()
        self._reference.reset()
        self._batch_reference.reset()
        self._batch_context = None

    @property
    def buffered(self) -> int:
        """Consecutive frames currently buffered (0..K)."""
        return self._tape.filled

    @property
    def rebases(self) -> int:
        return self._tape.rebases

    def _check_crop(self, crop: Any) -> np.ndarray:
        s = self.crop_size
        if not isinstance(crop, np.ndarray) or crop.shape != (s, s) or crop.dtype != np.uint8:
            got = (f"{crop.dtype} array of shape {crop.shape}" if isinstance(crop, np.ndarray)
                   else type(crop).__name__)
            raise ValueError(f"crop must be a ({s}, {s}) uint8 grayscale array, got {got}")
        return crop

    def push(self, crop: np.ndarray, tag: Any = None) -> WindowOutput | None:
        """Add the next frame's crop; return the middle frame's result once K frames are held.

        ``crop``: (S, S) uint8 grayscale face crop. ``tag``: any value (e.g. ``(frame_index,
        time_s)``) handed back in the :class:`WindowOutput` of this frame. Frames pushed after
        one another are taken as consecutive: call :meth:`reset` at any break.
        """
        crop = self._check_crop(crop)
        t0 = time.perf_counter()
        tape = self._tape
        slot, rebase = tape.advance()
        self._tags.append(tag)
        if self.mode == "window":
            if rebase is not None:
                src, n = rebase
                self._store[:n] = self._store[src:src + n]
            crop = self._reference.update(crop, out=self._input)  # the crop itself when raw
            np.multiply(crop, np.float32(1.0 / 255.0), out=self._store[slot, 0])
        else:
            if rebase is not None:
                self._rebase(*rebase)
            with self.timings.backbone.measure():
                crop = self._reference.update(crop, out=self._input)  # the crop when raw
                np.multiply(crop, np.float32(1.0 / 255.0), out=self._frame[0, 0])
                self._backbone_into(slot, self._frame, 1)
        self._crops[(tape.pushed - 1) % self.window] = crop
        out = None
        if tape.ready:
            with self.timings.head.measure():
                self._run_head(tape.window_start)
            out = WindowOutput(
                probs=self._probs[0].copy(), keyframe_scores=self._scores[0].copy(),
                key_indices=self._keys[0].copy(), frames_behind=self.frames_behind,
                position=tape.pushed - 1 - self.frames_behind,
                tag=self._tags[self.window - 1 - self.frames_behind])
        self.timings.push.add((time.perf_counter() - t0) * 1e3)
        return out

    def _rebase(self, src: int, n: int) -> None:
        if n == 0:
            return
        if self.provider == "cpu":
            self._store[:n] = self._store[src:src + n]
            return
        # CUDA: recompute the n kept frames from their crops into slots 0..n-1.
        k, pushed = self.window, self._tape.pushed  # pushed counts the frame being added
        idx = [(pushed - 1 - n + i) % k for i in range(n)]
        frames = (self._crops[idx].astype(np.float32) * np.float32(1.0 / 255.0))[:, None]
        self._backbone_into(0, np.ascontiguousarray(frames), n)

    def _backbone_into(self, slot: int, frames: np.ndarray, n: int) -> None:
        """Run the backbone on ``frames`` (n, 1, S, S) with its output written at tape ``slot``."""
        b = self._bind_b
        shape = [n, *self.feature_shape]
        if self.provider == "cpu":
            b.bind_input(C.BACKBONE_INPUT, "cpu", 0, np.float32, list(frames.shape),
                         frames.ctypes.data)
            b.bind_output(C.BACKBONE_OUTPUT, "cpu", 0, np.float32, shape,
                          self._store[slot].ctypes.data)
        else:
            if n == 1:
                self._dev_frame.update_inplace(frames)  # the crop's single upload
                b.bind_ortvalue_input(C.BACKBONE_INPUT, self._dev_frame)
            else:
                b.bind_cpu_input(C.BACKBONE_INPUT, frames)
            b.bind_output(C.BACKBONE_OUTPUT, "cuda", self.device_id, np.float32, shape,
                          self._dev.data_ptr() + slot * self._slot_bytes)
        # run_with_iobinding synchronises the device at the end of the run, so the head
        # (another session, another stream) reads finished features.
        self._backbone.run_with_iobinding(b)

    def _run_head(self, start: int) -> None:
        h = self._bind_h
        k = self.window
        if self.mode == "window":
            view = self._store[start:start + k][None]  # (1, K, 1, S, S), contiguous view
            if self.provider == "cpu":
                h.bind_input(C.WINDOW_INPUT, "cpu", 0, np.float32, list(view.shape),
                             view.ctypes.data)
            else:
                h.bind_cpu_input(C.WINDOW_INPUT, view)
        elif self.provider == "cpu":
            view = self._store[start:start + k][None]  # (1, K, C, h, w), contiguous view
            h.bind_input(C.HEAD_INPUT, "cpu", 0, np.float32, list(view.shape), view.ctypes.data)
        else:
            h.bind_input(C.HEAD_INPUT, "cuda", self.device_id, np.float32,
                         [1, k, *self.feature_shape],
                         self._dev.data_ptr() + start * self._slot_bytes)
        self._head.run_with_iobinding(h)
        if self.provider != "cpu":
            probs, scores, keys = h.copy_outputs_to_cpu()
            self._probs[:], self._scores[:], self._keys[:] = probs, scores, keys

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
        s, k = self.crop_size, self.window
        if not isinstance(crops, np.ndarray) or crops.ndim != 3 or crops.shape[1:] != (s, s) \
                or crops.dtype != np.uint8:
            got = (f"{crops.dtype} array of shape {crops.shape}" if isinstance(crops, np.ndarray)
                   else type(crops).__name__)
            raise ValueError(f"crops must be an (N, {s}, {s}) uint8 array, got {got}")
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch must be an int >= 1, got {batch!r}")
        n = crops.shape[0]
        rows = max(n - k + 1, 0)
        probs = np.zeros((rows, len(self.class_names)), np.float32)
        scores = np.zeros((rows, k), np.float32)
        keys = np.zeros((rows, self.key_frames), np.int64)
        if rows:
            start = self._batch_overlap(crops)
            if start == 0:
                self._batch_reference.reset()
            context = self._batch_context
            inputs = self._batch_reference.apply(crops[start:])  # the crops themselves when raw
            if start:
                assert context is not None
                inputs = np.concatenate([context[1], inputs])
            keep = min(k - 1, n)
            if self.mode == "cached":
                feats = np.empty((n, *self.feature_shape), np.float32)
                if start:
                    assert context is not None and context[2] is not None
                    feats[:start] = context[2]
                frames = (inputs[start:].astype(np.float32) * np.float32(1.0 / 255.0))[:, None]
                for i in range(start, n, batch):
                    j = min(i + batch, n)
                    with self.timings.backbone.measure(j - i):
                        feats[i:j] = self._backbone.run(
                            [C.BACKBONE_OUTPUT], {C.BACKBONE_INPUT: frames[i - start:j - start]})[0]
                self._batch_context = (crops[n - keep:].copy(), inputs[n - keep:].copy(),
                                       feats[n - keep:].copy())
                src, name = feats, C.HEAD_INPUT
            else:
                frames = (inputs.astype(np.float32) * np.float32(1.0 / 255.0))[:, None]
                self._batch_context = (crops[n - keep:].copy(), inputs[n - keep:].copy(), None)
                src, name = frames, C.WINDOW_INPUT
            windows = np.lib.stride_tricks.sliding_window_view(src, k, axis=0)
            windows = np.moveaxis(windows, -1, 1)  # (rows, K, ...) view
            for i in range(0, rows, batch):
                j = min(i + batch, rows)
                with self.timings.head.measure(j - i):
                    p, sc, ky = self._head.run(None, {name: np.ascontiguousarray(windows[i:j])})
                probs[i:j], scores[i:j], keys[i:j] = p, sc, ky
        return BatchOutput(probs=probs, keyframe_scores=scores, key_indices=keys,
                           first_middle=self.frames_behind)

    def _batch_overlap(self, crops: np.ndarray) -> int:
        """How many leading crops repeat the previous :meth:`run_batch` call's last K - 1
        crops (0 when they differ, or after :meth:`reset`)."""
        if self._batch_context is None:
            return 0
        prev_crops = self._batch_context[0]
        m = len(prev_crops)
        if m == 0 or len(crops) < m or not np.array_equal(crops[:m], prev_crops):
            return 0
        return m

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

