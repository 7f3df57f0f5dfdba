"""``python -m realtime bench``: a tiny end-to-end run writes the Markdown, JSON and PNG with the
promised keys; the mode comparison, the simulated live camera's drop policy, the summaries, the
target checks and the errors.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from realtime import bench as B
from realtime.__main__ import main
from realtime.engine import cuda_problem
from tests.realtime.test_cli_spot import write_video
from tests.realtime.test_spotter import face_clip

STAGES = ("decode", "face_detect_track", "crop", "backbone", "head", "merge",
          "window_inference", "frame_total")
SUMMARY_KEYS = {"n", "p50_ms", "p95_ms", "p99_ms", "mean_ms", "max_ms"}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("bench_clip") / "face.mp4", face_clip(24))


@pytest.fixture(scope="module")
def graphs(exported_graphs) -> Path:
    return exported_graphs.out_dir


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


def test_resize_writes_a_clip_of_that_size(tmp_path: Path, clip: Path) -> None:
    dst = B.write_resized_clip(clip, tmp_path / "big.mp4", (640, 480))
    w, h, fps, n = B._clip_info(dst)
    assert (w, h) == (640, 480) and n == 24 and fps == pytest.approx(30.0)


def test_modes_include_the_eager_reference_when_torch_is_there(clip: Path,
                                                                 graphs: Path) -> None:
    pytest.importorskip("torch")
    cfg = B.BenchConfig(source=clip, weights=graphs, provider="cpu", frames=8, runs=1,
                        warmup_frames=0, threads=1)
    crops = np.random.default_rng(0).integers(0, 256, (9, 128, 128), dtype=np.uint8)
    modes, notes, latencies = B.measure_modes(cfg, crops, lambda s: None)
    assert set(modes) == {"cached", "window", "eager"}
    assert modes["eager"]["latency"]["n"] == 9 - 5 + 1 == len(latencies["eager"])
    assert modes["eager"]["threads"] == 1 and "weights" in modes["eager"]
    ratios = B.compute_ratios(modes)
    assert ratios["cached_vs_eager"] == pytest.approx(
        modes["cached"]["windows_per_s"] / modes["eager"]["windows_per_s"])


def test_eager_reference_matches_the_onnx_model(graphs: Path, exported_graphs) -> None:
    """The reference runs the same model (the fixture's checkpoint): same probabilities."""
    pytest.importorskip("torch")
    import importlib

    from realtime.engine import Engine

    ref = importlib.import_module("export.bench_reference").EagerReference(
        graphs, checkpoint=exported_graphs.checkpoint, threads=1)
    engine = Engine(graphs, provider="cpu", threads=1)
    crops = np.random.default_rng(1).integers(0, 256, (7, 128, 128), dtype=np.uint8)
    a = [ref.push(c) for c in crops]
    b = [engine.push(c) for c in crops]
    assert [x is None for x in a] == [y is None for y in b] == [True] * 4 + [False] * 3
    for x, y in zip(a[4:], b[4:]):
        np.testing.assert_allclose(x, y.probs, rtol=1e-3, atol=1e-4)


def test_paced_live_source_drops_oldest_when_the_consumer_is_slow(clip: Path) -> None:
    fps = 100.0
    source, captured = B._paced_live_source(B.LoopingClip(clip, 30), fps, queue_size=2)
    seen = []
    with source:
        assert source.is_live
        for frame in source:
            seen.append(frame.index)
            time.sleep(4 / fps)  # four frame periods per frame: the queue overflows
    assert source.frames_read == 30 and source.dropped_frames > 0
    assert len(seen) + source.dropped_frames == 30
    assert seen == sorted(seen) and any(b - a > 1 for a, b in zip(seen, seen[1:]))
    assert captured.get(0) is not None and captured.get(29) > captured.get(0)
    # Captures are paced: 30 frames at 100 fps take at least 0.29 s.
    assert captured.get(29) - captured.get(0) >= 29 / fps * 0.95

    source, _ = B._paced_live_source(B.LoopingClip(clip, 20), fps)
    with source:
        indices = [f.index for f in source]
    assert indices == list(range(20)) and source.dropped_frames == 0


def test_looping_clip_loops_and_times_decodes(clip: Path) -> None:
    decode: list[float] = []
    frames = list(B.LoopingClip(clip, 50, decode.append))
    assert len(frames) == len(decode) == 50 and all(d >= 0 for d in decode)
    np.testing.assert_array_equal(frames[0], frames[24])  # frame 24 is frame 0 again


@pytest.mark.parametrize("samples, p50, p95", [
    ([5.0], 5.0, 5.0),
    (list(range(1, 101)), 50.5, 95.05),
    ([2.0, 2.0, 2.0, 10.0], 2.0, 8.8),
])
def test_latency_summary(samples: list[float], p50: float, p95: float) -> None:
    s = B.latency_summary(samples)
    assert s["n"] == len(samples)
    assert s["p50_ms"] == pytest.approx(p50) and s["p95_ms"] == pytest.approx(p95)
    assert s["mean_ms"] == pytest.approx(np.mean(samples)) and s["max_ms"] == max(samples)


def test_latency_summary_of_nothing_and_other_units() -> None:
    assert B.latency_summary([]) == {"n": 0, "p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0,
                                     "mean_ms": 0.0, "max_ms": 0.0}
    s = B.latency_summary([4, 4, 6], "frames")
    assert s["n"] == 3 and s["p50_frames"] == 4.0 and s["max_frames"] == 6.0


def _result(cached_wps: float, eager_wps: float, lat_p95: float, bb_p95: float, fps: float,
            dropped: int, growth: float, size: tuple[int, int] = (640, 480),
            bb_p50: float | None = None) -> dict:
    lat = {"n": 10, "p50_ms": lat_p95 / 2, "p95_ms": lat_p95, "p99_ms": lat_p95}
    bb = {"n": 10, "p50_ms": bb_p95 if bb_p50 is None else bb_p50, "p95_ms": bb_p95,
          "p99_ms": bb_p95}
    modes = {"cached": {"windows_per_s": cached_wps, "latency": lat, "backbone_pass": bb},
             "eager": {"windows_per_s": eager_wps, "latency": lat}}
    return {"modes": modes, "ratios": B.compute_ratios(modes), "source": {"size": list(size)},
            "end_to_end": {"frame_by_frame": {"fps": fps}},
            "live": {"source_fps": 30.0, "dropped_frames": dropped},
            "memory": {"frames": 20000, "growth_mb": growth}}


def test_targets_met_and_missed() -> None:
    good = {t["name"]: t for t in B.evaluate_targets(_result(400, 100, 13, 10, 100, 0, 19.9))}
    assert all(t["met"] for t in good.values()), good
    bad = B.evaluate_targets(_result(399, 100, 13.1, 10, 99.9, 1, 20.0, size=(320, 240)))
    assert [t["met"] for t in bad] == [False] * 6
    assert "640x480" in bad[3]["note"]
    # p95 against p95 passes while p95 against the median backbone pass does not.
    mixed = B.evaluate_targets(_result(400, 100, 12, 10, 100, 0, 0, bb_p50=8))
    assert [t["met"] for t in mixed] == [True, True, False, True, True, True]


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


# --------------------------------------------------------------- speed changes in the live half


def test_run_batch_reuses_the_repeated_context_features(graphs: Path) -> None:
    """Chunks that overlap by K - 1 crops (as the spotter's batch mode feeds them) pass each
    frame through the backbone once, with the same results as one call over everything."""
    from realtime.engine import Engine

    k = 5
    crops = np.random.default_rng(2).integers(0, 256, (30, 128, 128), dtype=np.uint8)
    whole = Engine(graphs, provider="cpu", warmup=False).run_batch(crops).probs
    engine = Engine(graphs, provider="cpu", warmup=False)
    parts = [engine.run_batch(crops[a:b]).probs for a, b in ((0, 12), (8, 21), (17, 30))]
    assert engine.timings.backbone.items == 30  # not 12 + 13 + 13
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    # Different leading crops: nothing is reused, every crop is computed.
    other = crops[17:30].copy()
    other[0] ^= 1
    before = engine.timings.backbone.items
    np.testing.assert_allclose(engine.run_batch(other).probs[1:], whole[k - 1 + 14:], atol=1e-6)
    assert engine.timings.backbone.items - before == 13


def test_head_session_runs_on_one_thread_backbone_on_the_chosen_count(graphs: Path) -> None:
    from realtime.engine import HEAD_THREADS, Engine

    engine = Engine(graphs, provider="cpu", threads=2, warmup=False)
    assert HEAD_THREADS == 1
    assert engine._head.get_session_options().intra_op_num_threads == 1
    assert engine._backbone.get_session_options().intra_op_num_threads == 2
    window = Engine(graphs, provider="cpu", mode="window", threads=2, warmup=False)
    assert window._head.get_session_options().intra_op_num_threads == 2  # holds the backbone
