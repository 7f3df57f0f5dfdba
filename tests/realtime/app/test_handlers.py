"""The page's handlers without a browser: the messages of bad starts, a demo run polled to
its end with downloads, sessions, the webcam's slow poll and the reset."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import time
from pathlib import Path

import cv2
import gradio as gr
import numpy as np
import pytest

from realtime.app import AppConfig, SpotterApp
from realtime.events import Event
from realtime.overlay import EXPRESSION_COLORS
from tests.realtime.app.helpers import (
    EXPECTED,
    UI_PREDICTABLE,
    data_links,
    request,
    rgb,
    segments,
)


def status_of(outputs: list) -> str:
    return outputs[4]  # [frame, timer, log, timeline, status, downloads]


@pytest.mark.parametrize("name, content, message", [
    (None, None, "upload a video first"),
    ("notes.txt", b"hello", "is not a video file"),
    ("broken.mp4", b"\x00garbage" * 100, "cannot open video file"),
    ("big.mp4", b"\x00" * (2 * 2**20), "limit is 1 MB"),
])
def test_bad_uploads_get_a_clear_message(app: SpotterApp, tmp_path: Path, name: str | None,
                                         content: bytes | None, message: str) -> None:
    path = None
    if name is not None:
        path = tmp_path / name
        path.write_bytes(content)
    with pytest.warns(UserWarning, match=message):
        out = app.on_recording_start(None if path is None else str(path), *UI_PREDICTABLE,
                                     request("s"))
    assert "error: " in status_of(out) and message in status_of(out)
    assert str(tmp_path) not in status_of(out) and "OpenCV" not in status_of(out)
    assert isinstance(out[1], gr.Timer) and out[1].active is False
    assert not app.sessions.get("s").recording.running


def test_server_source_messages(app: SpotterApp) -> None:
    with pytest.warns(UserWarning, match="type a camera index"):
        out = app.on_server_start("  ", *UI_PREDICTABLE, request("s"))
    assert "type a camera index" in status_of(out)
    with pytest.warns(UserWarning, match="no such video file"):
        out = app.on_server_start("/nonexistent/clip.mp4", *UI_PREDICTABLE, request("s"))
    assert "no such video file" in status_of(out)
    locked = SpotterApp(AppConfig(weights_dir=app.config.weights_dir, server_source=False))
    with pytest.warns(UserWarning, match="disabled"):
        out = locked.on_server_start("0", *UI_PREDICTABLE, request("s"))
    assert "disabled" in status_of(out)


def test_missing_builtin_demo_is_named(app: SpotterApp, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import realtime.demo

    monkeypatch.setattr(realtime.demo, "ASSETS_DIR", tmp_path)
    builtin = SpotterApp(AppConfig(weights_dir=app.config.weights_dir))  # demo_video=None
    with pytest.warns(UserWarning, match="demo"):
        out = builtin.on_demo_start(*UI_PREDICTABLE, request("s"))
    assert "error: built-in demo file(s) missing" in status_of(out)
    assert "demo.mp4" in status_of(out) and str(tmp_path) not in status_of(out)  # no path


def test_demo_run_polls_to_the_end_with_downloads(app: SpotterApp) -> None:
    out = app.on_demo_start(*UI_PREDICTABLE, request("s"))
    assert isinstance(out[1], gr.Timer) and out[1].active is True
    frames, final = [], None
    deadline = time.monotonic() + 30
    while final is None and time.monotonic() < deadline:
        time.sleep(0.1)
        polled = app.on_poll("recording", request("s"))
        if isinstance(polled[0], np.ndarray):
            frames.append(polled[0])
        if isinstance(polled[1], gr.Timer) and polled[1].active is False:
            final = polled
    assert final is not None, "the demo run did not end"
    assert frames and frames[-1].shape == (480, 640, 3)  # annotated RGB, enlarged
    log_html, status, downloads = final[2], final[4], final[5]
    assert status.startswith("ended") and "frames/s" in status
    assert log_html.count('data-kind="segment"') == len(EXPECTED)
    files = data_links(downloads)
    assert set(files) == {"clip-events.csv", "clip-events.json"}  # named after the video
    assert "2 expressions (4 rows" in downloads
    assert all(e.source == "clip.mp4" for e in app.sessions.get("s").recording.analysis.log
               .events)  # the file's name, not its server path
    rows = list(csv.DictReader(io.StringIO(files["clip-events.csv"])))
    got = [(int(r["onset_frame"]), int(r["offset_frame"])) for r in rows
           if r["kind"] == "segment"]
    assert got == EXPECTED
    assert segments([Event.from_dict(d) for d in json.loads(files["clip-events.json"])]) \
        == EXPECTED
    # The timer is off and nothing runs: a further poll changes nothing.
    again = app.on_poll("recording", request("s"))
    assert isinstance(again[1], gr.Timer) and again[1].active is False


def test_sessions_are_independent_and_unload_frees_them(app: SpotterApp) -> None:
    app.on_demo_start(*UI_PREDICTABLE, request("a"))
    b_out = app.on_webcam_frame(rgb(0), *UI_PREDICTABLE, request("b"))
    assert b_out[0].shape == (480, 640, 3)
    a, b = app.sessions.get("a"), app.sessions.get("b")
    assert a is not b and len(app.sessions) == 2
    assert a.webcam.analysis is None and b.recording.analysis is None
    assert b.webcam.frames_received == 1 and a.recording.analysis.spotter is not \
        b.webcam.analysis.spotter
    run = a.recording.run
    app.on_unload(request("a"))
    assert app.sessions.find("a") is None and app.sessions.find("b") is b
    assert run.finished  # its thread stopped and released the clip
    assert a.recording.analysis is None and a.recording.closed and a.webcam.closed
    # A call arriving after the unload changes nothing and does not revive the session.
    late = app.on_webcam_frame(rgb(0), *UI_PREDICTABLE, request("a"))
    assert late == [gr.skip()] * 5 and app.sessions.find("a") is None
    app.on_webcam_frame(rgb(1), *UI_PREDICTABLE, request("b"))
    assert b.webcam.frames_received == 2


def test_webcam_slow_poll_sends_what_changed_once(app: SpotterApp) -> None:
    assert app.on_webcam_poll(request("s")) == [gr.skip()] * 4  # nothing streamed yet
    for i in range(12):
        app.on_webcam_frame(rgb(i), *UI_PREDICTABLE, request("s"))
    log_html, _, status, downloads = app.on_webcam_poll(request("s"))
    assert 'data-kind="onset"' in log_html and "frames/s" in status
    assert set(data_links(downloads)) == {"webcam-events.csv", "webcam-events.json"}
    assert app.on_webcam_poll(request("s")) == [gr.skip()] * 4  # unchanged: nothing sent
    app.sessions.get("s").webcam.stop_s = 0.6
    time.sleep(0.8)  # no frame for stop_s: the poll closes the open expression
    log_html = app.on_webcam_poll(request("s"))[0]
    assert 'data-kind="segment"' in log_html


def test_reset_handler_clears_the_panel(app: SpotterApp) -> None:
    for i in range(10):
        app.on_webcam_frame(rgb(i), *UI_PREDICTABLE, request("s"))
    out = app.on_reset("webcam", request("s"))
    assert out[0] is None and "no events yet" in out[1] and out[3] == "idle"
    assert app.sessions.get("s").webcam.analysis is None


def test_overlay_toggles_reach_every_tab_at_once(app: SpotterApp) -> None:
    """Issue 15: the page's layer toggles. With every layer off the frame comes back with
    only the status line (bottom); a reset keeps the choice; unknown layers are refused."""
    for i in range(8):
        annotated = app.on_webcam_frame(rgb(i), *UI_PREDICTABLE, request("s"))[0]
    plain = cv2.resize(rgb(8), (640, 480), interpolation=cv2.INTER_LINEAR)
    assert (annotated[:300] != cv2.resize(rgb(7), (640, 480))[:300]).any()  # box, bars
    app.on_layers([], request("s"))
    session = app.sessions.get("s")
    assert all(ch.layers == () for ch in session.channels)
    bare = app.on_webcam_frame(rgb(8), *UI_PREDICTABLE, request("s"))[0]
    np.testing.assert_array_equal(bare[:440], plain[:440])  # all but the status line
    app.on_layers(["flash", "box"], request("s"))
    assert session.webcam.analysis.layers == ("box", "flash")
    app.on_reset("webcam", request("s"))
    app.on_webcam_frame(rgb(0), *UI_PREDICTABLE, request("s"))
    assert session.webcam.analysis.layers == ("box", "flash")
    with pytest.raises(gr.Error, match="unknown overlay layers"):
        app.on_layers(["halo"], request("s"))


def test_neutral_face_restarts_the_reference_or_says_why_not(
        app: SpotterApp, reference_exported_graphs, clip: Path) -> None:
    """Issue 15, calibration: before a stream the control asks for one; with raw-crop
    graphs it says it does not apply; with reference-difference graphs it restarts the
    reference and says so on the status line."""
    status = app.on_neutral("webcam", request("s"))[2]
    assert "start a stream first" in status
    for i in range(8):
        app.on_webcam_frame(rgb(i), *UI_PREDICTABLE, request("s"))
    status = app.on_neutral("webcam", request("s"))[2]
    assert "neutral face does not apply: this model's input is raw crops" in status
    ref_app = SpotterApp(AppConfig(weights_dir=reference_exported_graphs.out_dir,
                                   provider="cpu", demo_video=clip))
    try:
        for i in range(10):
            ref_app.on_webcam_frame(rgb(i), *UI_PREDICTABLE, request("r"))
        analysis = ref_app.sessions.get("r").webcam.analysis
        assert analysis.spotter.input_state(0) is not None
        log_html, _, status, _ = ref_app.on_neutral("webcam", request("r"))
        assert "neutral reference restarted at" in status
        assert analysis.spotter.input_state(0) is None
        assert 'data-kind="segment"' in log_html and "cut short" in log_html  # closed there
        ref_app.on_webcam_frame(rgb(10), *UI_PREDICTABLE, request("r"))
        assert analysis.spotter.input_state(0) is not None  # the new reference
    finally:
        ref_app.sessions.close_all()


def test_an_unknown_channel_is_named(app: SpotterApp) -> None:
    with pytest.raises(ValueError, match="no channel 'mirror': the tabs are webcam, server"):
        app.sessions.get("s").channel("mirror")
    with pytest.raises(ValueError, match="webcam is not a server-side channel"):
        app.on_stop("webcam", request("s"))


def test_the_stream_limit_holds_under_simultaneous_starts(exported_graphs, clip: Path) -> None:
    """Issue 12 item 4: 8 pages pressing "Play the demo clip" at the same moment on a server
    limited to 3 streams start exactly 3; the others are told the server is busy."""
    import threading
    import warnings

    limited = SpotterApp(AppConfig(weights_dir=exported_graphs.out_dir, provider="cpu",
                                   demo_video=clip, concurrency=3))
    barrier = threading.Barrier(8)
    statuses: dict[str, str] = {}

    def press(sid: str) -> None:
        barrier.wait()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            statuses[sid] = status_of(limited.on_demo_start(*UI_PREDICTABLE, request(sid)))

    threads = [threading.Thread(target=press, args=(f"p{i}",)) for i in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        busy = [s for s in statuses.values() if "the server is busy (3 streams running)" in s]
        assert len(statuses) == 8 and len(busy) == 5, statuses
        assert limited.sessions.running_sources() == 3
    finally:
        limited.sessions.close_all()


def test_a_refused_recording_clears_the_previous_runs_figures(app: SpotterApp,
                                                              tmp_path: Path) -> None:
    app.on_demo_start(*UI_PREDICTABLE, request("s"))
    rec = app.sessions.get("s").recording
    deadline = time.monotonic() + 30
    while not rec.run.finished and time.monotonic() < deadline:
        time.sleep(0.1)
    assert rec.analysis.log.events
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00garbage" * 100)
    with pytest.warns(UserWarning, match="cannot open video file broken.mp4"):
        out = app.on_recording_start(str(broken), *UI_PREDICTABLE, request("s"))
    assert status_of(out).startswith("idle | error: cannot open video file broken.mp4")
    assert "frames/s" not in status_of(out) and "no events yet" in out[2]
    assert out[0] is None and rec.analysis is None  # the old frame and log are gone


def test_the_run_summary_scores_the_demo_against_its_ground_truth(
        exported_graphs, clip: Path, tmp_path: Path) -> None:
    """Issue 15: when the demo clip ends the page shows the expressions by type, face time,
    rate per minute, its ground truth beside the detections, and the MEGC score."""
    gt = tmp_path / "gt.csv"
    gt.write_text("subject,video,onset,apex,offset,type\n"
                  "clip,clip,2,5,9,micro\nclip,clip,16,18,21,micro\n")
    scored = SpotterApp(AppConfig(weights_dir=exported_graphs.out_dir, provider="cpu",
                                  demo_video=clip, demo_ground_truth=gt))
    try:
        scored.on_demo_start(*UI_PREDICTABLE, request("s"))
        final = None
        deadline = time.monotonic() + 30
        while final is None and time.monotonic() < deadline:
            time.sleep(0.1)
            polled = scored.on_poll("recording", request("s"))
            if isinstance(polled[1], gr.Timer) and polled[1].active is False:
                final = polled
        assert final is not None, "the demo run did not end"
        summary = final[5]
        assert "Run summary</b>: 2 expressions (2 micro)" in summary
        assert "face in view 0.7 s of 0.8 s" in summary  # 22 of 24 frames at 30 fps
        assert "Ground truth: micro 2-9, micro 16-21" in summary
        assert "Detected: micro 2-9, micro 16-21" in summary
        assert "F1 overall 1.0000" in summary
        # The whole-run timeline: its lanes show the found and the true expressions.
        timeline = run_timeline_of(summary)
        assert timeline.shape[:2] == (200, 720)
        micro = np.array(EXPRESSION_COLORS["micro"][::-1])
        lane = timeline[200 - 20 - 32 + 4:200 - 20 - 32 + 18]  # the "found" lane
        x = round(34 + 5.5 / 30 / 1.0 * (720 - 42))  # frame 5 (the plot spans at least 1 s)
        assert np.abs(lane[:, x].astype(int) - micro).sum(axis=1).min() < 60
    finally:
        scored.sessions.close_all()


def run_timeline_of(summary_html: str) -> np.ndarray:
    """The summary's whole-run timeline, decoded (RGB)."""
    found = re.search(r'class="run-timeline"[^>]*src="data:image/png;base64,([^"]+)"',
                      summary_html)
    assert found, summary_html
    data = np.frombuffer(base64.b64decode(found.group(1)), np.uint8)
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
