"""The probability timeline: the last seconds, in the class colours."""

from __future__ import annotations

import numpy as np
import pytest

from realtime.app import ProbabilityTimeline
from realtime.app.timeline import RunRecord, runs
from realtime.overlay import EXPRESSION_COLORS


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
    assert len(timeline) <= 41


NAMES = ("none", "micro", "macro")
MICRO = np.array(EXPRESSION_COLORS["micro"][::-1])  # RGB
MACRO = np.array(EXPRESSION_COLORS["macro"][::-1])


def near(image: np.ndarray, x: int, rgb: np.ndarray, top: int = 8, bottom: int = 130) -> bool:
    """Whether column ``x`` of the plot area holds a pixel close to ``rgb``."""
    column = image[top:bottom, x].astype(int)
    return bool(np.abs(column - rgb).sum(axis=1).min() < 60)


def x_at(t: float, start: float, span: float, width: int = 400) -> int:
    return round(34 + (t - start) / span * (width - 8 - 34))


def test_lines_break_at_a_window_break_and_at_a_pause() -> None:
    timeline = ProbabilityTimeline(NAMES, span_s=4.0)
    for i in range(13):  # 0 .. 1.2 s
        timeline.add(i / 10, np.array([0.1, 0.8, 0.1]))
    timeline.mark_break(1.3)  # face lost
    for i in range(16, 26):  # 1.6 .. 2.5 s, after the break: the line does not join
        timeline.add(i / 10, np.array([0.1, 0.8, 0.1]))
    for i in range(35, 41):  # 3.5 .. 4.0 s, after a 1 s pause without any break
        timeline.add(i / 10, np.array([0.1, 0.8, 0.1]))
    image = timeline.render(width_px=400, height_px=150)
    start = 0.0  # the plot shows 0 .. 4 s
    assert near(image, x_at(1.0, start, 4.0), MICRO) and near(image, x_at(2.0, start, 4.0), MICRO)
    assert not near(image, x_at(1.4, start, 4.0), MICRO)  # no straight line over the loss
    assert not near(image, x_at(3.0, start, 4.0), MICRO)  # nor over the pause
    # The stretch without classification is shaded, not left as the background.
    assert (image[60, x_at(1.4, start, 4.0)] != 24).any()


def test_runs_split_at_breaks_and_long_steps() -> None:
    times = np.array([0.0, 0.1, 0.2, 0.3, 1.0, 1.1])
    pieces = runs(times, np.array([0.25]))
    assert [(p.start, p.stop) for p in pieces] == [(0, 3), (3, 4), (4, 6)]
    assert runs(np.array([]), np.array([])) == []


def test_run_record_keeps_the_whole_run_with_its_event_lanes() -> None:
    record = RunRecord(NAMES)
    for i in range(100):  # 10 s at 10 Hz, no face from 4 s to 5 s
        if 40 <= i < 50:
            record.mark_break(i / 10)
            continue
        record.add(i, i / 10, np.array([0.1, 0.2, 0.7] if i < 40 else [0.1, 0.8, 0.1]))
    record.note_time(10.0)
    assert len(record) == 90
    assert record.at(2.05)[0] == 20 and record.at(4.5) is None and record.at(-1) is None
    image = record.render(spans=[(6.0, 7.0, "micro")], truth=[(1.0, 2.0, "macro")],
                          width_px=400, height_px=200)
    bottom = 200 - 20 - 2 * 16  # two lanes under the plot area
    assert near(image, x_at(2.0, 0.0, 10.0), MACRO, 8, bottom)  # the macro line up to 4 s
    assert not near(image, x_at(4.5, 0.0, 10.0), MACRO, 8, bottom)
    found_lane = image[bottom + 4:bottom + 4 + 14]
    truth_lane = image[bottom + 20:bottom + 20 + 14]
    assert near(found_lane, x_at(6.5, 0.0, 10.0), MICRO, 0, 14)
    assert not near(found_lane, x_at(1.5, 0.0, 10.0), MACRO, 0, 14)
    assert near(truth_lane, x_at(1.5, 0.0, 10.0), MACRO, 0, 14)


def test_run_record_stops_at_its_limit() -> None:
    record = RunRecord(NAMES, max_points=3)
    for i in range(5):
        record.add(i, i / 10, np.array([1.0, 0.0, 0.0]))
    assert len(record) == 3 and record.truncated
