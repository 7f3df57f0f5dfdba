"""``python -m realtime spot`` end to end through realtime.__main__.main: event streams and files,
overlay video, ground-truth scoring, the built-in demo, Ctrl-C, and one-line errors.

As in test_spotter, ``--threshold 0 --relabel`` makes every classified frame an expression, so
each run of face frames [a, b] gives the segment [a + 2, b - 2] whatever the random weights say.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import realtime.demo
import realtime.sources
from realtime.__main__ import main
from realtime.engine import cuda_problem
from realtime.metrics import format_table, score, write_intervals_csv
from realtime.sinks import read_jsonl_events
from realtime.vocab import Interval
from tests.media import write_video
from tests.realtime.test_spotter import face_clip

N_FRAMES = 24
BLANK = range(12, 14)
EXPECTED = [(2, 9), (16, 21)]  # runs 0-11 and 14-23
PREDICTABLE = ["--threshold", "0", "--relabel"]




def count_frames(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    return write_video(path, face_clip(N_FRAMES, blank=BLANK))


@pytest.fixture(scope="module")
def graphs(exported_graphs) -> str:
    return str(exported_graphs.out_dir)


def gt_file(path: Path, video: str = "clip") -> tuple[Path, list[Interval]]:
    gt = [Interval("s1", video, 2, 9, "micro"), Interval("s1", video, 16, 21, "micro"),
          Interval("s1", video, 100, 130, "macro")]
    write_intervals_csv(path, gt)
    return path, gt


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


def test_spot_streams_writes_and_scores(tmp_path: Path, clip: Path, graphs: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    gt_path, gt = gt_file(tmp_path / "gt.csv")
    jsonl, csv_out, video = tmp_path / "e.jsonl", tmp_path / "e.csv", tmp_path / "o.mp4"
    rc = main(["spot", "--source", str(clip), "--weights", graphs, "--events-out", str(jsonl),
               "--csv-out", str(csv_out), "--video-out", str(video), "--gt", str(gt_path),
               *PREDICTABLE])
    out, err = capsys.readouterr()
    assert rc == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [d["kind"] for d in lines] == ["onset", "segment", "onset", "segment"]
    for d in lines:
        assert {"kind", "expression", "onset_frame", "offset_frame", "onset_time",
                "offset_time", "confidence"} <= set(d)
    assert [(d["onset_frame"], d["offset_frame"]) for d in lines if d["kind"] == "segment"] \
        == EXPECTED
    assert lines[0]["offset_frame"] is None and lines[0]["onset_time"] == pytest.approx(2 / 30)
    assert [e.to_dict() for e in read_jsonl_events(jsonl)] == lines
    with csv_out.open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["kind"], r["onset_frame"], r["offset_frame"]) for r in rows] == [
        (d["kind"], str(d["onset_frame"]), "" if d["offset_frame"] is None
         else str(d["offset_frame"])) for d in lines]
    assert count_frames(video) == N_FRAMES
    assert "summary: 24 frames" in err and "provider" not in out
    pred = [Interval("s1", "clip", a, b, "micro") for a, b in EXPECTED]
    assert format_table(score(gt, pred)) in err


def test_batched_and_frame_by_frame_runs_agree(tmp_path: Path, clip: Path, graphs: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spot", "--source", str(clip), "--weights", graphs, *PREDICTABLE]) == 0
    batched = capsys.readouterr().out
    assert main(["spot", "--source", str(clip), "--weights", graphs, "--mode", "window",
                 "--video-out", str(tmp_path / "v.avi"), *PREDICTABLE]) == 0
    per_frame = capsys.readouterr().out
    a = [json.loads(x) for x in batched.splitlines()]
    b = [json.loads(x) for x in per_frame.splitlines()]
    assert [(d["kind"], d["onset_frame"], d["offset_frame"]) for d in a] == \
        [(d["kind"], d["onset_frame"], d["offset_frame"]) for d in b]
    for x, y in zip(a, b):
        assert x["confidence"] == pytest.approx(y["confidence"], abs=1e-5)


def test_quiet_and_max_frames(clip: Path, graphs: str,
                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spot", "--source", str(clip), "--weights", graphs, "--quiet",
                 "--max-frames", "8", *PREDICTABLE]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "summary: 8 frames" in err


def test_demo_is_the_default_source(tmp_path: Path, clip: Path, graphs: str,
                                    monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "demo.mp4").write_bytes(clip.read_bytes())
    _, gt = gt_file(assets / "demo_gt.csv", video="demo")
    monkeypatch.setattr(realtime.demo, "ASSETS_DIR", assets)
    rc = main(["spot", "--weights", graphs, *PREDICTABLE])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "built-in demo clip" in err
    assert len(out.splitlines()) == 4
    pred = [Interval("s1", "demo", a, b, "micro") for a, b in EXPECTED]
    assert format_table(score(gt, pred)) in err

    monkeypatch.setattr(realtime.demo, "ASSETS_DIR", tmp_path / "empty")
    assert main(["spot", "--weights", graphs]) == 2
    assert error_lines(capsys.readouterr().err)[0].startswith(
        "error: built-in demo file(s) missing")


class _Interrupting:
    """Frames, then Ctrl-C, as a camera loop would see it."""

    def __init__(self, n: int) -> None:
        self.images = face_clip(n)

    def __iter__(self):
        yield from self.images
        raise KeyboardInterrupt


def _fake_open(monkeypatch: pytest.MonkeyPatch, frames) -> list:
    opened: list = []
    real_open = realtime.sources.open_source

    def fake(spec, **kwargs):
        src = real_open(frames, fps=30.0)
        closed = []
        real_close = src.close
        src.close = lambda: (closed.append(True), real_close())[1]
        opened.append((src, closed))
        return src

    monkeypatch.setattr(realtime.sources, "open_source", fake)
    return opened


def test_ctrl_c_flushes_writes_and_releases(tmp_path: Path, graphs: str,
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    opened = _fake_open(monkeypatch, _Interrupting(12))
    jsonl, csv_out = tmp_path / "e.jsonl", tmp_path / "e.csv"
    rc = main(["spot", "--source", "camera-stand-in", "--weights", graphs, "--events-out",
               str(jsonl), "--csv-out", str(csv_out), *PREDICTABLE])
    out, err = capsys.readouterr()
    assert rc == 130
    assert "Traceback" not in err and "interrupted" in err
    events = read_jsonl_events(jsonl)
    assert [(e.kind, e.onset_frame, e.offset_frame, e.cut_short) for e in events] == [
        ("onset", 2, None, False), ("segment", 2, 9, True)]
    assert len(out.splitlines()) == 2
    assert csv_out.read_text().count("\n") == 3  # header + 2 events, file complete
    (src, closed), = opened
    assert closed


def test_error_mid_stream_keeps_earlier_events(tmp_path: Path, graphs: str,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    frames = face_clip(10) + [np.full((240, 320, 3), np.nan, np.float32)]
    _fake_open(monkeypatch, frames)
    jsonl = tmp_path / "e.jsonl"
    rc = main(["spot", "--source", "x", "--weights", graphs, "--events-out", str(jsonl),
               *PREDICTABLE])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    (line,) = error_lines(err)
    assert "frame 10" in line and "NaN" in line
    events = read_jsonl_events(jsonl)
    assert [(e.kind, e.offset_frame) for e in events] == [("onset", None), ("segment", 7)]


def _foreign_graphs(tmp_path: Path, graphs: str) -> str:
    import shutil

    d = tmp_path / "foreign"
    shutil.copytree(graphs, d)
    (d / "backbone.onnx").write_bytes((d / "backbone.onnx").read_bytes().replace(
        b"stsnet_sw.contract", b"other_key.contract"))
    return str(d)


@pytest.mark.parametrize("case", [
    "missing_file", "zero_frames", "camera", "url", "weights", "foreign", "merge_gap",
    "threshold", "gt", "video_dir", "cuda"])
def test_bad_input_is_one_error_line_and_exit_2(case: str, tmp_path: Path, clip: Path,
                                                graphs: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    src, extra, expect = str(clip), [], ""
    weights = graphs
    if case == "missing_file":
        src, expect = str(tmp_path / "nope.mp4"), "no such video file"
    elif case == "zero_frames":
        empty = tmp_path / "empty.mp4"
        cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"mp4v"), 30, (64, 64)).release()
        src, expect = str(empty), str(empty)
    elif case == "camera":
        src, expect = "97", "camera 97"
    elif case == "url":
        src, expect = "rtsp://127.0.0.1:9/none", "stream rtsp://127.0.0.1:9/none"
    elif case == "weights":
        weights, expect = str(tmp_path / "no_weights"), "graph folder not found"
    elif case == "foreign":
        weights, expect = _foreign_graphs(tmp_path, graphs), "foreign ONNX file"
    elif case == "merge_gap":
        extra, expect = ["--merge-gap", "-1"], "--merge-gap"
    elif case == "threshold":
        extra, expect = ["--threshold", "1.5"], "--threshold"
    elif case == "gt":
        extra, expect = ["--gt", str(tmp_path / "gt.csv")], "cannot open interval file"
    elif case == "video_dir":
        extra, expect = ["--video-out", str(tmp_path / "no" / "v.mp4")], "does not exist"
    elif case == "cuda":
        if cuda_problem() is None:
            pytest.skip("a CUDA GPU is usable here")
        extra, expect = ["--provider", "cuda"], "provider 'cuda' requested"
    rc = main(["spot", "--source", src, "--weights", weights, "--quiet", *extra])
    out, err = capsys.readouterr()
    assert rc == 2
    assert "Traceback" not in err and out == ""
    lines = error_lines(err)
    assert len(lines) == 1 and expect in lines[0], err


def test_spot_never_imports_torch(tmp_path: Path, clip: Path, graphs: str) -> None:
    import subprocess
    import sys

    code = ("import sys; from realtime.__main__ import main; "
            f"rc = main(['spot', '--source', {str(clip)!r}, '--weights', {graphs!r}, '--quiet', "
            "'--max-frames', '6', '--video-out', sys.argv[1]]); "
            "assert rc == 0, rc; assert 'torch' not in sys.modules, 'torch was imported'")
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "t.mp4")],
                          cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_shipped_weights_find_the_demo_clips_expressions(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Regression gate for the shipped model: `python -m realtime spot` with no arguments (the
    built-in demo clip, a portrait not in the training data, 2 micro + 2 macro) with the
    graphs' recommended post-processing (v0.3: both micro-expressions, 1 of 2 macro, 3 false
    positives; see weights/MODEL_CARD.md)."""
    events = tmp_path / "ev.jsonl"
    assert main(["spot", "--events-out", str(events), "--provider", "cpu"]) == 0
    table = capsys.readouterr().err
    assert "the model's recommendation" in table  # post-processing read from the contract
    tp_row = next(line for line in table.splitlines() if line.startswith("| TP |"))
    macro_tp, micro_tp = (int(x) for x in tp_row.split("|")[2:4])
    assert micro_tp == 2 and macro_tp >= 1, table
    segments = [e for e in read_jsonl_events(events) if e.kind == "segment"]
    assert 3 <= len(segments) <= 10, [(e.onset_frame, e.offset_frame) for e in segments]


