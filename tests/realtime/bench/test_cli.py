"""``python -m realtime bench``: a tiny end-to-end run writes the Markdown, JSON and PNG with the
promised keys; bad settings exit 2 naming the option; a CUDA request runs on a GPU or says why
not.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from realtime.__main__ import main
from realtime.engine import cuda_problem

STAGES = ("decode", "face_detect_track", "crop", "backbone", "head", "merge",
          "window_inference", "frame_total")
SUMMARY_KEYS = {"n", "p50_ms", "p95_ms", "p99_ms", "mean_ms", "max_ms"}


def test_bench_runs_end_to_end_and_writes_md_json_png(tmp_path: Path, clip: Path, graphs: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    out_json, out_md, out_png = tmp_path / "b.json", tmp_path / "b.md", tmp_path / "b.png"
    frames, runs, k = 12, 2, 5
    rc = main(["bench", "--source", str(clip), "--weights", str(graphs), "--provider", "cpu",
               "--frames", str(frames), "--runs", str(runs), "--warmup", "4",
               "--long-frames", "60", "--live-frames", "20", "--live-fps", "60", "--no-eager",
               "--int8", "none", "--json", str(out_json), "--md", str(out_md),
               "--png", str(out_png)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    r = json.loads(out_json.read_text())
    for stage in STAGES:
        assert set(r["stages"][stage]) == SUMMARY_KEYS, stage
        s = r["stages"][stage]
        assert s["n"] > 0 and 0 <= s["p50_ms"] <= s["p95_ms"] <= s["p99_ms"] <= s["max_ms"]
    # Every measured frame has a face: one backbone pass per frame, one window per frame
    # once K frames are buffered (the warm-up frames fill the window).
    assert r["stages"]["backbone"]["n"] == frames
    assert r["stages"]["window_inference"]["n"] == frames
    assert set(r["modes"]) == {"cached", "window"}
    for mode in ("cached", "window"):
        m = r["modes"][mode]
        assert len(m["windows_per_s_runs"]) == runs and m["windows_per_s"] > 0
        assert m["latency"]["n"] == runs * (frames - k + 1)
    assert r["mode_notes"]["eager"].startswith("skipped") and "cached-int8" in r["mode_notes"]
    assert r["ratios"]["cached_vs_window"] == pytest.approx(
        r["modes"]["cached"]["windows_per_s"] / r["modes"]["window"]["windows_per_s"])
    assert r["modes"]["cached"]["backbone_pass"]["n"] == runs * frames
    e2e = r["end_to_end"]
    assert e2e["frame_by_frame"]["batch_frames"] == 1 and e2e["batched"]["batch_frames"] == 32
    assert all(e2e[key]["fps"] > 0 and len(e2e[key]["fps_runs"]) == runs
               for key in ("frame_by_frame", "batched"))
    live = r["live"]
    assert live["frames_captured"] == 20 and live["source_fps"] == 60
    assert live["frames_processed"] + live["dropped_frames"] == 20
    assert live["event_delay_bound_frames"] == (k - 1) // 2 + 1 + 1
    assert "p50_frames" in live["event_delay_frames"] and "p95_ms" in live["event_delay_ms"]
    mem = r["memory"]
    assert mem["frames"] == 60 and mem["rss_end_mb"] > 0
    assert mem["growth_mb"] == pytest.approx(mem["rss_end_mb"] - mem["rss_warm_mb"])
    assert r["peak_rss_mb"] >= mem["rss_end_mb"] * 0.99
    assert r["machine"]["cpu"] and r["machine"]["load_avg_1_5_15"]
    assert r["source"]["size"] == [320, 240] and r["engine"]["provider"] == "cpu"
    names = [t["name"] for t in r["targets"]]
    assert any("eager" in n for n in names) and any("dropped" in n for n in names)
    eager_target = next(t for t in r["targets"] if "eager" in t["name"])
    assert eager_target["met"] is None and eager_target["measured"] is None

    md = out_md.read_text()
    assert md.strip() in out  # the same tables go to stdout
    for heading in ("Per-stage latency", "Modes", "End to end", "Targets"):
        assert heading in md
    assert "| cached (backbone per frame + head) |" in md and "frames/s" in md
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_settings_exit_2_naming_the_option(clip: Path, graphs: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    base = ["bench", "--source", str(clip), "--weights", str(graphs), "--no-eager"]
    for extra, needle in ((["--resize", "640by480"], "--resize"),
                          (["--frames", "2"], "--frames"),
                          (["--runs", "0"], "--runs"),
                          (["--int8", "nothere.onnx"], "--int8"),
                          (["--threshold", "1.5"], "--threshold")):
        assert main([*base, *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and needle in err, (extra, err)
    assert main(["bench", "--source", str(clip.parent / "missing.mp4"), "--weights",
                 str(graphs)]) == 2
    assert "not found" in capsys.readouterr().err


def test_cuda_request_runs_on_a_gpu_and_says_so_without_one(
        clip: Path, graphs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["bench", "--source", str(clip), "--weights", str(graphs), "--provider", "cuda",
               "--no-eager", "--frames", "8", "--runs", "1"])
    err = capsys.readouterr().err
    if cuda_problem() is None:  # a usable GPU: the benchmark runs on it
        assert rc == 0, err
    else:
        assert rc == 2 and "CUDA is not usable" in err
