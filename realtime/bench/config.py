"""What one benchmark run measures: its settings, defaults and speed targets."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from realtime.cli.options import PROVIDERS
from realtime.vocab import check_choice, check_int, check_number, check_threads, is_int

MODES = ("cached", "window", "cached-int8", "eager")
INT8_FILE = "backbone_int8.onnx"
FP32_BACKBONE = "backbone.onnx"  # named explicitly: a folder's int8 backbone is the CPU default
DEFAULT_FRAMES = 300
DEFAULT_RUNS = 3
DEFAULT_WARMUP = 30
DEFAULT_LONG_FRAMES = 20_000
DEFAULT_LIVE_FPS = 30.0

# Targets (ratios measured in one run; see docs/bench/bench.md).
TARGET_CACHED_VS_EAGER = 5.0  # cached windows/s >= 5x the eager per-window reference (issue 14)
TARGET_WINDOW_VS_BACKBONE = 1.3  # per-window p95 (cached) <= 1.3x one backbone frame pass
TARGET_E2E_FPS = 120.0  # end to end on a 640x480 clip (issue 14: live path >= 120 frames/s)
TARGET_DROPPED = 0  # frames dropped by a 30 fps live source
TARGET_GROWTH_MB = 20.0  # RSS growth over the long run


class BenchError(RuntimeError):
    """The benchmark cannot run (no clip, no face in it, bad settings); the message says why."""


@dataclass(frozen=True)
class BenchConfig:
    """Settings of one benchmark run (see :func:`realtime.bench.cli.add_arguments` for their
    meaning)."""

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
        check_choice("provider", self.provider, PROVIDERS)
        check_int("frames", self.frames, 8, 1_000_000)
        check_int("runs", self.runs, 1, 100)
        check_int("warmup_frames", self.warmup_frames, 0, 10_000)
        check_int("long_frames", self.long_frames, 0, 10_000_000, note="(0: no memory run)")
        check_int("live_frames", self.live_frames, 0, 1_000_000, optional=True,
                  note="(0: no live run)")
        check_number("live_fps", self.live_fps, 1, 1000, what="a frame rate")
        check_threads(self.threads)
        check_number("threshold", self.threshold, 0, 1, optional=True, what="a probability")
        if self.resize is not None and not (len(self.resize) == 2 and all(
                is_int(v) and 16 <= v <= 8192 for v in self.resize)):
            raise ValueError(f"resize must be None or (width, height) in [16, 8192] px, "
                             f"got {self.resize!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (paths as strings, the size as a list) for the report."""
        d = asdict(self)
        for k in ("source", "weights", "checkpoint", "int8"):
            d[k] = None if d[k] is None else str(d[k])
        d["resize"] = None if self.resize is None else list(self.resize)
        return d


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
