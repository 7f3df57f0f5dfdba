"""Wall-clock timing of the live pipeline: per-stage timers, the engine's timings, a rate meter.

:class:`StageTimer` keeps totals plus a bounded window of recent per-item samples (percentiles
without unbounded memory); :class:`EngineTimings` groups the engine's three stages;
:class:`RateMeter` reports frames per second over the last few ticks, in the style of
supervision's ``FPSMonitor``. The spotter, the benchmark and the page all read these.

Pure Python and numpy; no onnxruntime.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Iterator

import numpy as np

from realtime.vocab import check_int

DEFAULT_KEEP = 1024  # recent samples a StageTimer keeps for its percentiles


class StageTimer:
    """Wall-clock durations of one stage in ms: totals plus a bounded window of recent samples.

    ``keep``: how many recent per-item samples :meth:`percentile` looks at.
    """

    def __init__(self, name: str, keep: int = DEFAULT_KEEP) -> None:
        self.name = name
        self.keep = check_int("keep", keep, 1)
        self.reset()

    def reset(self) -> None:
        """Forget every sample (the name and ``keep`` stay)."""
        self.count = 0  # calls
        self.items = 0  # frames or windows processed by those calls
        self.total_ms = 0.0
        self.last_ms = 0.0
        self.recent: deque[float] = deque(maxlen=self.keep)  # per-item ms of recent calls

    def add(self, ms: float, items: int = 1) -> None:
        """Record one call that took ``ms`` milliseconds for ``items`` frames or windows."""
        self.count += 1
        self.items += items
        self.total_ms += ms
        self.last_ms = ms
        self.recent.append(ms / max(items, 1))

    @contextlib.contextmanager
    def measure(self, items: int = 1) -> Iterator[None]:
        """Time the ``with`` block as one call covering ``items`` items (recorded on exit,
        also when the block raises)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add((time.perf_counter() - t0) * 1e3, items)

    @property
    def mean_ms(self) -> float:
        """Mean per item (frame or window) over all calls."""
        return self.total_ms / self.items if self.items else 0.0

    def percentile(self, q: float) -> float:
        """Per-item percentile ``q`` (0-100) over the recent samples (0.0 when none)."""
        return float(np.percentile(np.fromiter(self.recent, float), q)) if self.recent else 0.0

    def to_dict(self) -> dict[str, float | int]:
        """Counts, mean, last, p50 and p95 in ms (the benchmark's and the page's numbers)."""
        return {"count": self.count, "items": self.items, "mean_ms": self.mean_ms,
                "last_ms": self.last_ms, "p50_ms": self.percentile(50),
                "p95_ms": self.percentile(95)}


class EngineTimings:
    """Per-stage timings of an engine (perf_counter around each onnxruntime call).

    input: per frame, the input transform of ``Engine.push`` (the contract's reference or lag
        difference; a copy-free pass-through for raw crops).
    backbone: per frame (cached mode; the crop's conversion, upload and the backbone graph).
    head: per window (cached mode: head.onnx; window mode: stsnet_sw.onnx).
    push: whole ``Engine.push`` calls, per frame.
    """

    def __init__(self) -> None:
        self.input = StageTimer("input")
        self.backbone = StageTimer("backbone")
        self.head = StageTimer("head")
        self.push = StageTimer("push")

    def _stages(self) -> tuple[StageTimer, ...]:
        return self.input, self.backbone, self.head, self.push

    def reset(self) -> None:
        """Forget every stage's samples."""
        for t in self._stages():
            t.reset()

    def to_dict(self) -> dict[str, dict[str, float | int]]:
        """``{stage name: StageTimer.to_dict()}``."""
        return {t.name: t.to_dict() for t in self._stages()}


class RateMeter:
    """Frames per second over the last ``window`` ticks (wall clock)."""

    def __init__(self, window: int = 30) -> None:
        self._stamps: deque[float] = deque(maxlen=check_int("window", window, 1))

    def tick(self) -> None:
        """Mark one frame now."""
        self._stamps.append(time.perf_counter())

    @property
    def fps(self) -> float:
        """Ticks per second over the kept window (0.0 before two ticks or with no time between)."""
        s = self._stamps
        return (len(s) - 1) / (s[-1] - s[0]) if len(s) >= 2 and s[-1] > s[0] else 0.0
