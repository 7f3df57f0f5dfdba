"""One stream's analysis: frames enlarged for a legible overlay, durations from times."""

from __future__ import annotations

import pytest

from realtime.app.analysis import display_size, timed_duration
from tests.realtime.app.helpers import event


@pytest.mark.parametrize("size, expected", [
    ((320, 240), (640, 480)), ((240, 320), (480, 640)), ((640, 480), (640, 480)),
    ((1920, 1080), (1920, 1080)), ((400, 300), (640, 480)),
])
def test_small_frames_are_enlarged_for_the_overlay(size: tuple, expected: tuple) -> None:
    assert display_size(*size) == expected


def test_timed_duration_is_the_span_plus_one_mean_interval() -> None:
    seg = event("segment", 3, 9)  # 7 frames at 30 fps: span 6/30 s
    assert timed_duration(seg).duration_s == pytest.approx(7 / 30, abs=1e-4)
    onset = event("onset", 3)
    assert timed_duration(onset) is onset
