"""Webcam, server and recording channels across pauses, restarts, stops and resets."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

import realtime.app.channels as channels_module
from realtime.app import SpotSettings, SpotterApp
from tests.realtime.app.browser_util import write_mp4
from tests.realtime.app.helpers import (
    EXPECTED,
    N_FRAMES,
    PREDICTABLE,
    rgb,
    segments,
    wait_for,
)
from tests.realtime.test_spotter import face_clip


class FakeClock:
    """Stands in for time.monotonic in realtime.app.channels: webcam arrival times set by
    the test."""

    def __init__(self) -> None:
        self.now_s = 100.0

    def monotonic(self) -> float:
        return self.now_s

    perf_counter = staticmethod(time.perf_counter)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(channels_module, "time", fake)
    return fake


def pusher(cam, clock: FakeClock, interval_s: float = 1 / 25):
    def push(i: int) -> np.ndarray:
        out = cam.push(rgb(i), PREDICTABLE)
        clock.now_s += interval_s  # frames arrive at 25 per second (20 asked)
        return out
    return push


def test_webcam_keeps_its_log_across_a_stop_without_loss_or_repeat(
        app: SpotterApp, clock: FakeClock) -> None:
    cam = app.sessions.get("s").webcam
    push = pusher(cam, clock)
    first = [push(i) for i in range(12)]
    assert first[0].shape == (480, 640, 3)
    clock.now_s += 2.5  # longer than stop_s: the stream stopped
    for i in range(12, 24):
        push(i)
    analysis = cam.analysis
    assert analysis is not None and cam.frames_received == 24 == analysis.frames
    assert cam.pauses == 1 and cam.stalls == 0
    events = analysis.log.events
    # The stop broke the window: the first run [0, 11] became a segment, cut short.
    assert segments(events) == [(2, 9)] and events[1].cut_short
    # The second run got index 13 on (a gap, never joined to 11); its onset is open.
    assert [(e.kind, e.onset_frame) for e in analysis.log.shown()] == [("segment", 2),
                                                                       ("onset", 15)]
    assert analysis.spotter.stats.events == len(events) == 3  # every event logged, once
    seg, late = events[1], events[2]
    assert (seg.onset_time_s, seg.offset_time_s) == pytest.approx((2 / 25, 9 / 25))
    assert late.onset_time_s == pytest.approx(11 / 25 + 2.54 + 2 / 25)  # the pause counts
    # Durations use the measured arrival rate (25/s), not the nominal 20 frames/s.
    assert cam.measured_fps == pytest.approx(25.0)
    assert seg.duration_s == pytest.approx(8 / 25)


def test_a_webcam_stall_is_not_a_face_loss(app: SpotterApp, clock: FakeClock) -> None:
    """Issue 12 item 11: a pause shorter than stop_s (a busy server) keeps the expression."""
    cam = app.sessions.get("s").webcam
    push = pusher(cam, clock)
    for i in range(12):
        push(i)
    clock.now_s += 1.0  # over gap_s, under stop_s
    assert cam.stream_state() == "stalled 1.0 s" and not cam.check_stopped()
    for i in range(12, 24):
        push(i)
    assert cam.stalls == 1 and cam.pauses == 0
    assert [(e.kind, e.onset_frame) for e in cam.analysis.log.shown()] == [("onset", 2)]
    assert cam.analysis.last_index == 23  # no gap in the indices
    assert cam.stream_state() == "streaming"
    status = cam.status_line(cam.analysis)  # plain words, drops as a share
    assert status.startswith("streaming | ") and "| dropped ~" in status and " % |" in status
    assert "| 24 frames | face: ok | expressions: 1" in status


def test_webcam_stop_closes_the_open_expression_at_the_next_poll(
        app: SpotterApp, clock: FakeClock) -> None:
    """Issue 12 item 11: Stop (no frame for stop_s) closes the open expression, cut short,
    without waiting for another frame."""
    cam = app.sessions.get("s").webcam
    push = pusher(cam, clock)
    for i in range(12):
        push(i)
    assert [e.kind for e in cam.analysis.log.events] == ["onset"]
    clock.now_s += 1.9
    assert not cam.check_stopped() and cam.stream_state().startswith("stalled")
    clock.now_s += 0.2
    assert cam.check_stopped() and not cam.check_stopped()  # once
    events = cam.analysis.log.events
    assert [e.kind for e in events] == ["onset", "segment"] and events[1].cut_short
    assert cam.stream_state() == "stopped" and "stopped" in cam.status_line(cam.analysis)
    push(12)  # streaming again: a new window after a gap
    assert cam.analysis.last_index == 13 and cam.stream_state() == "streaming"
    assert len(cam.analysis.log.events) == 2  # nothing repeated


def test_webcam_durations_agree_with_onset_and_offset_times(app: SpotterApp,
                                                            clock: FakeClock) -> None:
    """Issue 12 item 11: with a varying arrival rate the duration is the span from onset to
    offset plus one mean frame interval, not frames / the latest rate."""
    cam = app.sessions.get("s").webcam
    for i in range(12):
        cam.push(rgb(i), PREDICTABLE)
        clock.now_s += 1 / 25 if i < 6 else 1 / 5  # the server slows down
    clock.now_s += 3.0
    cam.check_stopped()
    seg = [e for e in cam.analysis.log.events if e.kind == "segment"][0]
    n = seg.offset_frame - seg.onset_frame + 1
    span = seg.offset_time_s - seg.onset_time_s
    assert seg.duration_s == pytest.approx(span * n / (n - 1), abs=1e-4)
    assert seg.duration_s > n / 25  # not frames / the fast rate


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
    assert cam.analysis.spotter.base.postprocess.merge_gap_frames == 3
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
