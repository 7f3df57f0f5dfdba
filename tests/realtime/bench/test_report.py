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
    good = {t["name"]: t for t in R.evaluate_targets(_result(500, 100, 13, 10, 120, 0, 19.9))}
    assert all(t["met"] for t in good.values()), good
    bad = R.evaluate_targets(_result(499, 100, 13.1, 10, 119.9, 1, 20.0, size=(320, 240)))
    assert [t["met"] for t in bad] == [False] * 6
    assert "640x480" in bad[3]["note"]
    # p95 against p95 passes while p95 against the median backbone pass does not.
    mixed = R.evaluate_targets(_result(500, 100, 12, 10, 120, 0, 0, bb_p50=8))
    assert [t["met"] for t in mixed] == [True, True, False, True, True, True]


def _full_result(live_events: int) -> dict:
    summary = {"n": 4, "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0, "mean_ms": 1.5,
               "max_ms": 3.0}
    r = _result(500, 100, 13, 10, 120, 0, 1.5)
    r["modes"]["window"] = {"windows_per_s": 200.0, "latency": summary}
    r.update(
        command="python -m realtime bench --frames 8", load_avg_end=[0.5, 0.4, 0.3],
        machine={"cpu": "Test CPU", "logical_cpus": 2, "load_avg_1_5_15": [1.0, 1.0, 1.0],
                 "onnxruntime": "1.x"},
        config={"frames": 8, "warmup_frames": 2, "runs": 1, "threshold": 0.25},
        source={"path_name": "face.mp4", "size": [640, 480], "fps": 30.0, "frames": 24},
        engine={"provider": "cpu", "note": "CPU requested", "describe": "graphs d",
                "training": "trained on X"},
        stages={"decode": summary, "face_detect_frames": {"n": 0}, "backbone": summary},
        mode_notes={"eager": "skipped (--no-eager)"}, peak_rss_mb=300.0)
    r["end_to_end"]["batched"] = {"fps": 150.0}
    r["live"].update(frames_captured=40, lag=summary, event_delay_bound_frames=7,
                     event_delay_bound_ms=233.3,
                     event_delay_frames={"n": live_events, "p50_frames": 6.0,
                                         "max_frames": 7.0},
                     event_delay_ms={"n": live_events, "p50_ms": 210.0, "p95_ms": 230.0})
    r["memory"].update(rss_warm_mb=280.0, rss_end_mb=281.5, warmup_frames=2000)
    r["targets"] = R.evaluate_targets(r)
    return r


def test_markdown_has_every_section_and_row() -> None:
    md = R.format_markdown(_full_result(live_events=2))
    lines = md.splitlines()
    assert lines[0] == "## Performance" and md.endswith("frame by frame).\n")
    for heading in ("### Per-stage latency", "### Modes", "### End to end, live source, memory",
                    "### Targets", "How it is measured:"):
        assert sum(line.startswith(heading) for line in lines) == 1, heading
    assert "Model: trained on X" in md and "expression threshold 0.25 (instead of argmax)" in md
    # Stages with samples only, in the report's order; modes in MODES order, then the notes.
    assert "| decode (OpenCV) | 1.00 | 2.00 | 3.00 | 1.50 |" in lines
    assert "frames with a detector run" not in md
    section = lines[lines.index("### Modes (same face crops, runs interleaved)"):]
    section = section[:section.index("### End to end, live source, memory")]
    mode_rows = [line.split(" | ")[0] for line in section[4:] if line]
    assert mode_rows == ["| cached (backbone per frame + head)", "| window (whole-window graph)",
                         "| PyTorch eager, whole window per step",
                         "| PyTorch eager, whole window per step"]
    assert "| window (whole-window graph) | 200.0 | 2.00 | 0.40 |" in md
    assert "| end to end, batched (recorded file) | 150.0 frames/s |" in lines
    assert "6 frames median (max 7); 210 ms median, p95 230 ms; bound 7 frames = 233 ms" in md
    assert "| RSS growth over 20000 frames | +1.50 MB (280 MB after 2000 frames -> 282 MB) |" \
        in lines
    assert sum(line.startswith("| ") and line.endswith(" yes |") for line in lines) == 7
    no_events = R.format_markdown(_full_result(live_events=0))
    assert "no segment event in the live run; by construction 7 frames (233 ms)" in no_events
