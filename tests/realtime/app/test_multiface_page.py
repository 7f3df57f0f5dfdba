"""The page spots every face (issue 16): a two-face clip built from the real media
(tests/realtime/multiface_clips.py) through the page's analysis path (realtime.app.analysis),
with the shipped graphs, gives per-face events in the log, its HTML, both downloads and the
frame's overlay. Skipped when ``../shared/data/real`` is absent.

As in test_multiface, ``threshold=0`` + duration relabelling makes each face's run of crop
frames [a, b] give the segment [a + 2, b - 2] whatever the model says.
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from realtime.app import render_downloads_html, render_log_html
from realtime.app.analysis import Analysis
from realtime.app.eventlog import face_number
from realtime.overlay import face_color
from realtime.sources import Frame
from realtime.spotter import DEFAULT_WEIGHTS, Spotter
from tests.realtime import multiface_clips as clips
from tests.realtime.app.helpers import PREDICTABLE, data_links

pytestmark = pytest.mark.skipif(not clips.REAL.is_dir(),
                                reason=f"real test media absent: {clips.REAL}")
N, LEAVES = 30, 20  # frames fed; the photo face (face 1) is gone from frame LEAVES on


@pytest.fixture(scope="module")
def analysed() -> tuple[Analysis, list[np.ndarray]]:
    """The first N frames of the two-face clip (face 1 leaving) through the page's Analysis."""
    spotter = Spotter(DEFAULT_WEIGHTS, postprocess=PREDICTABLE.postprocess(),
                      threshold=PREDICTABLE.threshold, threads=1, source_name="two.mp4")
    analysis = Analysis(spotter, PREDICTABLE, timeline_s=10.0)
    images = clips.side_by_side(absent=range(LEAVES, clips.N_FRAMES))[:N]
    drawn = [analysis.process(Frame(index=i, time_s=i / 30, image=image, fps=30.0))
             for i, image in enumerate(images)]
    analysis.flush()
    yield analysis, drawn
    analysis.close()


def test_each_face_gets_its_own_events_in_the_log(analysed) -> None:
    analysis, _ = analysed
    segments = {(face_number(e), e.onset_frame, e.offset_frame, e.cut_short)
                for e in analysis.log.shown() if e.kind == "segment"}
    assert segments == {(0, 2, N - 3, True), (1, 2, LEAVES - 3, True)}
    assert {e.face_id for e in analysis.log.events} == {None, 1}  # face 0: no id, as spot
    assert analysis.log.expressions() == 2  # both start on frame 2: two rows, not one
    html = render_log_html(analysis.log.shown())
    assert '<th style' in html and ">face</th>" in html
    assert 'data-face="0"' in html and 'data-face="1"' in html
    b, g, r = face_color(1)
    assert f"background:#{r:02x}{g:02x}{b:02x}" in html  # the swatch: the overlay's colour
    assert analysis.followed == 0 and analysis.merger is not None  # the timeline: face 0


def test_both_downloads_carry_the_face_id(analysed) -> None:
    analysis, _ = analysed
    files = data_links(render_downloads_html(analysis.log, "two"))
    rows = list(csv.DictReader(io.StringIO(files["two-events.csv"])))
    assert {row["face_id"] for row in rows} == {"", "1"}
    items = json.loads(files["two-events.json"])
    assert {item["face_id"] for item in items} == {None, 1}
    assert [row["face_id"] for row in rows] == ["" if i["face_id"] is None else str(i["face_id"])
                                                for i in items]


def test_the_frame_shows_each_face_in_its_colour(analysed) -> None:
    _, drawn = analysed
    both = drawn[10]  # both faces in view
    for face_id in (0, 1):
        assert np.all(both == face_color(face_id), axis=-1).any(), f"face {face_id}'s box"
    assert not np.all(drawn[-1] == face_color(1), axis=-1).any()  # face 1 has left
