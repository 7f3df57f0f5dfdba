"""One whole benchmark run: the clip, the engine, every measurement, the ratios and targets."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from realtime.bench.clips import ClipInfo, clip_info, write_resized_clip
from realtime.bench.config import FP32_BACKBONE, BenchConfig, BenchError
from realtime.bench.measurements import (
    load_average,
    machine_info,
    measure_end_to_end,
    measure_live,
    measure_memory,
    measure_stages,
    peak_rss_mb,
)
from realtime.bench.modes import measure_modes
from realtime.bench.report import compute_ratios, evaluate_targets

DEFAULT_COMMAND = "python -m realtime bench"


def _engine_info(engine: Any, cfg: BenchConfig) -> dict[str, Any]:
    meta = engine.contract.model.get("metadata") or {}
    return {"provider": engine.provider, "note": engine.provider_note,
            "describe": engine.describe(), "threads": cfg.threads,
            "training": str(meta.get("training", "")) if isinstance(meta, dict) else ""}


def _spotter_runs(cfg: BenchConfig, clip: Path, info: ClipInfo, engine: Any,
                  say: Callable[[str], None]) -> dict[str, Any]:
    """End to end (frame by frame, batched, int8), live camera and memory: the real spotter."""
    from realtime.engine import Engine
    from realtime.spotter import Spotter

    out: dict[str, Any] = {}
    say("end to end (real source and spotter):")
    with Spotter(cfg.weights, engine=engine, threshold=cfg.threshold) as spotter:
        e2e = {"frame_by_frame": measure_end_to_end(cfg, clip, spotter, 1, say,
                                                    "frame by frame")}
        e2e["batched"] = measure_end_to_end(cfg, clip, spotter, 32, say, "batched (32)")
        if cfg.int8 is not None:
            e8 = Engine(cfg.weights, provider=cfg.provider, threads=cfg.threads,
                        backbone_file=cfg.int8.resolve())
            with Spotter(cfg.weights, engine=e8, threshold=cfg.threshold) as sp8:
                e2e["frame_by_frame_int8"] = measure_end_to_end(
                    cfg, clip, sp8, 1, say, "frame by frame, int8 backbone")
        out["end_to_end"] = e2e
        out["live"] = None
        if cfg.live_frames != 0:
            out["live"] = measure_live(cfg, clip, info.frames, spotter, say)
        out["memory"] = None
        if cfg.long_frames:
            say(f"memory ({cfg.long_frames} frames, frame by frame):")
            out["memory"] = measure_memory(cfg, clip, spotter, say)
    return out


def _measure(cfg: BenchConfig, clip: Path, say: Callable[[str], None], command: str,
             machine: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[float]]]:
    from realtime.engine import Engine

    info = clip_info(clip)
    result: dict[str, Any] = {
        "command": command, "machine": machine, "config": cfg.to_dict(),
        "source": {"path": str(cfg.source), "path_name": cfg.source.name,
                   "size": [info.width, info.height], "fps": info.fps, "frames": info.frames,
                   "resized": cfg.resize is not None},
    }
    engine = Engine(cfg.weights, provider=cfg.provider, threads=cfg.threads,
                    backbone_file=FP32_BACKBONE)  # fp32; int8 has rows of its own
    result["engine"] = _engine_info(engine, cfg)
    say(f"engine: {engine.describe()}")
    say("stages (one thread, frame by frame):")
    result["stages"], crops = measure_stages(cfg, clip, info.fps, engine, say)
    result.update(_spotter_runs(cfg, clip, info, engine, say))
    result["peak_rss_mb"] = peak_rss_mb()
    say("modes (interleaved runs):")
    result["modes"], result["mode_notes"], latencies = measure_modes(cfg, crops, say)
    result["ratios"] = compute_ratios(result["modes"])
    result["load_avg_end"] = load_average()
    result["targets"] = evaluate_targets(result)
    return result, latencies


def run_bench(cfg: BenchConfig, say: Callable[[str], None] = lambda s: None,
              command: str = DEFAULT_COMMAND
              ) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Run every measurement; returns (result dict, per-window latencies by mode)."""
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
        return _measure(cfg, clip, say, command, machine)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
