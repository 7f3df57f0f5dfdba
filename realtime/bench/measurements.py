"""The benchmark's measurements on the real pipeline: the stages one after another, the
spotter end to end, a simulated live camera, and memory over a long run.

Each returns a JSON-ready dict; :func:`latency_summary` is the one shape of a latency summary.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from realtime.bench.clips import LoopingClip, paced_live_source
from realtime.bench.config import BenchConfig, BenchError
from realtime.face import STAGE_CROP, STAGE_DETECT, STAGE_TRACK, TIMED_STAGES
from realtime.sources import Frame

RSS_EVERY = 500  # frames between RSS samples in the memory run
# Per-frame samples of the stage pass that the engine's own timers do not give.
_SAMPLED = ("face_detect_track", "face_detect", "face_track", "crop", "window_inference",
            "merge", "frame_total")


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


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages ([] where the platform has none)."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else []


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
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "load_avg_1_5_15": load_average(),
            "platform": platform.platform(), "python": platform.python_version(),
            "onnxruntime": ort.__version__, "numpy": np.__version__, "opencv": cv2.__version__}


def fresh_timer(engine: Any, name: str, keep: int) -> None:
    """Give ``engine.timings.<name>`` a new timer that keeps the last ``keep`` samples."""
    from realtime.timing import StageTimer

    setattr(engine.timings, name, StageTimer(name, keep=keep))


# ------------------------------------------------------------------------------------- stages


class _FaceClock:
    """The face cropper's ``on_timing`` hook: adds up one frame's detector runs, tracking
    attempts and box/crop step (ms)."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Start a new frame."""
        self.ms = dict.fromkeys(TIMED_STAGES, 0.0)
        self.detected = False

    def __call__(self, stage: str, ms: float) -> None:
        self.ms[stage] += ms
        self.detected = self.detected or stage == STAGE_DETECT


class _StagePass:
    """The live path's stages on one thread: :meth:`Spotter.process` on each frame of the
    looped clip (crop -> push -> merge), each stage timed; the samples of frames before
    ``warmup_frames`` are dropped."""

    def __init__(self, cfg: BenchConfig, fps: float, spotter: Any, clock: _FaceClock) -> None:
        self.cfg, self.fps, self.spotter, self.clock = cfg, fps, spotter, clock
        self.decode: list[float] = []
        self.samples: dict[str, list[float]] = {k: [] for k in _SAMPLED}
        self.crops: list[np.ndarray] = []

    def run(self, clip: Path) -> None:
        """Time every frame of ``warmup_frames + frames`` frames of the looped clip."""
        cfg, engine = self.cfg, self.spotter.engine
        self.spotter.reset()
        frames = LoopingClip(clip, cfg.warmup_frames + cfg.frames, self.decode.append)
        for i, image in enumerate(frames):
            if i == cfg.warmup_frames:
                fresh_timer(engine, "backbone", cfg.frames + 16)
                fresh_timer(engine, "head", cfg.frames + 16)
                self.decode[:] = self.decode[-1:]  # keep this frame's decode
                for v in self.samples.values():
                    v.clear()
            frame = Frame(index=i, time_s=i / self.fps, image=image, fps=self.fps)
            self._frame(frame, measured=i >= cfg.warmup_frames)

    def _frame(self, frame: Frame, measured: bool) -> None:
        clock, samples = self.clock, self.samples
        clock.clear()
        t0 = time.perf_counter()
        out = self.spotter.process(frame)
        total_ms = (time.perf_counter() - t0) * 1e3
        if not measured:
            return
        face_ms = clock.ms[STAGE_DETECT] + clock.ms[STAGE_TRACK]
        samples["face_detect_track"].append(face_ms)
        samples["face_detect" if clock.detected else "face_track"].append(face_ms)
        samples["crop"].append(clock.ms[STAGE_CROP])
        if out.face is None or out.face.crop is None:
            return  # a break: no push, no whole-frame sample
        self.crops.append(out.face.crop)
        if out.probs is not None:  # this push completed a window: it was merged
            samples["window_inference"].append(out.engine_ms - out.merge_ms)
            samples["merge"].append(out.merge_ms)
        samples["frame_total"].append(total_ms + (self.decode[-1] if self.decode else 0.0))

    def summaries(self) -> dict[str, Any]:
        """Latency summary of each stage (backbone and head from the engine's timers)."""
        s, t = self.samples, self.spotter.engine.timings
        return {
            "decode": latency_summary(self.decode),
            "face_detect_track": latency_summary(s["face_detect_track"]),
            "face_detect_frames": latency_summary(s["face_detect"]),
            "face_track_frames": latency_summary(s["face_track"]),
            "crop": latency_summary(s["crop"]),
            "input_transform": latency_summary(t.input.recent),
            "backbone": latency_summary(t.backbone.recent),
            "head": latency_summary(t.head.recent),
            "merge": latency_summary(s["merge"]),
            "window_inference": latency_summary(s["window_inference"]),
            "frame_total": latency_summary(s["frame_total"]),
        }


