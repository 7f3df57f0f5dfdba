"""Resampling a faster source to the model's training rate: which frames are kept, how frame
numbers map back, and the spotter's events on a 200 fps stream equal those of the same frames
fed at 30 fps (renumbered), in source frame numbers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from realtime.events import Event
from realtime.postprocess import PostprocessConfig
from realtime.resample import Resampler, needs_resampling
from realtime.sources import Frame
from realtime.spotter import Spotter
from tests.realtime.test_spotter import face_clip


def test_needs_resampling_only_for_clearly_faster_sources() -> None:
    assert needs_resampling(30.0, 200.0) and needs_resampling(30.0, 60.0)
    assert not needs_resampling(30.0, 30.0) and not needs_resampling(30.0, 31.5)
    assert not needs_resampling(30.0, 25.0) and not needs_resampling(None, 200.0)
    assert not needs_resampling(30.0, float("nan"))


def test_keeps_the_first_frame_at_each_tick() -> None:
    rs = Resampler(30.0)
    kept = [(i, rs.keep(i, i / 200)) for i in range(200)]
    ticks = [(i, t) for i, t in kept if t is not None]
    assert [t for _, t in ticks] == list(range(30))  # one second: 30 ticks, consecutive
    assert [i for i, _ in ticks][:4] == [0, 7, 14, 20]  # ceil(n * 200 / 30)
    assert rs.kept == 30 and rs.skipped == 170
    assert rs.source_frame(3) == 20
    with pytest.raises(KeyError):
        rs.source_frame(99)


def test_a_hole_in_the_source_jumps_the_model_numbers() -> None:
    rs = Resampler(30.0)
    times = [0.0, 0.034, 0.067, 0.2, 0.234]  # 0.067 -> 0.2 misses ticks 3..5
    assert [rs.keep(i, t) for i, t in enumerate(times)] == [0, 1, 2, 6, 7]
    rs.reset()
    assert rs.keep(10, 5.0) == 0  # a new stream starts at its own first frame


def test_events_map_back_to_source_frames() -> None:
    rs = Resampler(30.0)
    for i in range(60):
        rs.keep(i, i / 200)
    e = Event(kind="segment", expression="micro", onset_frame=1, offset_frame=4, apex_frame=2,
              onset_time_s=0.035, offset_time_s=0.135, duration_s=0.133, confidence=0.9,
              mean_prob=0.8)
    back = rs.to_source(e)
    assert (back.onset_frame, back.apex_frame, back.offset_frame) == (7, 14, 27)
    assert back.duration_s == e.duration_s and back.onset_time_s == e.onset_time_s


def _spotter(graphs: Path, resample: bool = True) -> Spotter:
    return Spotter(graphs, provider="cpu", threshold=0.0, resample=resample,
                   postprocess=PostprocessConfig(relabel_by_duration=True))


def test_spotter_on_200fps_equals_the_kept_frames_at_30fps(graphs_30fps: Path) -> None:
    images = face_clip(120)
    frames = [Frame(index=i, time_s=i / 200, image=im, fps=200.0) for i, im in enumerate(images)]
    with _spotter(graphs_30fps) as sp:
        outputs = [sp.process(f) for f in frames]
        events = [e for o in outputs for e in o.events] + sp.flush()
        rs = sp.resampler
        assert rs is not None and rs.kept == 18 and sp.stats.resampled_out == 102
        assert sp.merger is not None and sp.merger.fps == 30.0
    kept = [i for i in range(120) if i in {rs.source_frame(t) for t in range(18)}]
    assert [o.index for o in outputs] == list(range(120))  # source numbering throughout
    classified = [o.classified_index for o in outputs if o.classified_index is not None]
    assert classified == kept[2:-2]  # the middle frames of the full windows, source numbers
    slow = [dataclasses.replace(frames[i], index=n, fps=30.0) for n, i in enumerate(kept)]
    with _spotter(graphs_30fps, resample=False) as ref:
        expected = [e for f in slow for e in ref.process(f).events] + ref.flush()
    assert len(events) == len(expected) >= 2
    for got, want in zip(events, expected):
        assert got.onset_frame == kept[want.onset_frame]
        assert got.apex_frame == kept[want.apex_frame]
        if want.offset_frame is not None:
            assert got.offset_frame == kept[want.offset_frame]
        assert got.onset_time_s == want.onset_time_s and got.expression == want.expression
        np.testing.assert_allclose(got.confidence, want.confidence, rtol=1e-6)


def test_resample_false_feeds_every_frame(graphs_30fps: Path) -> None:
    frames = [Frame(index=i, time_s=i / 200, image=im, fps=200.0)
              for i, im in enumerate(face_clip(12))]
    with _spotter(graphs_30fps, resample=False) as sp:
        for f in frames:
            sp.process(f)
        assert sp.resampler is None and sp.stats.frames == 12
        assert sp.fps_warning is not None  # the rate mismatch is still reported
    with pytest.raises(ValueError, match="resample"):
        Spotter(graphs_30fps, provider="cpu", resample="yes")  # type: ignore[arg-type]
