"""``python -m realtime bench --faces 1,2,4``: the several-faces path with N faces side by side.

The clip (default: the built-in demo clip) is tiled into a grid of N copies, two per row, on
one canvas whose size does not change with N (so decoding, detection and the canvas copy cost
the same); each frame goes through :meth:`MultiSpotter.process
<realtime.multiface.MultiSpotter.process>` (every face's crop in one backbone call, every full
window in one head call). Per N: frames/s and windows/s (all faces' windows per second of
wall time), per-frame latency p50/p95/p99 (the whole ``process`` call: detection, the N crop
tracks, the batched backbone and head, the N mergers), the backbone's and the head's time per
call, and the faces actually followed per frame (the detector must find the copies: a tile
whose face it misses lowers that figure, and the report shows it). The counts run interleaved,
``runs`` times, medians reported; the frames are decoded and tiled before timing.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from realtime.bench.config import BenchError
from realtime.bench.measurements import latency_summary, machine_info
from realtime.tracks import MAX_FACES_LIMIT
from realtime.vocab import check_int

DEFAULT_FACE_COUNTS = (1, 2, 4)
COLUMNS = 2


def parse_face_counts(text: str) -> tuple[int, ...]:
    """``"1,2,4"`` -> (1, 2, 4); ValueError naming ``--faces`` for anything else."""
    try:
        counts = tuple(int(part) for part in str(text).split(","))
    except ValueError:
        raise ValueError(f"--faces must be comma-separated face counts like 1,2,4, "
                         f"got {text!r}") from None
    for n in counts:
        check_int("--faces", n, 1, MAX_FACES_LIMIT)
    return tuple(sorted(set(counts)))


@dataclass(frozen=True)
class FacesBenchConfig:
    source: Path
    weights: Path
    provider: str = "auto"
    threads: int | None = None
    counts: tuple[int, ...] = DEFAULT_FACE_COUNTS
    frames: int = 300
    warmup_frames: int = 30
    runs: int = 3

    def __post_init__(self) -> None:
        check_int("frames", self.frames, 10)
        check_int("warmup_frames", self.warmup_frames, 0)
        check_int("runs", self.runs, 1, 100)


def read_clip(path: Path, count: int) -> list[np.ndarray]:
    """``count`` frames of the clip, looped when it is shorter."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    try:
        while len(frames) < count:
            ok, image = cap.read()
            if not ok:
                if not frames:
                    raise BenchError(f"cannot read frames from {path}")
                cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                continue
            frames.append(image)
    finally:
        cap.release()
    return frames


def tile(frames: list[np.ndarray], count: int, tiles: int) -> list[np.ndarray]:
    """Each frame copied ``count`` times into a grid of ``tiles`` cells (two per row), the
    other cells grey."""
    h, w = frames[0].shape[:2]
    rows = -(-tiles // COLUMNS)
    out = []
    for image in frames:
        canvas = np.full((rows * h, min(tiles, COLUMNS) * w, 3), 90, np.uint8)
        for k in range(count):
            r, c = divmod(k, COLUMNS)
            canvas[r * h:(r + 1) * h, c * w:(c + 1) * w] = image
        out.append(canvas)
    return out


def _measure(spotter: Any, frames: list[np.ndarray], warmup: int, fps: float) -> dict[str, Any]:
    """One pass: per-frame latency, windows and faces, backbone and head time per call."""
    from realtime.sources import Frame

    spotter.reset()
    t = spotter.timings
    latencies, faces, windows = [], [], 0
    for i, image in enumerate(frames):
        if i == warmup:
            b0, h0 = (t.backbone.count, t.backbone.total_ms), (t.head.count, t.head.total_ms)
            start = time.perf_counter()
        t0 = time.perf_counter()
        out = spotter.process(Frame(index=i, time_s=i / fps, image=image, fps=fps))
        if i >= warmup:
            latencies.append((time.perf_counter() - t0) * 1e3)
            faces.append(len(out.face_ids))
            windows += sum(f.output.probs is not None for f in out.faces)
    wall = time.perf_counter() - start
    calls_b, calls_h = t.backbone.count - b0[0], t.head.count - h0[0]
    return {"frames_per_s": len(latencies) / wall, "windows_per_s": windows / wall,
            "faces_per_frame": float(np.mean(faces)),
            "backbone_ms_per_call": (t.backbone.total_ms - b0[1]) / max(calls_b, 1),
            "head_ms_per_call": (t.head.total_ms - h0[1]) / max(calls_h, 1),
            "latency": latency_summary(latencies)}


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("frames_per_s", "windows_per_s", "faces_per_frame", "backbone_ms_per_call",
            "head_ms_per_call")
    out: dict[str, Any] = {k: statistics.median(r[k] for r in runs) for k in keys}
    out["latency"] = {k: statistics.median(r["latency"][k] for r in runs)
                      for k in runs[0]["latency"]}
    out["runs"] = len(runs)
    return out


def run_faces_bench(cfg: FacesBenchConfig, say: Callable[[str], None],
                    command: str) -> dict[str, Any]:
    """Every face count of ``cfg``, interleaved ``runs`` times; the medians and the machine."""
    from realtime.multiface import MultiSpotter
    from realtime.spotter import Spotter

    clip = read_clip(cfg.source, cfg.frames + cfg.warmup_frames)
    tiles = max(cfg.counts)
    grids = {n: tile(clip, n, tiles) for n in cfg.counts}
    spotter = MultiSpotter(Spotter(cfg.weights, provider=cfg.provider, threads=cfg.threads),
                           max_faces=tiles)
    fps = 30.0
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in cfg.counts}
    try:
        for r in range(cfg.runs):
            for n in cfg.counts:
                runs[n].append(_measure(spotter, grids[n], cfg.warmup_frames, fps))
                say(f"faces: run {r + 1}/{cfg.runs}, {n} face(s): "
                    f"{runs[n][-1]['windows_per_s']:.1f} windows/s")
        engine = spotter.engine.describe()
    finally:
        spotter.close()
    h, w = grids[tiles][0].shape[:2]
    return {"command": command, "machine": machine_info(), "engine": engine,
            "clip": str(cfg.source), "canvas": [w, h], "frames": cfg.frames,
            "warmup_frames": cfg.warmup_frames,
            "faces": {str(n): _median(runs[n]) for n in cfg.counts}}


def format_faces_markdown(result: dict[str, Any]) -> str:
    """The result as a Markdown table, with the command and the machine."""
    m = result["machine"]
    lines = [f"Command: `{result['command']}`", "",
             f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs, load average "
             f"{', '.join(f'{v:.1f}' for v in m['load_avg_1_5_15'])}; onnxruntime "
             f"{m['onnxruntime']}; engine {result['engine']}", "",
             f"Clip {result['clip']} tiled on a {result['canvas'][0]}x{result['canvas'][1]} "
             f"canvas, {result['frames']} timed frames per run after {result['warmup_frames']} "
             "warm-up frames, medians of the runs.", "",
             "| faces | followed per frame | frames/s | windows/s | per-frame p50 ms | p95 ms "
             "| p99 ms | backbone ms/call | head ms/call |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n, r in result["faces"].items():
        lat = r["latency"]
        lines.append(f"| {n} | {r['faces_per_frame']:.2f} | {r['frames_per_s']:.1f} | "
                     f"{r['windows_per_s']:.1f} | {lat['p50_ms']:.2f} | {lat['p95_ms']:.2f} | "
                     f"{lat['p99_ms']:.2f} | {r['backbone_ms_per_call']:.2f} | "
                     f"{r['head_ms_per_call']:.2f} |")
    return "\n".join(lines) + "\n"
