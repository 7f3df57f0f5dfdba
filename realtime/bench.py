"""``python -m realtime bench``: where the live spotter's time goes, and how fast it is.

One run measures, on one clip (default: the built-in demo clip; ``--resize 640x480`` first
writes a resized copy so decoding costs what a 640x480 stream costs):

1. **Stages** of the live path, called one after another on one thread, each timed per frame
   after a warm-up: decode, face detect / track, crop (box smoothing, cut, resize), backbone
   (one frame), head (one window), merge; and the per-window inference (backbone of the new
   frame + head, i.e. one :meth:`Engine.push`). p50 / p95 / p99 in ms.
2. **Modes** on the same face crops, several interleaved runs each: ``cached`` (backbone once per
   frame, head per window), ``window`` (whole-window graph per step), ``cached-int8`` (int8
   backbone, when ``backbone_int8.onnx`` is there) and ``eager`` (the PyTorch model run on the
   whole window every step, the authors' way; only when torch is installed, loaded by module
   name from ``export.bench_reference``: this package never imports torch). Windows/s (median
   of the runs) and per-window latency, with the ratios side by side.
3. **End to end**: the real :class:`~realtime.spotter.Spotter` on a real source (capture thread,
   bounded queue) as fast as it goes, frame by frame (the live path) and in batches (the path
   for recorded files). Frames/s, median of the runs.
4. **Live**: a simulated 30 fps camera (a paced source with live semantics: drop-oldest queue)
   through the spotter frame by frame: dropped frames, capture-to-result lag, and the event
   delay (frames and ms from the capture of a segment's last frame to its event).
5. **Memory**: peak RSS, and RSS growth over a long frame-by-frame run (default 20,000 frames,
   the clip looped): RSS at the end minus RSS after the warm-up.

Writes a Markdown table (``--md``), the full numbers as JSON (``--json``) and a latency
histogram (``--png``), and checks the speed targets (ratios measured in the same run).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import math
import os
import platform
import resource
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

EXIT_OK = 0
EXIT_ERROR = 2
MODES = ("cached", "window", "cached-int8", "eager")
INT8_FILE = "backbone_int8.onnx"
DEFAULT_FRAMES = 300
DEFAULT_RUNS = 3
DEFAULT_WARMUP = 30
DEFAULT_LONG_FRAMES = 20_000
DEFAULT_LIVE_FPS = 30.0
_RSS_EVERY = 500  # frames between RSS samples in the memory run

# Targets (ratios measured in one run; see docs/bench/bench.md).
TARGET_CACHED_VS_EAGER = 4.0  # cached windows/s >= 4x the eager per-window reference
TARGET_WINDOW_VS_BACKBONE = 1.3  # per-window p95 (cached) <= 1.3x one backbone frame pass
TARGET_E2E_FPS = 100.0  # end to end on a 640x480 clip
TARGET_DROPPED = 0  # frames dropped by a 30 fps live source
TARGET_GROWTH_MB = 20.0  # RSS growth over the long run


class BenchError(RuntimeError):
    """The benchmark cannot run (no clip, no face in it, bad settings); the message says why."""


# ------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class BenchConfig:
    """Settings of one benchmark run (see :func:`add_arguments` for their meaning)."""

    source: Path
    weights: Path
    provider: str = "auto"
    frames: int = DEFAULT_FRAMES
    runs: int = DEFAULT_RUNS
    warmup_frames: int = DEFAULT_WARMUP
    resize: tuple[int, int] | None = None
    threads: int | None = None
    long_frames: int = DEFAULT_LONG_FRAMES
    live_frames: int | None = None  # None: one pass over the clip
    live_fps: float = DEFAULT_LIVE_FPS
    eager: bool = True
    checkpoint: Path | None = None
    int8: Path | None = None  # int8 backbone graph; None: none
    threshold: float | None = None  # the spotter's expression threshold (None: argmax)

    def __post_init__(self) -> None:
        def need(name: str, ok: bool, valid: str) -> None:
            if not ok:
                raise ValueError(f"{name} must be {valid}, got {getattr(self, name)!r}")

        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        need("provider", self.provider in ("auto", "cuda", "cpu"), "auto, cuda or cpu")
        need("frames", is_int(self.frames) and 8 <= self.frames <= 1_000_000,
             "an int in [8, 1000000]")
        need("runs", is_int(self.runs) and 1 <= self.runs <= 100, "an int in [1, 100]")
        need("warmup_frames", is_int(self.warmup_frames) and 0 <= self.warmup_frames <= 10_000,
             "an int in [0, 10000]")
        need("long_frames", is_int(self.long_frames) and 0 <= self.long_frames <= 10_000_000,
             "an int in [0, 10000000] (0: no memory run)")
        need("live_frames", self.live_frames is None or (
            is_int(self.live_frames) and 0 <= self.live_frames <= 1_000_000),
             "None or an int in [0, 1000000] (0: no live run)")
        need("live_fps", isinstance(self.live_fps, int | float) and 1.0 <= self.live_fps <= 1000,
             "a frame rate in [1, 1000]")
        need("threads", self.threads is None or (is_int(self.threads)
                                                 and 1 <= self.threads <= 256),
             "None or an int in [1, 256]")
        need("threshold", self.threshold is None or (
            isinstance(self.threshold, int | float) and 0.0 <= self.threshold <= 1.0),
             "None or a probability in [0, 1]")
        need("resize", self.resize is None or (
            len(self.resize) == 2 and all(is_int(v) and 16 <= v <= 8192 for v in self.resize)),
             "None or (width, height) in [16, 8192] px")


def parse_size(text: str) -> tuple[int, int]:
    """``"640x480"`` -> ``(640, 480)``; ValueError naming the option otherwise."""
    parts = text.lower().replace("*", "x").split("x")
    try:
        w, h = (int(p) for p in parts)
    except ValueError:
        raise ValueError(f"--resize must look like 640x480, got {text!r}") from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise ValueError(f"--resize sides must be in [16, 8192] px, got {text!r}")
    return w, h


# ------------------------------------------------------------------------------------- numbers


def latency_summary(samples: Any, unit: str = "ms") -> dict[str, float | int]:
    """n and p50 / p95 / p99 / mean / max of a list of values in ``unit`` (keys ``p50_<unit>``
    etc.; zeros and n=0 when empty)."""
    a = np.asarray(list(samples), dtype=np.float64)
    stats = ("p50", "p95", "p99", "mean", "max")
    if a.size == 0:
        return {"n": 0, **{f"{k}_{unit}": 0.0 for k in stats}}
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    values = (p50, p95, p99, a.mean(), a.max())
    return {"n": int(a.size), **{f"{k}_{unit}": float(v) for k, v in zip(stats, values)}}


def rss_mb() -> float:
    """Resident set size of this process now, in MB (Linux /proc; else the peak)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6


