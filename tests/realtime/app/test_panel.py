"""The panel's updates: idle and forced panels, the refresh throttle, the slow poll's diff."""

from __future__ import annotations

import gradio as gr
import numpy as np

from realtime.app import SpotterApp
from realtime.app.panel import PANEL_SIZE, panel_update, poll_update
from tests.realtime.app.helpers import PREDICTABLE, rgb


def test_an_idle_channel_sends_nothing_unless_forced(app: SpotterApp) -> None:
    cam = app.sessions.get("s").webcam
    assert panel_update(cam) == [gr.skip()] * PANEL_SIZE
    cam.message = "settings: merging gap must be a whole number >= 0, got -1"
    log_html, timeline, status, downloads = panel_update(cam, force=True)
    assert "no events yet" in log_html and timeline is None
    assert status == f"idle | {cam.message}"
    assert "appear with the first event" in downloads


def test_timeline_and_status_are_throttled_but_a_changed_log_is_not(app: SpotterApp) -> None:
    cam = app.sessions.get("s").webcam
    for i in range(6):  # threshold 0: the first classified frame opens an expression
        cam.push(rgb(i), PREDICTABLE)
    first = panel_update(cam)
    assert 'data-kind="onset"' in first[0] and isinstance(first[1], np.ndarray)
    assert "frames/s" in first[2] and "webcam-events.csv" in first[3]
    assert panel_update(cam) == [gr.skip()] * PANEL_SIZE  # nothing new, within the refresh
    forced = panel_update(cam, force=True)
    assert not any(isinstance(part, dict) and part == gr.skip() for part in forced)
    cam.analysis.flush()  # a segment: the log changed, so it goes out at once
    changed = panel_update(cam)
    assert 'data-kind="segment"' in changed[0] and 'data-kind="onset"' not in changed[0]


def test_the_slow_poll_sends_each_change_once(app: SpotterApp) -> None:
    cam = app.sessions.get("s").webcam
    assert poll_update(cam) == [gr.skip()] * PANEL_SIZE
    for i in range(6):
        cam.push(rgb(i), PREDICTABLE)
    log_html, timeline, status, downloads = poll_update(cam)
    assert 'data-kind="onset"' in log_html and timeline == gr.skip()
    assert "frames/s" in status and "webcam-events.json" in downloads
    assert poll_update(cam) == [gr.skip()] * PANEL_SIZE
    cam.message = "notice"
    again = poll_update(cam)
    assert again[0] == gr.skip() and again[2].endswith(" | notice")
