"""Finding, opening and checking the graphs of one mode on one provider.

Which provider runs (``auto`` falls back from CUDA to CPU and says why), the session options,
and the refusals a user sees for a missing folder, missing files, a missing weights file and
graphs that do not belong together. :func:`open_graphs` returns the opened :class:`Graphs`;
the storage backends (:mod:`realtime.engine.stores`) run them.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from realtime import contract as C

PROVIDERS = ("auto", "cuda", "cpu")
MODES = ("cached", "window")
HEAD_THREADS = 1  # intra-op threads of head.onnx (small operators: hand-offs cost more)
_ORT_DEFAULT_LOG_SEVERITY = 2  # onnxruntime's default (warning)
_MODE_GRAPHS = {"cached": ("backbone", "head"), "window": ("window",)}  # graph kinds per mode


class EngineError(RuntimeError):
    """The engine cannot start: unusable provider, missing graphs or weights (message says why)."""


class CudaStartError(EngineError):
    """onnxruntime fell back from CUDA to CPU while opening a graph (libraries missing)."""


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


def choose_provider(provider: str, device_id: int) -> tuple[str, str]:
    """The provider to try first for a request (``auto``, ``cuda``, ``cpu``) and why."""
    if provider == "cpu":
        return "cpu", "CPU requested"
    problem = cuda_problem()
    if problem is None:
        return "cuda", f"CUDA device {device_id}"
    if provider == "cuda":
        raise EngineError(f"provider 'cuda' requested but CUDA is not usable: {problem}")
    return "cpu", f"CUDA not usable ({problem}); running on CPU"


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


# ------------------------------------------------------------------------------------- graphs


@dataclass(frozen=True)
class GraphFiles:
    """Where one mode's graphs are: the folder, the backbone file (maybe a quantized one)."""

    graph_dir: Path
    backbone_path: Path
    mode: str
    cpu_backbone_path: Path | None = None  # used instead of backbone_path when on CPU

    def on(self, provider: str) -> GraphFiles:
        """The files for ``provider``: the CPU backbone (e.g. int8) replaces the default one."""
        if provider == "cpu" and self.cpu_backbone_path is not None:
            return GraphFiles(self.graph_dir, self.cpu_backbone_path, self.mode)
        return GraphFiles(self.graph_dir, self.backbone_path, self.mode)

    def path(self, kind: str) -> Path:
        """The file of graph ``kind`` ("backbone", "head" or "window")."""
        return self.backbone_path if kind == "backbone" else self.graph_dir / C.GRAPH_FILES[kind]

    def check(self) -> None:
        """Refuse a missing folder or missing graphs of this mode, saying how to make them."""
        d = self.graph_dir
        if not d.is_dir():
            raise EngineError(f"{d}: graph folder not found (it must hold "
                              f"{', '.join(C.GRAPH_FILES.values())} and stsnet_sw.weights; make "
                              "them with `python -m export onnx --checkpoint FILE --out DIR`)")
        kinds = _MODE_GRAPHS[self.mode]
        missing = [C.GRAPH_FILES[k] for k in kinds
                   if k != "backbone" and not (d / C.GRAPH_FILES[k]).is_file()]
        if "backbone" in kinds and not self.backbone_path.is_file():
            missing.insert(0, str(self.backbone_path.relative_to(d)
                                  if self.backbone_path.is_relative_to(d) else self.backbone_path))
        if missing:
            raise EngineError(f"{d}: missing {', '.join(missing)} (mode {self.mode!r}); export "
                              "the graphs with `python -m export onnx --checkpoint FILE --out "
                              f"{d}`")


