"""The Gradio page's logic without a browser: settings, the event log and its downloads, the
timeline, webcam/server/recording channels across restarts, the handlers' messages, sessions,
and the ``serve`` command's network defaults.

As in test_spotter, ``threshold=0`` + duration relabelling makes every run of face frames
[a, b] give exactly one segment [a + 2, b - 2] whatever the random weights say.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest

import realtime.app as app_module
from realtime.__main__ import main
from realtime.app import (
    AppConfig,
    EventLog,
    ProbabilityTimeline,
    SpotSettings,
    SpotterApp,
    render_downloads_html,
    render_log_html,
)
from realtime.events import CSV_COLUMNS, Event
from realtime.overlay import EXPRESSION_COLORS
from tests.realtime.browser_util import write_mp4
from tests.realtime.test_spotter import face_clip, face_image

PREDICTABLE = SpotSettings(relabel_by_duration=True, threshold=0.0)
UI_PREDICTABLE = (1, 1, True, True, 0.0)  # the same, as the page's five settings widgets
N_FRAMES = 24
BLANK = range(12, 14)
EXPECTED = [(2, 9), (16, 21)]  # face runs 0-11 and 14-23, both cut short


def segments(events: list[Event]) -> list[tuple[int, int]]:
    return [(e.onset_frame, e.offset_frame) for e in events if e.kind == "segment"]


def request(session: str) -> SimpleNamespace:
    return SimpleNamespace(session_hash=session)


def wait_for(predicate, timeout_s: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_mp4(tmp_path_factory.mktemp("app") / "clip.mp4",
                     face_clip(N_FRAMES, blank=BLANK))


@pytest.fixture
def app(exported_graphs, clip: Path):
    spotter_app = SpotterApp(AppConfig(weights_dir=exported_graphs.out_dir, provider="cpu",
                                       settings=PREDICTABLE, demo_video=clip, gap_s=0.5,
                                       max_upload_mb=1))
    yield spotter_app
    spotter_app.sessions.close_all()


def event(kind: str, onset: int, offset: int | None = None, expression: str = "micro",
          cut_short: bool = False) -> Event:
    seg = kind == "segment"
    return Event(kind=kind, expression=expression, onset_frame=onset,
                 offset_frame=offset if seg else None, apex_frame=onset,
                 onset_time_s=onset / 30, offset_time_s=offset / 30 if seg else None,
                 duration_s=(offset - onset + 1) / 30 if seg else None, confidence=0.8,
                 mean_prob=0.7, cut_short=cut_short)


# ----------------------------------------------------------------------------------- settings


@pytest.mark.parametrize("values, expected", [
    ((1, 1, False, False, 0.7), SpotSettings()),
    ((0, 3, True, False, 0.7), SpotSettings(0, 3, True, None)),
    ((2.0, 1.0, False, True, 0.25), SpotSettings(2, 1, False, 0.25)),
    ((1, 1, True, True, 0), SpotSettings(1, 1, True, 0.0)),
])
def test_settings_from_the_page(values: tuple, expected: SpotSettings) -> None:
    settings = SpotSettings.from_ui(*values)
    assert settings == expected
    assert settings.postprocess().merge_gap_frames == expected.merge_gap_frames


@pytest.mark.parametrize("values, message", [
    ((-1, 1, False, False, 0.5), "merging gap"),
    ((1.5, 1, False, False, 0.5), "merging gap"),
    ((None, 1, False, False, 0.5), "merging gap"),
    ((1, 0, False, False, 0.5), "minimum length"),
    ((1, 1, False, True, 1.5), "class threshold"),
    ((1, 1, False, True, None), "class threshold"),
])
def test_bad_settings_name_the_widget(values: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SpotSettings.from_ui(*values)


@pytest.mark.parametrize("field, value", [
    ("concurrency", 0), ("concurrency", 65), ("max_upload_mb", 0), ("stream_every_s", 0.0),
    ("time_limit_s", 0.5), ("poll_s", 10.0), ("gap_s", -1.0), ("timeline_s", True),
    ("threads", 0),
])
def test_app_config_names_a_bad_value(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        AppConfig(**{field: value})


# ----------------------------------------------------------------------------------- event log


def test_event_log_keeps_each_event_once_and_shows_segments_over_onsets() -> None:
    log = EventLog()
    onset, seg = event("onset", 5), event("segment", 5, 20, "macro", cut_short=True)
    assert log.add([onset]) == 1 and log.version == 1
    assert [e.kind for e in log.shown()] == ["onset"]
    assert log.add([onset]) == 0 and log.version == 1  # a repeat changes nothing
    assert log.add([seg, onset, seg]) == 1 and log.version == 2
    later = event("onset", 30)
    log.add([later])
    assert log.events == [onset, seg, later]
    assert log.shown() == [seg, later]  # the segment replaced its onset's row
    assert log.spans(now_s=2.0) == [(5 / 30, 20 / 30, "macro"), (1.0, 2.0, "micro")]


def test_event_log_downloads_hold_every_event() -> None:
    log = EventLog()
    events = [event("onset", 3), event("segment", 3, 9, cut_short=True), event("onset", 15),
              event("segment", 15, 40, "macro")]
    log.add(events)
    rows = list(csv.DictReader(io.StringIO(log.csv_text())))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [(r["kind"], r["onset_frame"], r["offset_frame"], r["cut_short"]) for r in rows] == [
        ("onset", "3", "", "false"), ("segment", "3", "9", "true"),
        ("onset", "15", "", "false"), ("segment", "15", "40", "false")]
    assert [Event.from_dict(d) for d in json.loads(log.json_text())] == events


def test_download_links_carry_the_files() -> None:
    assert "appear with the first event" in render_downloads_html(None, "x")
    log = EventLog()
    assert "appear with the first event" in render_downloads_html(log, "x")
    log.add([event("onset", 3), event("segment", 3, 9)])
    files = data_links(render_downloads_html(log, 'my "clip"'))
    assert set(files) == {"my &quot;clip&quot;-events.csv", "my &quot;clip&quot;-events.json"}
    assert files["my &quot;clip&quot;-events.csv"] == log.csv_text()
    assert json.loads(files["my &quot;clip&quot;-events.json"]) == json.loads(log.json_text())


def test_log_html_is_escaped_and_newest_first() -> None:
    assert "no events yet" in render_log_html([])
    shown = [event("segment", 3, 9, cut_short=True), event("onset", 15, expression="macro")]
    html = render_log_html(shown)
    assert html.index('data-onset-frame="15"') < html.index('data-onset-frame="3"')
    assert "cut short" in html and "ongoing" in html and "0.100" in html  # onset 3 / 30 s
    assert "<script" not in render_log_html([event("onset", 1)]).lower()


# ----------------------------------------------------------------------------------- timeline


def test_timeline_draws_the_last_seconds_in_class_colours() -> None:
    names = ("none", "micro", "macro")
    timeline = ProbabilityTimeline(names, span_s=4.0, threshold=0.5)
    for i in range(200):  # 20 s at 10 Hz: only the last 4 s stay
        timeline.add(i / 10, np.array([0.1, 0.8, 0.1]))
    image = timeline.render(width_px=400, height_px=150)
    assert image.shape == (150, 400, 3) and image.dtype == np.uint8
    micro_rgb = np.array(EXPRESSION_COLORS["micro"][::-1])
    # The micro line runs at p = 0.8 across the plot: 80 % up the plot area (top 8, bottom 130).
    y = round(130 - 0.8 * (130 - 8))
    column = image[y - 2:y + 3, 200].astype(int)
    assert np.abs(column - micro_rgb).sum(axis=1).min() < 60
    # Points older than the span were dropped.
    assert timeline.latest_s == pytest.approx(19.9)
    assert len(timeline._points) <= 41


# ----------------------------------------------------------------------------------- channels


def rgb(i: int) -> np.ndarray:
    return np.ascontiguousarray(face_image(i)[:, :, ::-1])


class FakeClock:
    """Stands in for time.monotonic in realtime.app: webcam arrival times set by the test."""

    def __init__(self) -> None:
        self.now_s = 100.0

    def monotonic(self) -> float:
        return self.now_s

    perf_counter = staticmethod(time.perf_counter)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(app_module, "time", fake)
    return fake


def test_webcam_keeps_its_log_across_a_pause_without_loss_or_repeat(
        app: SpotterApp, clock: FakeClock) -> None:
    cam = app.sessions.get("s").webcam

    def push(i: int) -> np.ndarray:
        out = cam.push(rgb(i), PREDICTABLE)
        clock.now_s += 1 / 25  # frames arrive at 25 per second (20 asked)
        return out

    first = [push(i) for i in range(12)]
    assert first[0].shape == (240, 320, 3) and not np.array_equal(first[-1], rgb(11))
    clock.now_s += 1.0  # longer than gap_s: the stream stopped (or Gradio rejoined)
    for i in range(12, 24):
        push(i)
    analysis = cam.analysis
    assert analysis is not None and cam.frames_received == 24 == analysis.frames
    assert cam.pauses == 1
    events = analysis.log.events
    # The pause broke the window: the first run [0, 11] became a segment, cut short.
    assert segments(events) == [(2, 9)] and events[1].cut_short
    # The second run got index 13 on (a gap, never joined to 11); its onset is open.
    assert [(e.kind, e.onset_frame) for e in analysis.log.shown()] == [("segment", 2),
                                                                       ("onset", 15)]
    assert analysis.spotter.stats.events == len(events) == 3  # every event logged, once
    seg, late = events[1], events[2]
    assert (seg.onset_time_s, seg.offset_time_s) == pytest.approx((2 / 25, 9 / 25))
    assert late.onset_time_s == pytest.approx(11 / 25 + 1.04 + 2 / 25)  # the pause counts
    # Durations use the measured arrival rate (25/s), not the nominal 20 frames/s.
    assert cam.measured_fps == pytest.approx(25.0)
    assert seg.duration_s == pytest.approx(8 / 25)


def test_webcam_reset_starts_afresh_with_the_new_settings(app: SpotterApp) -> None:
    cam = app.sessions.get("s").webcam
    for i in range(8):
        cam.push(rgb(i), PREDICTABLE)
    old = cam.analysis
    cam.push(rgb(8), SpotSettings())  # settings change mid-stream: not applied yet
    assert cam.analysis is old and old.settings == PREDICTABLE
    cam.reset()
    assert cam.analysis is None and cam.frames_received == 0
    cam.push(rgb(0), SpotSettings(merge_gap_frames=3))
    assert cam.analysis.settings == SpotSettings(merge_gap_frames=3)
    assert cam.analysis.spotter.postprocess.merge_gap_frames == 3
    assert cam.analysis.log.events == [] and cam.analysis.last_index == 0


def test_server_source_continues_its_stream_across_stop_and_start(app: SpotterApp,
                                                                  clip: Path) -> None:
    from realtime.sources import open_source

    server = app.sessions.get("s").server
    server.start(open_source(clip, realtime=True), PREDICTABLE)
    wait_for(lambda: server.run.finished, what="the first run")
    assert server.run.error is None
    assert segments(server.analysis.log.events) == EXPECTED
    server.start(open_source(clip, realtime=True), PREDICTABLE)  # Start again: same log
    wait_for(lambda: server.run.finished, what="the second run")
    offset = N_FRAMES - 1 + 2  # after frame 23 the indices jump one: a gap, not a join
    log = server.analysis.log
    assert segments(log.events) == EXPECTED + [(a + offset, b + offset) for a, b in EXPECTED]
    assert len({(e.kind, e.onset_frame) for e in log.events}) == len(log.events) == 8
    times = [e.onset_time_s for e in log.events]
    assert times == sorted(times)


def test_each_recording_run_starts_a_fresh_log_in_video_frames(app: SpotterApp,
                                                               clip: Path) -> None:
    from realtime.sources import open_source

    rec = app.sessions.get("s").recording
    for _ in range(2):
        rec.start(open_source(clip, realtime=True), PREDICTABLE)
        wait_for(lambda: rec.run.finished, what="the recording")
        assert segments(rec.analysis.log.events) == EXPECTED
        assert all(e.cut_short for e in rec.analysis.log.events if e.kind == "segment")


def test_stop_releases_the_source_and_closes_the_open_expression(app: SpotterApp,
                                                                 tmp_path: Path) -> None:
    from realtime.sources import open_source

    long_clip = write_mp4(tmp_path / "long.mp4", face_clip(300))  # 10 s at 30 fps
    server = app.sessions.get("s").server
    source = open_source(long_clip, realtime=True)
    server.start(source, PREDICTABLE)
    wait_for(lambda: server.analysis.log.events, what="the onset")
    started = time.monotonic()
    server.stop()
    assert server.run.finished and time.monotonic() - started < 5
    with pytest.raises(Exception, match="closed"):
        iter(source)  # released
    events = server.analysis.log.events
    assert [e.kind for e in events] == ["onset", "segment"] and events[1].cut_short
    assert server.analysis.frames < 300


# ----------------------------------------------------------------------------------- handlers


def status_of(outputs: list) -> str:
    return outputs[4]  # [frame, timer, log, timeline, status, downloads]


def data_links(downloads_html: str) -> dict[str, str]:
    """File name -> decoded content of the download links."""
    links = re.findall(r'download="([^"]+)" href="data:[^;]+;charset=utf-8;base64,([^"]+)"',
                       downloads_html)
    return {name: base64.b64decode(data).decode("utf-8") for name, data in links}


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
    assert str(tmp_path / "demo.mp4") in status_of(out)


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
    assert frames and frames[-1].shape == (240, 320, 3)  # annotated RGB frames
    log_html, status, downloads = final[2], final[4], final[5]
    assert status.startswith("ended") and "frames/s" in status
    assert log_html.count('data-kind="segment"') == len(EXPECTED)
    files = data_links(downloads)
    assert set(files) == {"clip-events.csv", "clip-events.json"}  # named after the video
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
    assert b_out[0].shape == (240, 320, 3)
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
    time.sleep(0.8)  # a pause closes the open expression at the next frame
    app.on_webcam_frame(rgb(12), *UI_PREDICTABLE, request("s"))
    log_html = app.on_webcam_poll(request("s"))[0]
    assert 'data-kind="segment"' in log_html


def test_reset_handler_clears_the_panel(app: SpotterApp) -> None:
    for i in range(10):
        app.on_webcam_frame(rgb(i), *UI_PREDICTABLE, request("s"))
    out = app.on_reset("webcam", request("s"))
    assert out[0] is None and "no events yet" in out[1] and out[3] == "idle"
    assert app.sessions.get("s").webcam.analysis is None


# ----------------------------------------------------------------------------------- command


@pytest.fixture
def launches(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, dict]]:
    calls: list[tuple[object, dict]] = []
    monkeypatch.setattr(gr.Blocks, "launch",
                        lambda self, **kw: calls.append((self, kw)) or (None, "", ""))
    return calls


def test_serve_binds_loopback_and_never_shares_by_default(exported_graphs, launches) -> None:
    assert main(["serve", "--weights", str(exported_graphs.out_dir)]) == 0
    (blocks, kw), = launches
    assert kw["server_name"] == "127.0.0.1" and kw["server_port"] == 7860
    assert kw["share"] is False and kw["max_file_size"] == "200mb"
    assert blocks.analytics_enabled is False  # no telemetry requests
    assert blocks.spotter_app.config.server_source is True
    assert blocks.spotter_app.config.concurrency == 4


@pytest.mark.parametrize("flags, shared, server_source", [
    (["--share"], True, False),
    (["--host", "0.0.0.0"], False, False),
    (["--host", "0.0.0.0", "--allow-server-source"], False, True),
])
def test_exposed_servers_lock_the_server_source_tab(exported_graphs, launches, flags: list,
                                                    shared: bool, server_source: bool) -> None:
    argv = ["serve", "--weights", str(exported_graphs.out_dir), "--concurrency", "2",
            "--max-upload-mb", "20", *flags]
    assert main(argv) == 0
    (blocks, kw), = launches
    assert kw["share"] is shared and kw["max_file_size"] == "20mb"
    assert blocks.spotter_app.config.server_source is server_source
    assert blocks.spotter_app.config.concurrency == 2


def test_serve_without_graphs_says_so(tmp_path: Path, launches,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--weights", str(tmp_path)]) == 2
    assert "no exported graphs" in capsys.readouterr().err and not launches


@pytest.mark.parametrize("flags, option", [
    (["--concurrency", "0"], "--concurrency"), (["--max-upload-mb", "0"], "--max-upload-mb"),
    (["--threads", "0"], "--threads"),
])
def test_serve_names_a_bad_option(exported_graphs, launches, flags: list, option: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--weights", str(exported_graphs.out_dir), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and option in err and not launches


def test_serve_never_imports_torch() -> None:
    code = ("import sys, realtime.app, gradio; "
            "sys.exit(3 if 'torch' in sys.modules else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(app_module.__file__).parents[1],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:] or "torch was imported"