def machine_info() -> dict[str, Any]:
    """CPU model, core count, load average and library versions (for the report)."""
    import cv2
    import onnxruntime as ort

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = list(os.getloadavg()) if hasattr(os, "getloadavg") else []
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "load_avg_1_5_15": load,
            "platform": platform.platform(), "python": platform.python_version(),
            "onnxruntime": ort.__version__, "numpy": np.__version__, "opencv": cv2.__version__}


# ------------------------------------------------------------------------------------- clip


def _clip_info(path: Path) -> tuple[int, int, float, int]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise BenchError(f"cannot open clip {path} (not a video OpenCV can decode)")
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        ok, _ = cap.read()
        if not ok:
            raise BenchError(f"clip {path} has no frames")
    finally:
        cap.release()
    return w, h, (fps if math.isfinite(fps) and 0 < fps < 1000 else 30.0), n


def write_resized_clip(src: Path, dst: Path, size: tuple[int, int]) -> Path:
    """Re-encode ``src`` at ``size`` (w, h) into ``dst`` (mp4v), frame for frame."""
    import cv2

    _, _, fps, _ = _clip_info(src)
    cap = cv2.VideoCapture(str(src))
    writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        cap.release()
        raise BenchError(f"cannot write the resized clip {dst} (no mp4v encoder)")
    try:
        while True:
            ok, image = cap.read()
            if not ok:
                break
            writer.write(cv2.resize(image, size, interpolation=cv2.INTER_LINEAR))
    finally:
        cap.release()
        writer.release()
    return dst


class LoopingClip:
    """Decoded frames of a clip, looped until ``total`` frames were given (BGR uint8).

    ``decode_ms`` (when given) receives the wall time of each frame's decode. Iterate it
    directly, or hand it to :func:`realtime.sources.open_source` as an iterable source.
    """

    def __init__(self, path: Path, total: int,
                 decode_ms: Callable[[float], None] | None = None) -> None:
        self.path = path
        self.total = total
        self._decode_ms = decode_ms

    def __iter__(self) -> Iterator[np.ndarray]:
        import cv2

        given = 0
        cap = cv2.VideoCapture(str(self.path))
        try:
            while given < self.total:
                t0 = time.perf_counter()
                ok, image = cap.read()
                if not ok:  # end of the clip: start again (reopening is not a per-frame cost)
                    cap.release()
                    cap = cv2.VideoCapture(str(self.path))
                    t0 = time.perf_counter()
                    ok, image = cap.read()
                    if not ok:
                        raise BenchError(f"clip {self.path} stopped decoding")
                if self._decode_ms is not None:
                    self._decode_ms((time.perf_counter() - t0) * 1e3)
                given += 1
                yield image
        finally:
            cap.release()


def _paced_live_source(clip: LoopingClip, fps: float, queue_size: int = 4) -> tuple[Any, Any]:
    """A simulated live camera: the clip's frames delivered at ``fps`` in wall time, with the
    live policy (drop the oldest queued frame when the consumer falls behind).

    Returns (source, capture_times): ``capture_times[index]`` is the perf_counter time at which
    frame ``index`` was captured (a bounded dict-like ring).
    """
    from realtime import sources as S

    times = _Ring(4096)

    class _PacedLiveReader(S._Reader):
        description = f"simulated {fps:g} fps live camera ({clip.path.name})"
        is_live = True

        def __init__(self) -> None:
            self.fps = fps
            self._it: Iterator[np.ndarray] | None = None
            self._next_t = 0.0
            self._count = 0

        def open(self) -> None:
            self._it = iter(clip)
            self._next_t = time.perf_counter()

        def read(self, stop: threading.Event) -> tuple[np.ndarray, float | None] | None:
            assert self._it is not None
            image = next(self._it, None)
            if image is None:
                return None
            delay = self._next_t - time.perf_counter()
            if delay > 0 and stop.wait(delay):
                return None
            self._next_t = max(self._next_t + 1.0 / fps, time.perf_counter() - 1.0 / fps)
            times[self._count] = time.perf_counter()
            self._count += 1
            return image, None

    source = S.Source(_PacedLiveReader(), realtime=False, queue_size=queue_size, timeout_s=5.0)
    source._start()
    return source, times


