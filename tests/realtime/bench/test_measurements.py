"""realtime.bench.measurements: the latency summary's numbers and shape."""

from __future__ import annotations

import numpy as np
import pytest

from realtime.bench import measurements as M


@pytest.mark.parametrize("samples, p50, p95", [
    ([5.0], 5.0, 5.0),
    (list(range(1, 101)), 50.5, 95.05),
    ([2.0, 2.0, 2.0, 10.0], 2.0, 8.8),
])
def test_latency_summary(samples: list[float], p50: float, p95: float) -> None:
    s = M.latency_summary(samples)
    assert s["n"] == len(samples)
    assert s["p50_ms"] == pytest.approx(p50) and s["p95_ms"] == pytest.approx(p95)
    assert s["mean_ms"] == pytest.approx(np.mean(samples)) and s["max_ms"] == max(samples)


def test_latency_summary_of_nothing_and_other_units() -> None:
    assert M.latency_summary([]) == {"n": 0, "p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0,
                                     "mean_ms": 0.0, "max_ms": 0.0}
    s = M.latency_summary([4, 4, 6], "frames")
    assert s["n"] == 3 and s["p50_frames"] == 4.0 and s["max_frames"] == 6.0