def measure_stages(cfg: BenchConfig, clip: Path, fps: float, engine: Any,
                   say: Callable[[str], None]) -> tuple[dict[str, Any], np.ndarray]:
    """Stage pass: the live path's stages one after another on this thread, each timed.

    Returns (stage summaries, the face crops of the measured frames).
    """
    from realtime.spotter import Spotter

    clock = _FaceClock()
    with Spotter(cfg.weights, engine=engine, threshold=cfg.threshold,
                 on_face_timing=clock) as spotter:
        stage_pass = _StagePass(cfg, fps, spotter, clock)
        stage_pass.run(clip)
    if not stage_pass.crops:
        raise BenchError(f"no face found in {cfg.frames} frames of {clip}: the benchmark needs "
                         "a clip with a face (the demo clip has one)")
    stages = stage_pass.summaries()
    say(f"  stages: decode {stages['decode']['p50_ms']:.2f}, face "
        f"{stages['face_detect_track']['p50_ms']:.2f}, crop {stages['crop']['p50_ms']:.2f}, "
        f"backbone {stages['backbone']['p50_ms']:.2f}, head {stages['head']['p50_ms']:.2f}, "
        f"merge {stages['merge']['p50_ms']:.3f} ms (p50)")
    return stages, np.stack(stage_pass.crops)


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


class _LiveWatch:
    """What a consumer of the simulated live camera sees: lag per frame, index gaps and the
    delay of each completed segment event after the capture of its last frame."""

    def __init__(self, captured: Any) -> None:
        self.captured = captured
        self.lag: list[float] = []
        self.delay_frames: list[int] = []
        self.delay_ms: list[float] = []
        self.last, self.gaps, self.frames, self.events = -1, 0, 0, 0

    def on_frame(self, frame: Any, output: Any) -> None:
        t_cap = self.captured.get(frame.index)
        if t_cap is not None:
            self.lag.append((time.perf_counter() - t_cap) * 1e3)
        if self.last >= 0 and frame.index != self.last + 1:
            self.gaps += 1
        self.last = frame.index
        self.frames += 1

    def on_event(self, event: Any) -> None:
        self.events += 1
        if event.kind != "segment" or event.cut_short or event.offset_frame is None:
            return
        now = time.perf_counter()
        self.delay_frames.append(self.last - event.offset_frame)
        t_cap = self.captured.get(event.offset_frame)
        if t_cap is not None:
            self.delay_ms.append((now - t_cap) * 1e3)


def measure_live(cfg: BenchConfig, clip: Path, clip_frames: int, spotter: Any,
                 say: Callable[[str], None]) -> dict[str, Any]:
    """A paced live-like source through the spotter frame by frame: drops, lag, event delay."""
    n = cfg.live_frames if cfg.live_frames is not None else max(clip_frames, 30)
    source, captured = paced_live_source(LoopingClip(clip, n), cfg.live_fps)
    spotter.reset()
    watch = _LiveWatch(captured)
    t0 = time.perf_counter()
    with source:
        for event in spotter.run(source, on_frame=watch.on_frame):
            watch.on_event(event)
        dropped = source.dropped_frames
        read = source.frames_read
    elapsed = time.perf_counter() - t0
    bound = (spotter.engine.window - 1) // 2 + spotter.postprocess.merge_gap_frames + 1
    res = {
        "source_fps": cfg.live_fps, "frames_captured": read, "frames_processed": watch.frames,
        "dropped_frames": dropped, "index_gaps": watch.gaps, "elapsed_s": elapsed,
        "lag": latency_summary(watch.lag),
        "events": watch.events, "segment_events_timed": len(watch.delay_frames),
        "event_delay_frames": latency_summary(watch.delay_frames, "frames"),
        "event_delay_ms": latency_summary(watch.delay_ms),
        "event_delay_bound_frames": bound,
        "event_delay_bound_ms": bound * 1e3 / cfg.live_fps,
    }
    say(f"  live {cfg.live_fps:g} fps: {read} captured, {dropped} dropped, lag p95 "
        f"{res['lag']['p95_ms']:.1f} ms, {len(watch.delay_frames)} segment events timed")
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
        if i % RSS_EVERY == 0 or i == warm_at:
            samples.append((i, rss_mb()))
            if i and i % (10 * RSS_EVERY) == 0:
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
