"""Spotter.recalibrate (issue 15, calibration): a reference-difference model restarts the
person's reference on demand, at a window break; other inputs say it does not apply."""

from __future__ import annotations

import numpy as np
import pytest

from realtime.postprocess import PostprocessConfig
from realtime.reference import InputTransform
from realtime.spotter import Spotter
from tests.realtime.test_spotter import as_frames, face_clip

PREDICTABLE = {"postprocess": PostprocessConfig(relabel_by_duration=True), "threshold": 0.0}


def test_recalibrate_restarts_the_reference_and_closes_the_open_expression(
        reference_exported_graphs) -> None:
    frames = as_frames(face_clip(30))
    with Spotter(reference_exported_graphs.out_dir, provider="cpu", **PREDICTABLE) as sp:
        events = [e for f in frames[:15] for e in sp.process(f).events]
        reference = sp.engine._reference
        assert reference.state() is not None and sp.engine.buffered > 0
        closed = sp.recalibrate()
        # The reference and the window restart; the open expression ends here, cut short.
        assert reference.state() is None and sp.engine.buffered == 0
        assert [(e.kind, e.onset_frame, e.offset_frame, e.cut_short) for e in closed] == [
            ("segment", 2, 12, True)]
        out = sp.process(frames[15])
        # The first crop after it is the new reference: its network input is flat grey.
        assert reference.state() is not None
        assert np.all(sp.engine._input == 128)
        events += closed + [e for f in frames[16:] for e in sp.process(f).events]
        events += sp.flush()
        assert out.break_reason is None
    segments = [(e.onset_frame, e.offset_frame) for e in events if e.kind == "segment"]
    assert segments == [(2, 12), (17, 27)]  # a new window from frame 15: 15 + 2 .. 29 - 2
    assert sp.stats.segments == 2 and sp.stats.cut_short == 2


def test_recalibrate_without_a_window_is_harmless(reference_exported_graphs) -> None:
    with Spotter(reference_exported_graphs.out_dir, provider="cpu", **PREDICTABLE) as sp:
        assert sp.recalibrate() == []
        assert sp.stats.breaks == 0


@pytest.mark.parametrize("transform, words", [
    (InputTransform(), "raw crops"),
    (InputTransform(lag_frames=3), "lag difference (lag 3 frames"),
])
def test_recalibrate_says_when_it_does_not_apply(exported_graphs, transform, words) -> None:
    with Spotter(exported_graphs.out_dir, provider="cpu") as sp:
        sp.engine.input_transform = transform  # what the contract would say for such graphs
        with pytest.raises(ValueError, match="nothing to recalibrate") as info:
            sp.recalibrate()
        assert words in str(info.value)
