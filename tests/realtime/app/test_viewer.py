"""The Viewer tab's logic (issue 15): a finished run of this session, or an events file plus
its video, opened and scrubbed: the frame, its probabilities and the expressions under way."""

from __future__ import annotations

import time
from pathlib import Path

import gradio as gr
import pytest

from realtime.app import SpotterApp
from realtime.app.viewer import read_events_file
from realtime.overlay import EXPRESSION_COLORS
from tests.realtime.app.helpers import EXPECTED, UI_PREDICTABLE, data_links, request


def finished_demo(app: SpotterApp, session: str = "s") -> list:
    app.on_demo_start(*UI_PREDICTABLE, request(session))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.1)
        polled = app.on_poll("recording", request(session))
        if isinstance(polled[1], gr.Timer) and polled[1].active is False:
            return polled
    pytest.fail("the demo run did not end")


def test_the_last_recording_opens_and_scrubs_to_an_event(app: SpotterApp) -> None:
    with pytest.warns(UserWarning):
        info = app.on_view_last(request("s"))[2]
    assert "no finished recording in this page yet" in info
    final = finished_demo(app)
    slider, frame, info, timeline = app.on_view_last(request("s"))
    assert isinstance(slider, gr.Slider) and slider.maximum == pytest.approx(23 / 30, abs=1e-3)
    assert frame.shape == (480, 640, 3) and timeline.shape == (200, 720, 3)
    assert "frame 0 of 24" in info and "none" in info.split("under way:")[1]
    # Next event from the start: the first expression's onset (frame 2).
    t = app.on_view_step(0.0, 1, request("s"))
    assert t == pytest.approx(2 / 30, abs=1e-3)
    frame, info, _ = app.on_view_seek(5 / 30, request("s"))
    assert 'data-frame="5"' in info and "probabilities (frame 5): none" in info
    assert f'data-onset-frame="{EXPECTED[0][0]}"' in info and "cut short" in info
    assert tuple(frame[2, 320]) == EXPRESSION_COLORS["micro"][::-1]  # the expression's border
    assert app.on_view_step(5 / 30, 1, request("s")) == pytest.approx(EXPECTED[1][0] / 30,
                                                                      abs=1e-3)
    assert app.on_view_step(5 / 30, -1, request("s")) == pytest.approx(2 / 30, abs=1e-3)
    # Frames 12-13 have no face: nothing classified there, no expression under way.
    frame, info, _ = app.on_view_seek(12.5 / 30, request("s"))
    assert "probabilities: none here" in info and 'class="viewer-event"' not in info
    assert abs(frame[2, 320].astype(int) - 90).max() < 12  # no border: the clip's background
    assert final[5]  # the downloads of the run stay on its tab


@pytest.mark.parametrize("kind", ["csv", "json"])
def test_an_events_file_with_its_video_opens(app: SpotterApp, clip: Path, tmp_path: Path,
                                             kind: str) -> None:
    final = finished_demo(app)
    events = tmp_path / f"clip-events.{kind}"
    events.write_text(data_links(final[5])[events.name])
    assert [(e.onset_frame, e.offset_frame) for e in read_events_file(events)
            if e.kind == "segment"] == EXPECTED
    slider, frame, info, _ = app.on_view_files(str(events), str(clip), request("f"))
    assert isinstance(slider, gr.Slider) and frame is not None
    _, info, _ = app.on_view_seek(18 / 30, request("f"))
    assert f'data-onset-frame="{EXPECTED[1][0]}"' in info
    assert "probabilities: not in an events file" in info


def test_bad_viewer_files_get_a_message_without_paths(app: SpotterApp, clip: Path,
                                                      tmp_path: Path) -> None:
    bad = tmp_path / "notes.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.warns(UserWarning):
        info = app.on_view_files(str(bad), str(clip), request("s"))[2]
    assert "notes.csv is not a readable events file: no column(s) kind" in info
    assert str(tmp_path) not in info
    with pytest.warns(UserWarning):
        info = app.on_view_files(None, str(clip), request("s"))[2]
    assert "choose an events file" in info
    with pytest.warns(UserWarning):
        info = app.on_view_files(str(bad), None, request("s"))[2]
    assert "upload a video first" in info
    text = tmp_path / "clip.txt"
    text.write_text("x")
    with pytest.raises(ValueError, match="clip.txt is not an events file"):
        read_events_file(text)