def test_ground_truth_for_picks_the_source_video(tmp_path: Path) -> None:
    from realtime.cli.spot import ground_truth_for

    one = [Interval("s1", "a", 1, 4, "micro")]
    assert ground_truth_for(one, "whatever.mp4", tmp_path / "gt.csv") == one
    many = one + [Interval("s1", "b", 3, 9, "macro"), Interval("s2", "b", 5, 6, "micro")]
    assert ground_truth_for(many, "/clips/b.mp4", tmp_path / "gt.csv") == many[1:]
    with pytest.raises(ValueError, match="holds 3 videos .* none is named 'c'"):
        ground_truth_for(many, "c.avi", tmp_path / "gt.csv")


def test_score_segments_scores_segment_events_in_the_gt_video() -> None:
    from realtime.cli.spot import score_segments
    from realtime.events import Event

    def segment(onset: int, offset: int, expression: str) -> Event:
        return Event("segment", expression, onset, offset, onset, onset / 30, offset / 30,
                     (offset - onset + 1) / 30, 0.9, 0.8)

    gt = [Interval("s1", "clip", 2, 9, "micro"), Interval("s1", "clip", 40, 80, "macro")]
    result = score_segments(gt, [segment(2, 9, "micro"), segment(20, 30, "macro")])
    assert (result.micro.tp, result.macro.tp, result.macro.fp, result.macro.fn) == (1, 0, 1, 1)
    assert score_segments([], [segment(2, 9, "micro")]).micro.fp == 1