class _Ring:
    """index -> value for the last ``size`` indices (bounded memory in long runs)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._keys = np.full(size, -1, np.int64)
        self._vals = np.zeros(size, np.float64)

    def __setitem__(self, key: int, value: float) -> None:
        self._keys[key % self._size], self._vals[key % self._size] = key, value

    def get(self, key: int) -> float | None:
        i = key % self._size
        return float(self._vals[i]) if self._keys[i] == key else None


# ------------------------------------------------------------------------------------- stages


def _timed_cropper(config: Any) -> Any:
    """A FaceCropper that adds up the time of its detector runs, tracking and box/crop step."""
    from realtime.face import FaceCropper

    class TimedCropper(FaceCropper):
        def __init__(self, cfg: Any) -> None:
            super().__init__(cfg)
            self.detect_ms = self.track_ms = self.crop_ms = 0.0
            self.detected = False

        def clear(self) -> None:
            self.detect_ms = self.track_ms = self.crop_ms = 0.0
            self.detected = False

        def _detect(self, image: np.ndarray) -> Any:
            t0 = time.perf_counter()
            try:
                return super()._detect(image)
            finally:
                self.detect_ms += (time.perf_counter() - t0) * 1e3
                self.detected = True

        def _track(self, image: np.ndarray) -> Any:
            t0 = time.perf_counter()
            try:
                return super()._track(image)
            finally:
                self.track_ms += (time.perf_counter() - t0) * 1e3

        def _emit(self, image: np.ndarray, face: Any, tracked: bool) -> Any:
            t0 = time.perf_counter()
            try:
                return super()._emit(image, face, tracked)
            finally:
                self.crop_ms += (time.perf_counter() - t0) * 1e3

    return TimedCropper(config)


def _fresh_timer(engine: Any, name: str, keep: int) -> None:
    from realtime.engine import StageTimer

    setattr(engine.timings, name, StageTimer(name, keep=keep))


def measure_stages(cfg: BenchConfig, clip: Path, fps: float, engine: Any,
                   say: Callable[[str], None]) -> tuple[dict[str, Any], np.ndarray]:
    """Stage pass: the live path's stages one after another on this thread, each timed.

    Returns (stage summaries, the face crops of the measured frames).
    """
    from realtime.face import FaceCropConfig
    from realtime.merger import OnlineMerger

    n_total = cfg.warmup_frames + cfg.frames
    decode: list[float] = []
    clip_frames = LoopingClip(clip, n_total, decode.append)
    cropper = _timed_cropper(FaceCropConfig(crop_size=engine.crop_size))
    merger = OnlineMerger(engine.class_names, fps)
    samples: dict[str, list[float]] = {k: [] for k in (
        "face_detect_track", "face_detect", "face_track", "crop", "window_inference", "merge",
        "frame_total")}
    crops: list[np.ndarray] = []
    engine.reset()
    try:
        for i, image in enumerate(clip_frames):
            if i == cfg.warmup_frames:
                _fresh_timer(engine, "backbone", cfg.frames + 16)
                _fresh_timer(engine, "head", cfg.frames + 16)
                decode[:] = decode[-1:]  # keep this frame's decode
                for v in samples.values():
                    v.clear()
            t_frame = time.perf_counter()
            cropper.clear()
            face = cropper.process(image)
            measured = i >= cfg.warmup_frames
            if measured:
                samples["face_detect_track"].append(cropper.detect_ms + cropper.track_ms)
                (samples["face_detect"] if cropper.detected else samples["face_track"]).append(
                    cropper.detect_ms + cropper.track_ms)
                samples["crop"].append(cropper.crop_ms)
            if face.crop is None:
                engine.reset()
                merger.flush(cut_short=True)
                continue
            if measured:
                crops.append(face.crop)
            t0 = time.perf_counter()
            out = engine.push(face.crop, tag=(i, i / fps))
            t1 = time.perf_counter()
            if out is not None:
                idx, t_s = out.tag
                merger.update(idx, t_s, out.probs)
                t2 = time.perf_counter()
                if measured:
                    samples["window_inference"].append((t1 - t0) * 1e3)
                    samples["merge"].append((t2 - t1) * 1e3)
            if measured:
                samples["frame_total"].append((time.perf_counter() - t_frame) * 1e3
                                              + (decode[-1] if decode else 0.0))
    finally:
        cropper.close()
    if not crops:
        raise BenchError(f"no face found in {cfg.frames} frames of {clip}: the benchmark needs "
                         "a clip with a face (the demo clip has one)")
    t = engine.timings
    stages = {
        "decode": latency_summary(decode),
        "face_detect_track": latency_summary(samples["face_detect_track"]),
        "face_detect_frames": latency_summary(samples["face_detect"]),
        "face_track_frames": latency_summary(samples["face_track"]),
        "crop": latency_summary(samples["crop"]),
        "backbone": latency_summary(t.backbone.recent),
        "head": latency_summary(t.head.recent),
        "merge": latency_summary(samples["merge"]),
        "window_inference": latency_summary(samples["window_inference"]),
        "frame_total": latency_summary(samples["frame_total"]),
    }
    say(f"  stages: decode {stages['decode']['p50_ms']:.2f}, face "
        f"{stages['face_detect_track']['p50_ms']:.2f}, crop {stages['crop']['p50_ms']:.2f}, "
        f"backbone {stages['backbone']['p50_ms']:.2f}, head {stages['head']['p50_ms']:.2f}, "
        f"merge {stages['merge']['p50_ms']:.3f} ms (p50)")
    return stages, np.stack(crops)


# ------------------------------------------------------------------------------------- modes


class _ModeRunner:
    """One way of classifying windows: push(crop) -> result or None, reset()."""

    def __init__(self, name: str, push: Callable[[np.ndarray], Any], reset: Callable[[], None],
                 info: dict[str, Any], engine: Any = None) -> None:
        self.name, self.push, self.reset, self.info, self.engine = name, push, reset, info, engine
        self.latency_ms: list[float] = []
        self.windows_per_s: list[float] = []
        self.backbone_ms: list[float] = []

    def run(self, crops: np.ndarray, record: bool) -> None:
        self.reset()
        lat: list[float] = []
        windows = 0
        t_start = time.perf_counter()
        for crop in crops:
            t0 = time.perf_counter()
            out = self.push(crop)
            dt = (time.perf_counter() - t0) * 1e3
            if out is not None:
                windows += 1
                lat.append(dt)
        elapsed = time.perf_counter() - t_start
        if record and windows:
            self.latency_ms += lat
            self.windows_per_s.append(windows / elapsed)

    def summary(self) -> dict[str, Any]:
        return {"windows_per_s": float(np.median(self.windows_per_s)) if self.windows_per_s
                else 0.0, "windows_per_s_runs": [round(v, 2) for v in self.windows_per_s],
                "latency": latency_summary(self.latency_ms), **self.info}


def _engine_runner(name: str, cfg: BenchConfig, **kw: Any) -> _ModeRunner:
    from realtime.engine import Engine

    engine = Engine(cfg.weights, provider=cfg.provider, threads=cfg.threads, **kw)
    info = {"describe": engine.describe(), "provider": engine.provider}
    return _ModeRunner(name, engine.push, engine.reset, info, engine)


def load_eager_reference(cfg: BenchConfig, provider: str) -> tuple[Any, str]:
    """The PyTorch eager reference, or (None, why not). torch is imported only here, by the
    module ``export.bench_reference``, and only when it is installed."""
    if importlib.util.find_spec("torch") is None:
        return None, "torch is not installed"
    try:
        if importlib.util.find_spec("export.bench_reference") is None:
            return None, "export.bench_reference is not importable (run from the repository)"
        mod = importlib.import_module("export.bench_reference")
    except ImportError as exc:
        return None, f"export.bench_reference cannot be imported ({exc})"
    device = "cpu"
    if provider == "cuda":
        torch = sys.modules["torch"]
        device = "cuda" if torch.cuda.is_available() else "cpu"
    ref = mod.EagerReference(cfg.weights, checkpoint=cfg.checkpoint, threads=cfg.threads,
                             device=device)
    return ref, ""


def measure_modes(cfg: BenchConfig, crops: np.ndarray, say: Callable[[str], None]
                  ) -> tuple[dict[str, Any], dict[str, str], dict[str, list[float]]]:
    """Windows/s and per-window latency of each mode on the same crops, runs interleaved.

    Returns (summary per mode, why a mode was skipped, per-window latencies per mode).
    """
    runners = [_engine_runner("cached", cfg, mode="cached"),
               _engine_runner("window", cfg, mode="window")]
    notes: dict[str, str] = {}
    if cfg.int8 is not None:
        runners.append(_engine_runner("cached-int8", cfg, mode="cached",
                                      backbone_file=cfg.int8.resolve()))
    else:
        notes["cached-int8"] = f"skipped: no {INT8_FILE} (make one with python -m export quantize)"
    if cfg.eager:
        ref, why = load_eager_reference(cfg, runners[0].engine.provider)
        if ref is not None:
            runners.append(_ModeRunner("eager", ref.push, ref.reset, ref.describe()))
            runners[-1].backbone_ms = ref.backbone_pass_ms(crops[0])
        else:
            notes["eager"] = f"skipped: {why}"
    else:
        notes["eager"] = "skipped (--no-eager)"
    for r in runners:
        r.run(crops[:min(len(crops), max(cfg.warmup_frames, 8))], record=False)  # warm-up
        if r.engine is not None:
            _fresh_timer(r.engine, "backbone", cfg.runs * len(crops) + 16)
    for i in range(cfg.runs):
        for r in runners:
            r.run(crops, record=True)
            time.sleep(0.2)  # let the previous mode's worker threads go idle
        say(f"  modes run {i + 1}/{cfg.runs}: " + ", ".join(
            f"{r.name} {r.windows_per_s[-1]:.1f}" for r in runners if r.windows_per_s)
            + " windows/s")
    out: dict[str, Any] = {}
    for r in runners:
        s = r.summary()
        if r.engine is not None and r.engine.mode == "cached":
            s["backbone_pass"] = latency_summary(r.engine.timings.backbone.recent)
        if r.backbone_ms:
            s["backbone_pass"] = latency_summary(r.backbone_ms)
        out[r.name] = s
    return out, notes, {r.name: r.latency_ms for r in runners}


# ------------------------------------------------------------------------------------- e2e


def _count_frames(frames: Any, on_frame: Callable[[int], None]) -> Iterator[Any]:
    for i, frame in enumerate(frames):
        on_frame(i)
        yield frame


def measure_end_to_end(cfg: BenchConfig, clip: Path, spotter: Any, batch_frames: int,
                       say: Callable[[str], None], label: str) -> dict[str, Any]:
    """Frames/s of the real spotter on a real (iterable) source, median of ``cfg.runs`` runs;
    the first ``cfg.warmup_frames`` frames of each run are not timed."""
    from realtime.sources import open_source

    n_total = cfg.warmup_frames + cfg.frames
    fps_runs = []
    for _ in range(cfg.runs):
        spotter.reset()
        marks: dict[int, float] = {}
        with open_source(LoopingClip(clip, n_total), fps=30.0) as source:
            frames = _count_frames(source, lambda i, m=marks: m.setdefault(
                i, time.perf_counter()) if i == cfg.warmup_frames else None)
            for _ in spotter.run(frames, batch_frames=batch_frames):
                pass
        t_end = time.perf_counter()
        fps_runs.append(cfg.frames / (t_end - marks[cfg.warmup_frames]))
    res = {"fps": float(np.median(fps_runs)), "fps_runs": [round(v, 1) for v in fps_runs],
           "batch_frames": batch_frames, "frames": cfg.frames}
    say(f"  end to end, {label}: {res['fps']:.1f} frames/s (runs {res['fps_runs']})")
    return res


def measure_live(cfg: BenchConfig, clip: Path, clip_frames: int, spotter: Any,
                 say: Callable[[str], None]) -> dict[str, Any]:
    """A paced live-like source through the spotter frame by frame: drops, lag, event delay."""
    n = cfg.live_frames if cfg.live_frames is not None else max(clip_frames, 30)
    source, captured = _paced_live_source(LoopingClip(clip, n), cfg.live_fps)
    spotter.reset()
    lag: list[float] = []
    delay_frames: list[int] = []
    delay_ms: list[float] = []
    state = {"last": -1, "gaps": 0, "frames": 0}

    def on_frame(frame: Any, output: Any) -> None:
        now = time.perf_counter()
        t_cap = captured.get(frame.index)
        if t_cap is not None:
            lag.append((now - t_cap) * 1e3)
        if state["last"] >= 0 and frame.index != state["last"] + 1:
            state["gaps"] += 1
        state["last"] = frame.index
        state["frames"] += 1

    events = 0
    t0 = time.perf_counter()
    with source:
        for event in spotter.run(source, on_frame=on_frame):
            events += 1
            if event.kind != "segment" or event.cut_short or event.offset_frame is None:
                continue
            now = time.perf_counter()
            delay_frames.append(state["last"] - event.offset_frame)
            t_cap = captured.get(event.offset_frame)
            if t_cap is not None:
                delay_ms.append((now - t_cap) * 1e3)
        dropped = source.dropped_frames
        read = source.frames_read
    elapsed = time.perf_counter() - t0
    k = spotter.engine.window
    gap = spotter.postprocess.merge_gap_frames
    res = {
        "source_fps": cfg.live_fps, "frames_captured": read, "frames_processed": state["frames"],
        "dropped_frames": dropped, "index_gaps": state["gaps"], "elapsed_s": elapsed,
        "lag": latency_summary(lag),
        "events": events, "segment_events_timed": len(delay_frames),
        "event_delay_frames": latency_summary(delay_frames, "frames"),
        "event_delay_ms": latency_summary(delay_ms),
        "event_delay_bound_frames": (k - 1) // 2 + gap + 1,
        "event_delay_bound_ms": ((k - 1) // 2 + gap + 1) * 1e3 / cfg.live_fps,
    }
    say(f"  live {cfg.live_fps:g} fps: {read} captured, {dropped} dropped, lag p95 "
        f"{res['lag']['p95_ms']:.1f} ms, {len(delay_frames)} segment events timed")
    return res


def measure_memory(cfg: BenchConfig, clip: Path, spotter: Any,
                   say: Callable[[str], None]) -> dict[str, Any]:
    """RSS over a long frame-by-frame run of the looped clip; growth after the warm-up."""
    from realtime.sources import open_source

    n = cfg.long_frames
    warm_at = min(max(1000, n // 10), max(n // 2, 1))
    samples: list[tuple[int, float]] = [(0, rss_mb())]
    spotter.reset()

    def sample(i: int) -> None:
        if i % _RSS_EVERY == 0 or i == warm_at:
            samples.append((i, rss_mb()))
            if i and i % (10 * _RSS_EVERY) == 0:
                say(f"    {i}/{n} frames, RSS {samples[-1][1]:.1f} MB, "
                    f"{i / (time.perf_counter() - t0):.1f} frames/s")

    t0 = time.perf_counter()
    with open_source(LoopingClip(clip, n), fps=30.0) as source:
        for _ in spotter.run(_count_frames(source, sample), batch_frames=1):
            pass
    samples.append((n, rss_mb()))
    warm = next(mb for i, mb in samples if i >= warm_at)
    end = samples[-1][1]
    res = {"frames": n, "warmup_frames": warm_at, "rss_warm_mb": warm, "rss_end_mb": end,
           "growth_mb": end - warm, "elapsed_s": time.perf_counter() - t0,
           "rss_samples": [(i, round(mb, 2)) for i, mb in samples]}
    say(f"  memory: {n} frames, RSS {warm:.1f} MB after warm-up -> {end:.1f} MB "
        f"(growth {end - warm:+.2f} MB)")
    return res


# ------------------------------------------------------------------------------------- report


def _target(name: str, measured: float | None, op: str, limit: float, unit: str,
            note: str = "") -> dict[str, Any]:
    met = None if measured is None else (measured >= limit if op == ">=" else
                                         measured <= limit if op == "<=" else
                                         measured < limit)
    return {"name": name, "measured": measured, "op": op, "target": limit, "unit": unit,
            "met": met, "note": note}


def evaluate_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    modes = result.get("modes", {})
    ratios = result.get("ratios", {})
    e2e = result.get("end_to_end", {})
    live = result.get("live")
    mem = result.get("memory")
    size = result["source"]["size"]
    targets = [
        _target("cached windows/s vs PyTorch eager per-window", ratios.get("cached_vs_eager"),
                ">=", TARGET_CACHED_VS_EAGER, "x",
                "" if "eager" in modes else "eager reference not run"),
        _target("per-window inference p95 (cached) vs one backbone pass p95",
                ratios.get("window_p95_vs_backbone_p95"), "<=", TARGET_WINDOW_VS_BACKBONE, "x"),
        _target("per-window inference p95 (cached) vs one backbone pass p50 (strict reading)",
                ratios.get("window_p95_vs_backbone_p50"), "<=", TARGET_WINDOW_VS_BACKBONE, "x",
                "the backbone's own p95/p50 jitter counts against it"),
    ]
    fbf = e2e.get("frame_by_frame", {}).get("fps")
    note = f"clip {size[0]}x{size[1]}" + ("" if tuple(size) == (640, 480) else
                                          " (target is for 640x480: use --resize 640x480)")
    targets.append(_target("end to end, frame by frame (live path)", fbf, ">=", TARGET_E2E_FPS,
                           "frames/s", note))
    if "frame_by_frame_int8" in e2e:
        targets.append(_target("end to end, frame by frame, int8 backbone",
                               e2e["frame_by_frame_int8"]["fps"], ">=", TARGET_E2E_FPS,
                               "frames/s", note))
    if "batched" in e2e:
        targets.append(_target("end to end, batched (recorded file)", e2e["batched"]["fps"],
                               ">=", TARGET_E2E_FPS, "frames/s", note))
    targets.append(_target(f"dropped frames, {live['source_fps']:g} fps live source"
                           if live else "dropped frames, live source",
                           None if live is None else live["dropped_frames"], "<=",
                           TARGET_DROPPED, "frames", "" if live else "live run skipped"))
    targets.append(_target(f"RSS growth over {mem['frames']} frames" if mem else "RSS growth",
                           None if mem is None else mem["growth_mb"], "<", TARGET_GROWTH_MB,
                           "MB", "" if mem else "memory run skipped"))
    return targets


def compute_ratios(modes: dict[str, Any]) -> dict[str, float]:
    r: dict[str, float] = {}

    def wps(name: str) -> float:
        return float(modes.get(name, {}).get("windows_per_s", 0.0))

    if wps("cached") > 0:
        for other in ("window", "eager"):
            if wps(other) > 0:
                r[f"cached_vs_{other}"] = wps("cached") / wps(other)
        if wps("cached-int8") > 0:
            r["int8_vs_cached"] = wps("cached-int8") / wps("cached")
            if wps("eager") > 0:
                r["int8_vs_eager"] = wps("cached-int8") / wps("eager")
    for name, key in (("cached", ""), ("cached-int8", "int8_")):
        m = modes.get(name)
        if m and m.get("backbone_pass", {}).get("n"):
            bb, lat = m["backbone_pass"], m["latency"]
            r[f"{key}window_p95_vs_backbone_p95"] = lat["p95_ms"] / bb["p95_ms"]
            r[f"{key}window_p50_vs_backbone_p50"] = lat["p50_ms"] / bb["p50_ms"]
            r[f"{key}window_p95_vs_backbone_p50"] = lat["p95_ms"] / bb["p50_ms"]
    return r


def _fmt(v: float | None, digits: int = 2) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def format_markdown(result: dict[str, Any]) -> str:
    """README-ready Markdown: machine, stage table, modes, end to end, live, memory, targets."""
    m, c, src = result["machine"], result["config"], result["source"]
    load0, load1 = m.get("load_avg_1_5_15") or [], result.get("load_avg_end") or []
    lines = [
        "## Performance", "",
        f"Command: `{result['command']}`  ",
        f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs; load average (1 min) "
        f"{_fmt(load0[0] if load0 else None)} at start, "
        f"{_fmt(load1[0] if load1 else None)} at the end; onnxruntime {m['onnxruntime']}, "
        f"provider {result['engine']['provider']} ({result['engine']['note']}).  ",
        f"Clip: {src['path_name']} {src['size'][0]}x{src['size'][1]} at {src['fps']:g} fps "
        f"({src['frames']} frames, looped); {c['frames']} measured frames per run after "
        f"{c['warmup_frames']} warm-up frames, {c['runs']} runs (medians).  ",
        f"Graphs: {result['engine']['describe']}" + (
            f"  \nModel: {result['engine']['training']}" if result["engine"].get("training")
            else "") + (
            "" if c.get("threshold") is None else
            f"  \nSpotter: expression threshold {c['threshold']:g} (instead of argmax)"), "",
        "### Per-stage latency (live path, one frame at a time)", "",
        "| stage | p50 ms | p95 ms | p99 ms | mean ms |", "|---|---:|---:|---:|---:|",
    ]
    names = {"decode": "decode (OpenCV)", "face_detect_track": "face detect/track (per frame)",
             "face_detect_frames": "  frames with a detector run",
             "face_track_frames": "  frames tracked only", "crop": "crop (box + cut + resize)",
             "backbone": "backbone (1 frame)", "head": "head (1 window)",
             "merge": "merge (online merger)",
             "window_inference": "**per-window inference** (backbone + head)",
             "frame_total": "**whole frame** (sum of stages)"}
    for key, label in names.items():
        s = result["stages"].get(key)
        if s and s["n"]:
            lines.append(f"| {label} | {s['p50_ms']:.2f} | {s['p95_ms']:.2f} | "
                         f"{s['p99_ms']:.2f} | {s['mean_ms']:.2f} |")
    lines += ["", "### Modes (same face crops, runs interleaved)", "",
              "| mode | windows/s | x eager | x cached | per-window p50 ms | p95 ms | p99 ms |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    modes = result["modes"]
    eager_wps = modes.get("eager", {}).get("windows_per_s")
    cached_wps = modes.get("cached", {}).get("windows_per_s")
    labels = {"cached": "cached (backbone per frame + head)",
              "window": "window (whole-window graph)",
              "cached-int8": "cached, int8 backbone",
              "eager": "PyTorch eager, whole window per step"}
    for name in MODES:
        s = modes.get(name)
        if not s:
            continue
        lat = s["latency"]
        vs_eager = f"{s['windows_per_s'] / eager_wps:.2f}" if eager_wps else "n/a"
        vs_cached = f"{s['windows_per_s'] / cached_wps:.2f}" if cached_wps else "n/a"
        lines.append(f"| {labels[name]} | {s['windows_per_s']:.1f} | {vs_eager} | {vs_cached} | "
                     f"{lat['p50_ms']:.2f} | {lat['p95_ms']:.2f} | {lat['p99_ms']:.2f} |")
    for name, note in result.get("mode_notes", {}).items():
        lines.append(f"| {labels.get(name, name)} | {note} | | | | | |")
    lines += ["", "### End to end, live source, memory", "", "| measure | value |",
              "|---|---|"]
    e2e = result["end_to_end"]
    for key, label in (("frame_by_frame", "end to end, frame by frame (live path)"),
                       ("frame_by_frame_int8", "end to end, frame by frame, int8 backbone"),
                       ("batched", "end to end, batched (recorded file)")):
        if key in e2e:
            lines.append(f"| {label} | {e2e[key]['fps']:.1f} frames/s |")
    live = result.get("live")
    if live:
        lines.append(f"| {live['source_fps']:g} fps live source | {live['frames_captured']} "
                     f"captured, {live['dropped_frames']} dropped; capture-to-result lag p50 "
                     f"{live['lag']['p50_ms']:.1f} ms, p95 {live['lag']['p95_ms']:.1f} ms |")
        d, dm = live["event_delay_frames"], live["event_delay_ms"]
        if d["n"]:
            lines.append(f"| event delay (segment end -> event) | {d['p50_frames']:.0f} "
                         f"frames median (max {d['max_frames']:.0f}); {dm['p50_ms']:.0f} ms "
                         f"median, p95 "
                         f"{dm['p95_ms']:.0f} ms; bound {live['event_delay_bound_frames']} "
                         f"frames = {live['event_delay_bound_ms']:.0f} ms + processing |")
        else:
            lines.append(f"| event delay (segment end -> event) | no segment event in the live "
                         f"run; by construction {live['event_delay_bound_frames']} frames "
                         f"({live['event_delay_bound_ms']:.0f} ms) + processing |")
    mem = result.get("memory")
    lines.append(f"| peak RSS (before torch is loaded) | {result['peak_rss_mb']:.0f} MB |")
    if mem:
        lines.append(f"| RSS growth over {mem['frames']} frames | {mem['growth_mb']:+.2f} MB "
                     f"({mem['rss_warm_mb']:.0f} MB after {mem['warmup_frames']} frames -> "
                     f"{mem['rss_end_mb']:.0f} MB) |")
    lines += ["", "### Targets (ratios measured in this run)", "",
              "| target | measured | required | met |", "|---|---:|---:|:---:|"]
    for t in result["targets"]:
        meas = "n/a" if t["measured"] is None else f"{t['measured']:.2f} {t['unit']}"
        met = "n/a" if t["met"] is None else ("yes" if t["met"] else "**no**")
        note = f" ({t['note']})" if t["note"] else ""
        lines.append(f"| {t['name']}{note} | {meas} | {t['op']} {t['target']:g} {t['unit']} | "
                     f"{met} |")
    lines += ["", "How it is measured:", "",
              "- *Per-window inference*: one `Engine.push` that completes a window: the backbone "
              "on the new frame plus the head on the last K feature maps (cached mode).",
              "- *Modes* run on the same face crops, one frame at a time, runs interleaved. "
              "*PyTorch eager* is the authors' way: the whole K-frame window through the model at "
              "every step (fp32, `torch.inference_mode`, same thread count).",
              "- *End to end*: the real `Spotter` on a real source (decoding on its capture "
              "thread, bounded queue), as fast as it goes; *frame by frame* is the live path, "
              "*batched* the path for recorded files (32-frame batches).",
              "- *Live source*: the clip delivered at the camera's frame rate in wall time with "
              "the live policy (queue of 4, oldest frame dropped when the spotter falls "
              "behind). Event delay: from the capture of a segment's last frame to its event.",
              "- *RSS growth*: resident memory after the long run minus after its warm-up "
              "(the clip looped, frame by frame)."]
    return "\n".join(lines) + "\n"


def write_histogram(result: dict[str, Any], latencies: dict[str, list[float]],
                    path: Path) -> None:
    """Per-window latency histograms of the modes (log time axis) + per-stage p50/p95 bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [3, 2]})
    colors = {"cached": "tab:blue", "cached-int8": "tab:green", "window": "tab:orange",
              "eager": "tab:red"}
    data = {k: np.asarray(v) for k, v in latencies.items() if len(v)}
    if data:
        lo = max(min(float(v.min()) for v in data.values()) * 0.8, 1e-3)
        hi = max(float(v.max()) for v in data.values()) * 1.2
        bins = np.geomspace(lo, max(hi, lo * 1.01), 60)
        for name, v in data.items():
            ax.hist(v, bins=bins, alpha=0.55, color=colors.get(name), label=(
                f"{name}: p50 {np.percentile(v, 50):.1f} / p95 {np.percentile(v, 95):.1f} ms"))
        bb = result["modes"].get("cached", {}).get("backbone_pass")
        if bb and bb["n"]:
            ax.axvline(bb["p50_ms"], color="k", ls="--", lw=1,
                       label=f"one backbone pass p50 {bb['p50_ms']:.1f} ms")
        ax.set_xscale("log")
        ticks = [t for t in (0.5, 1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500, 1000, 2000)
                 if bins[0] <= t <= bins[-1]]
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.legend(fontsize=7)
    ax.set_xlabel("per-window inference latency (ms, log scale)")
    ax.set_ylabel("windows")
    ax.set_title("Per-window latency by mode")
    stages = [(k, result["stages"][k]) for k in ("decode", "face_detect_track", "crop",
                                                 "backbone", "head", "merge")
              if result["stages"].get(k, {}).get("n")]
    y = np.arange(len(stages))
    bx.barh(y - 0.2, [s["p50_ms"] for _, s in stages], height=0.4, label="p50")
    bx.barh(y + 0.2, [s["p95_ms"] for _, s in stages], height=0.4, label="p95")
    bx.set_yticks(y, [k.replace("_", " ") for k, _ in stages])
    bx.invert_yaxis()
    bx.set_xlabel("ms per frame (head: per window)")
    bx.set_title("Per-stage latency")
    bx.legend(fontsize=7)
    src = result["source"]
    fig.suptitle(f"{result['machine']['cpu']}, {result['engine']['provider']}; "
                 f"clip {src['size'][0]}x{src['size'][1]}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# ------------------------------------------------------------------------------------- driver


def run_bench(cfg: BenchConfig, say: Callable[[str], None] = lambda s: None,
              command: str = "python -m realtime bench") -> tuple[dict[str, Any],
                                                                  dict[str, list[float]]]:
    """Run every measurement; returns (result dict, per-window latencies by mode)."""
    from realtime.engine import Engine
    from realtime.spotter import Spotter

    machine = machine_info()
    if not cfg.source.is_file():
        raise BenchError(f"clip {cfg.source} not found")
    tmp = None
    clip = cfg.source
    try:
        if cfg.resize is not None:
            tmp = Path(tempfile.mkdtemp(prefix="stsnet_bench_"))
            clip = write_resized_clip(cfg.source, tmp / f"{cfg.source.stem}_"
                                      f"{cfg.resize[0]}x{cfg.resize[1]}.mp4", cfg.resize)
            say(f"resized clip: {clip}")
        w, h, fps, n_clip = _clip_info(clip)
        result: dict[str, Any] = {
            "command": command, "machine": machine, "config": _config_dict(cfg),
            "source": {"path": str(cfg.source), "path_name": cfg.source.name, "size": [w, h],
                       "fps": fps, "frames": n_clip, "resized": cfg.resize is not None},
        }
        engine = Engine(cfg.weights, provider=cfg.provider, threads=cfg.threads)
        meta = engine.contract.model.get("metadata") or {}
        result["engine"] = {"provider": engine.provider, "note": engine.provider_note,
                            "describe": engine.describe(), "threads": cfg.threads,
                            "training": str(meta.get("training", "")) if isinstance(meta, dict)
                            else ""}
        say(f"engine: {engine.describe()}")
        say("stages (one thread, frame by frame):")
        result["stages"], crops = measure_stages(cfg, clip, fps, engine, say)

        say("end to end (real source and spotter):")
        spotter = Spotter(cfg.weights, engine=engine, threshold=cfg.threshold)
        try:
            e2e = {"frame_by_frame": measure_end_to_end(cfg, clip, spotter, 1, say,
                                                        "frame by frame")}
            e2e["batched"] = measure_end_to_end(cfg, clip, spotter, 32, say, "batched (32)")
            if cfg.int8 is not None:
                e8 = Engine(cfg.weights, provider=cfg.provider, threads=cfg.threads,
                            backbone_file=cfg.int8.resolve())
                with Spotter(cfg.weights, engine=e8, threshold=cfg.threshold) as sp8:
                    e2e["frame_by_frame_int8"] = measure_end_to_end(
                        cfg, clip, sp8, 1, say, "frame by frame, int8 backbone")
            result["end_to_end"] = e2e
            result["live"] = None
            if cfg.live_frames != 0:
                result["live"] = measure_live(cfg, clip, n_clip, spotter, say)
            result["memory"] = None
            if cfg.long_frames:
                say(f"memory ({cfg.long_frames} frames, frame by frame):")
                result["memory"] = measure_memory(cfg, clip, spotter, say)
        finally:
            spotter.close()
        result["peak_rss_mb"] = peak_rss_mb()
        say("modes (interleaved runs):")
        result["modes"], result["mode_notes"], latencies = measure_modes(cfg, crops, say)
        result["ratios"] = compute_ratios(result["modes"])
        result["load_avg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else []
        result["targets"] = evaluate_targets(result)
        return result, latencies
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _config_dict(cfg: BenchConfig) -> dict[str, Any]:
    d = asdict(cfg)
    for k in ("source", "weights", "checkpoint", "int8"):
        d[k] = None if d[k] is None else str(d[k])
    d["resize"] = None if cfg.resize is None else list(cfg.resize)
    return d


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from realtime.spotter import DEFAULT_WEIGHTS

    parser.add_argument("--source", type=Path, default=None, metavar="CLIP",
                        help="video file with one face (default: the built-in demo clip)")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, metavar="DIR",
                        help=f"folder of the exported ONNX graphs (default: {DEFAULT_WEIGHTS})")
    parser.add_argument("--provider", choices=("auto", "cuda", "cpu"), default="auto",
                        help="ONNX Runtime device (cuda: error when CUDA is not usable)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="CPU threads for ONNX Runtime and torch (default: physical cores)")
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES, metavar="N",
                        help=f"measured frames per run (default {DEFAULT_FRAMES})")
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, metavar="R",
                        help=f"runs per measurement, medians reported (default {DEFAULT_RUNS})")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, metavar="N",
                        help=f"untimed frames at the start of each run (default {DEFAULT_WARMUP})")
    parser.add_argument("--resize", default=None, metavar="WxH",
                        help="re-encode the clip at this size first (e.g. 640x480)")
    parser.add_argument("--long-frames", type=int, default=DEFAULT_LONG_FRAMES, metavar="N",
                        help=f"frames of the memory-growth run (default {DEFAULT_LONG_FRAMES}; "
                             "0: skip)")
    parser.add_argument("--live-frames", type=int, default=None, metavar="N",
                        help="frames of the simulated live camera run (default: one pass over "
                             "the clip; 0: skip)")
    parser.add_argument("--live-fps", type=float, default=DEFAULT_LIVE_FPS, metavar="FPS",
                        help=f"frame rate of the simulated live camera (default "
                             f"{DEFAULT_LIVE_FPS:g})")
    parser.add_argument("--int8", default="auto", metavar="FILE|auto|none",
                        help=f"int8 backbone to compare (auto: WEIGHTS/{INT8_FILE} when present)")
    parser.add_argument("--checkpoint", type=Path, default=None, metavar="FILE.pt",
                        help="checkpoint for the PyTorch eager reference (default: a matching "
                             ".pt next to the graphs, else random weights; speed is the same)")
    parser.add_argument("--threshold", type=float, default=None, metavar="P",
                        help="the spotter's expression probability threshold (default: argmax); "
                             "e.g. to make a random-weight model fire so that event delays can "
                             "be measured (speed is unaffected)")
    parser.add_argument("--no-eager", action="store_true",
                        help="skip the PyTorch eager per-window reference")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="write all numbers as JSON")
    parser.add_argument("--md", type=Path, default=None, metavar="FILE",
                        help="write the Markdown tables")
    parser.add_argument("--png", type=Path, default=None, metavar="FILE",
                        help="write the latency histogram")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """Turn parsed arguments into a validated :class:`BenchConfig` (ValueError naming the
    option when a setting is bad; DemoMissingError when there is no clip)."""
    from realtime.demo import demo_clip

    source = args.source if args.source is not None else demo_clip().video
    int8: Path | None = None
    choice = str(args.int8)
    if choice == "auto":
        cand = Path(args.weights) / INT8_FILE
        int8 = cand if cand.is_file() else None
    elif choice != "none":
        int8 = Path(choice)
        if not int8.is_absolute() and not int8.is_file():
            int8 = Path(args.weights) / int8
        if not int8.is_file():
            raise ValueError(f"--int8: {choice} not found (in {args.weights} or as a path)")
    options = {"frames": "--frames", "runs": "--runs", "warmup_frames": "--warmup",
               "long_frames": "--long-frames", "live_frames": "--live-frames",
               "live_fps": "--live-fps", "threads": "--threads", "threshold": "--threshold"}
    try:
        return BenchConfig(
            source=Path(source), weights=Path(args.weights), provider=args.provider,
            frames=args.frames, runs=args.runs, warmup_frames=args.warmup,
            resize=parse_size(args.resize) if args.resize else None, threads=args.threads,
            long_frames=args.long_frames, live_frames=args.live_frames, live_fps=args.live_fps,
            eager=not args.no_eager, checkpoint=args.checkpoint, int8=int8,
            threshold=args.threshold)
    except ValueError as exc:
        msg = str(exc)
        for field, opt in options.items():
            if msg.startswith(field + " "):
                msg = opt + msg[len(field):]
        raise ValueError(msg) from None


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import cv2

    from realtime.contract import ContractError
    from realtime.demo import DemoMissingError
    from realtime.engine import EngineError
    from realtime.sources import SourceError

    cv2.setLogLevel(0)

    def say(text: str) -> None:
        if not args.quiet:
            print(text, file=sys.stderr, flush=True)

    command = "python -m realtime bench " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 \
        and sys.argv[1] == "bench" else "python -m realtime bench"
    try:
        cfg = config_from_args(args)
        result, latencies = run_bench(cfg, say, command.strip())
    except (BenchError, EngineError, ContractError, SourceError, DemoMissingError,
            ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    md = format_markdown(result)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if args.md is not None:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text(md)
    if args.png is not None:
        args.png.parent.mkdir(parents=True, exist_ok=True)
        write_histogram(result, latencies, args.png)
    print(md)
    return EXIT_OK