@dataclass(frozen=True)
class Graphs:
    """One mode's opened onnxruntime sessions on the provider in use, with their contract.

    sessions: graph kind -> session (``backbone`` and ``head`` in cached mode, ``window`` in
        window mode). ``contract``: the head's (cached) or the whole-window graph's contract.
    """

    sessions: dict[str, Any]
    contract: C.Contract
    provider: str  # "cuda" or "cpu": the one in use
    provider_note: str  # why this provider (e.g. why "auto" fell back)
    device_id: int
    backbone_path: Path | None = None  # the backbone file opened (cached mode)

    @property
    def backbone(self) -> Any:
        """The per-frame backbone session (cached mode)."""
        return self.sessions["backbone"]

    @property
    def head(self) -> Any:
        """The per-window session: head.onnx (cached mode) or stsnet_sw.onnx (window mode)."""
        return self.sessions.get("head", self.sessions.get("window"))


def _open_checked(files: GraphFiles, kind: str, providers: list[Any],
                  so: Any) -> tuple[Any, C.Contract]:
    path = files.path(kind)
    try:
        return C.open_graph(path, kind, providers, so)
    except C.ContractError as exc:
        weights = files.graph_dir / "stsnet_sw.weights"
        if "not a loadable" in str(exc) and not weights.is_file():
            raise C.ContractError(f"{path}: cannot load; its weights file {weights} is "
                                  "missing (keep the .onnx files and stsnet_sw.weights "
                                  "together)") from exc
        raise


def _open(files: GraphFiles, kind: str, provider: str, threads: int | None,
          device_id: int) -> tuple[Any, C.Contract]:
    """Open one graph on ``provider``; CudaStartError when onnxruntime falls back to CPU."""
    import onnxruntime as ort

    so = _session_options(HEAD_THREADS if kind == "head" else threads)
    if provider == "cpu":
        return _open_checked(files, kind, ["CPUExecutionProvider"], so)
    with contextlib.suppress(Exception):  # CUDA/cuDNN from pip wheels, when installed
        ort.preload_dlls(directory="")
    cuda = ("CUDAExecutionProvider", {"device_id": str(device_id),
                                      "cudnn_conv_algo_search": "HEURISTIC",
                                      "do_copy_in_default_stream": "1"})
    with _quiet_ort():
        session, contract = _open_checked(files, kind, [cuda, "CPUExecutionProvider"], so)
    if session.get_providers()[0] != "CUDAExecutionProvider":
        raise CudaStartError(
            f"{files.path(kind)}: onnxruntime {ort.__version__} could not start its CUDA "
            f"provider (build for CUDA {getattr(ort, 'cuda_version', '?')}; are the matching "
            "CUDA and cuDNN libraries installed?)")
    return session, contract


def _open_mode(files: GraphFiles, provider: str, threads: int | None,
               device_id: int) -> tuple[dict[str, Any], C.Contract]:
    """Open the mode's graphs; in cached mode check that backbone and head are one pair."""
    opened = {kind: _open(files, kind, provider, threads, device_id)
              for kind in _MODE_GRAPHS[files.mode]}
    if files.mode == "cached":
        (_, bc), (_, hc) = opened["backbone"], opened["head"]
        C.check_pair(bc, hc, str(files.path("backbone")), str(files.path("head")))
    *_, (_, contract) = opened.values()  # cached: the head's; window: the window graph's
    return {kind: session for kind, (session, _) in opened.items()}, contract


def open_graphs(files: GraphFiles, provider: str, threads: int | None,
                device_id: int) -> Graphs:
    """Check the files, choose the provider and open the mode's graphs on it.

    ``provider="auto"`` falls back to CPU when CUDA is not usable or onnxruntime cannot start
    it; ``"cuda"`` raises :class:`EngineError` instead.
    """
    files.check()
    chosen, note = choose_provider(provider, device_id)
    try:
        sessions, contract = _open_mode(files.on(chosen), chosen, threads, device_id)
    except CudaStartError as exc:
        if provider != "auto":
            raise
        chosen, note = "cpu", f"CUDA not usable ({exc}); running on CPU"
        sessions, contract = _open_mode(files.on(chosen), chosen, threads, device_id)
    return Graphs(sessions=sessions, contract=contract, provider=chosen, provider_note=note,
                  device_id=device_id, backbone_path=files.on(chosen).backbone_path)
