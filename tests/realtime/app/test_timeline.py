"""The probability timeline: the last seconds, in the class colours."""

from __future__ import annotations

import numpy as np
import pytest

from realtime.app import ProbabilityTimeline
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
