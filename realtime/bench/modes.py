"""The mode comparison: the same face crops classified by the cached engine, the whole-window
graph, the int8 backbone and the PyTorch eager reference, runs interleaved.

torch is never imported here: the eager reference lives in ``export.bench_reference`` and is
loaded by module name, only when torch is installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from realtime.bench.config import FP32_BACKBONE, INT8_FILE, BenchConfig
from realtime.bench.measurements import fresh_timer, latency_summary

_PAUSE_S = 0.2  # between modes: lets the previous mode's worker threads go idle


class ModeRunner:
    """One way of classifying windows: push(crop) -> result or None, reset(); keeps the
    latency of each window and the windows/s of each recorded run."""

    def __init__(self, name: str, push: Callable[[np.ndarray], Any], reset: Callable[[], None],
                 info: dict[str, Any], engine: Any = None) -> None:
        self.name, self.push, self.reset, self.info, self.engine = name, push, reset, info, engine
        self.latency_ms: list[float] = []
        self.windows_per_s: list[float] = []
        self.backbone_ms: list[float] = []

    def run(self, crops: np.ndarray, record: bool) -> None:
        """Push every crop once, from a fresh window; keep the numbers when ``record``."""
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
        """Median windows/s over the runs, every run's windows/s, the latency summary and
        what the mode is (``info``); plus the single-frame backbone pass where measured."""
        out = {"windows_per_s": float(np.median(self.windows_per_s)) if self.windows_per_s
               else 0.0, "windows_per_s_runs": [round(v, 2) for v in self.windows_per_s],
               "latency": latency_summary(self.latency_ms), **self.info}
        if self.engine is not None and self.engine.mode == "cached":
            out["backbone_pass"] = latency_summary(self.engine.timings.backbone.recent)
        if self.backbone_ms:
            out["backbone_pass"] = latency_summary(self.backbone_ms)
        return out


def _engine_runner(name: str, cfg: BenchConfig, **kw: Any) -> ModeRunner:
    from realtime.engine import Engine

    engine = Engine(cfg.weights, provider=cfg.provider, threads=cfg.threads, **kw)
    info = {"describe": engine.describe(), "provider": engine.provider}
    return ModeRunner(name, engine.push, engine.reset, info, engine)


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


def _runners(cfg: BenchConfig, first_crop: np.ndarray
             ) -> tuple[list[ModeRunner], dict[str, str]]:
    """The modes this run compares, and why each left-out mode is left out."""
    runners = [_engine_runner("cached", cfg, mode="cached", backbone_file=FP32_BACKBONE),
               _engine_runner("window", cfg, mode="window")]
    notes: dict[str, str] = {}
    if cfg.int8 is not None:
        runners.append(_engine_runner("cached-int8", cfg, mode="cached",
                                      backbone_file=cfg.int8.resolve()))
    else:
        notes["cached-int8"] = f"skipped: no {INT8_FILE} (make one with python -m export quantize)"
    if not cfg.eager:
        notes["eager"] = "skipped (--no-eager)"
        return runners, notes
    ref, why = load_eager_reference(cfg, runners[0].engine.provider)
    if ref is None:
        notes["eager"] = f"skipped: {why}"
        return runners, notes
    eager = ModeRunner("eager", ref.push, ref.reset, ref.describe())
    eager.backbone_ms = ref.backbone_pass_ms(first_crop)
    runners.append(eager)
    return runners, notes


def measure_modes(cfg: BenchConfig, crops: np.ndarray, say: Callable[[str], None]
                  ) -> tuple[dict[str, Any], dict[str, str], dict[str, list[float]]]:
    """Windows/s and per-window latency of each mode on the same crops, runs interleaved.

    Returns (summary per mode, why a mode was skipped, per-window latencies per mode).
    """
    runners, notes = _runners(cfg, crops[0])
    for r in runners:
        r.run(crops[:min(len(crops), max(cfg.warmup_frames, 8))], record=False)  # warm-up
        if r.engine is not None:
            fresh_timer(r.engine, "backbone", cfg.runs * len(crops) + 16)
    for i in range(cfg.runs):
        for r in runners:
            r.run(crops, record=True)
            time.sleep(_PAUSE_S)
        say(f"  modes run {i + 1}/{cfg.runs}: " + ", ".join(
            f"{r.name} {r.windows_per_s[-1]:.1f}" for r in runners if r.windows_per_s)
            + " windows/s")
    return ({r.name: r.summary() for r in runners}, notes,
            {r.name: r.latency_ms for r in runners})
