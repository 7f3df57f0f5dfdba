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
