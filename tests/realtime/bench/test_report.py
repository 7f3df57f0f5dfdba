"""realtime.bench.report: the speed targets met and missed, the ratios."""

from __future__ import annotations

from realtime.bench import report as R


def _result(cached_wps: float, eager_wps: float, lat_p95: float, bb_p95: float, fps: float,
            dropped: int, growth: float, size: tuple[int, int] = (640, 480),
            bb_p50: float | None = None) -> dict:
    lat = {"n": 10, "p50_ms": lat_p95 / 2, "p95_ms": lat_p95, "p99_ms": lat_p95}
    bb = {"n": 10, "p50_ms": bb_p95 if bb_p50 is None else bb_p50, "p95_ms": bb_p95,
          "p99_ms": bb_p95}
    modes = {"cached": {"windows_per_s": cached_wps, "latency": lat, "backbone_pass": bb},
             "eager": {"windows_per_s": eager_wps, "latency": lat}}
    return {"modes": modes, "ratios": R.compute_ratios(modes), "source": {"size": list(size)},
            "end_to_end": {"frame_by_frame": {"fps": fps}},
            "live": {"source_fps": 30.0, "dropped_frames": dropped},
            "memory": {"frames": 20000, "growth_mb": growth}}


def test_targets_met_and_missed() -> None:
    good = {t["name"]: t for t in R.evaluate_targets(_result(400, 100, 13, 10, 100, 0, 19.9))}
    assert all(t["met"] for t in good.values()), good
    bad = R.evaluate_targets(_result(399, 100, 13.1, 10, 99.9, 1, 20.0, size=(320, 240)))
    assert [t["met"] for t in bad] == [False] * 6
    assert "640x480" in bad[3]["note"]
    # p95 against p95 passes while p95 against the median backbone pass does not.
    mixed = R.evaluate_targets(_result(400, 100, 12, 10, 100, 0, 0, bb_p50=8))
    assert [t["met"] for t in mixed] == [True, True, False, True, True, True]
