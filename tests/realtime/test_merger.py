"""Online merger: frame-by-frame lifecycle, latency bound, breaks, and offline equivalence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime.merger import MergerState, OnlineMerger
from realtime.postprocess import PostprocessConfig, labels_from_probs, postprocess
from realtime.vocab import DEFAULT_CLASS_NAMES

NAMES = DEFAULT_CLASS_NAMES  # none, micro, macro


def onehot(label: int, strength: float = 0.8) -> np.ndarray:
    p = np.full(3, (1.0 - strength) / 2)
    p[label] = strength
    return p


def _summary(events):
    return [(e.kind, e.expression, e.onset_frame, e.offset_frame, e.cut_short) for e in events]


# --------------------------------------------------------------------------- lifecycle

# G=1, min length 2. Each step: frame label, events returned, state after the step as
# (open_label, onset_frame, length_frames, gap_frames, onset_emitted).
LIFECYCLE = [
    (0, [], (None, None, 0, 0, False)),
    (1, [], ("micro", 1, 1, 0, False)),                               # too short to report
    (1, [("onset", "micro", 1, None, False)], ("micro", 1, 2, 0, True)),
    (0, [], ("micro", 1, 2, 1, True)),                                # gap pending (<= G)
    (1, [], ("micro", 1, 4, 0, True)),                                # gap filled
    (0, [], ("micro", 1, 4, 1, True)),
    (0, [("segment", "micro", 1, 4, False)], (None, None, 0, 0, False)),  # gap > G: closed
    (2, [], ("macro", 7, 1, 0, False)),
    (1, [], ("micro", 8, 1, 0, False)),               # macro run of 1 < min length: silent
    (1, [("onset", "micro", 8, None, False)], ("micro", 8, 2, 0, True)),
    (2, [("segment", "micro", 8, 9, False)], ("macro", 10, 1, 0, False)),  # other expression
]


def test_lifecycle_step_by_step():
    merger = OnlineMerger(NAMES, 30.0, PostprocessConfig(merge_gap_frames=1,
                                                         min_length_frames=2))
    assert merger.state == MergerState(None, None, None, 0, 0, False, None)
    for frame, (label, expected_events, expected_state) in enumerate(LIFECYCLE):
        events = merger.update(frame, frame / 30.0, onehot(label))
        assert _summary(events) == expected_events, f"frame {frame}"
        s = merger.state
        assert (s.open_label, s.onset_frame, s.length_frames, s.gap_frames,
                s.onset_emitted) == expected_state, f"frame {frame}"
        assert s.last_frame == frame
    # stream ends with a one-frame macro run open: shorter than min length, nothing to say
    assert merger.flush() == []
    assert merger.state == MergerState(None, None, None, 0, 0, False, None)


def test_event_fields_times_and_scores():
    merger = OnlineMerger(NAMES, 200.0, PostprocessConfig(merge_gap_frames=0))
    probs = [onehot(0), onehot(2, 0.6), onehot(2, 0.9), onehot(2, 0.7), onehot(0)]
    events = []
    for i, p in enumerate(probs):
        events += merger.update(100 + i, 7.0 + i * 0.005, p)
    onset, segment = events
    assert onset.kind == "onset" and onset.onset_frame == 101
    assert onset.onset_time_s == pytest.approx(7.005)
    assert (onset.confidence, onset.mean_prob, onset.apex_frame) == (0.6, 0.6, 101)
    assert segment.to_dict() == pytest.approx({
        "kind": "segment", "expression": "macro", "onset_frame": 101, "offset_frame": 103,
        "apex_frame": 102, "onset_time": 7.005, "offset_time": 7.015, "duration": 3 / 200,
        "confidence": 0.9, "mean_confidence": (0.6 + 0.9 + 0.7) / 3, "cut_short": False})


@pytest.mark.parametrize("gap", [0, 1, 2, 3])
def test_segment_event_within_gap_plus_one_frames(gap):
    """The segment whose last frame is f comes out at update(f + G + 1), not before."""
    merger = OnlineMerger(NAMES, 30.0, PostprocessConfig(merge_gap_frames=gap))
    last = 0
    for frame in range(0, 5):
        merger.update(frame, frame / 30, onehot(1))
        last = frame
    for frame in range(last + 1, last + gap + 1):
        assert merger.update(frame, frame / 30, onehot(0)) == [], f"too early at {frame}"
        assert merger.state.gap_frames == frame - last
    events = merger.update(last + gap + 1, 0.0, onehot(0))
    assert _summary(events) == [("segment", "micro", 0, last, False)]


@pytest.mark.parametrize("gap", [1, 2, 3])
def test_gap_of_exactly_g_is_filled(gap):
    merger = OnlineMerger(NAMES, 30.0, PostprocessConfig(merge_gap_frames=gap))
    labels = [1, 1] + [0] * gap + [1, 0]
    events = []
    for frame, label in enumerate(labels):
        events += merger.update(frame, frame / 30, onehot(label))
    events += merger.flush()
    segments = [e for e in events if e.kind == "segment"]
    assert [(e.onset_frame, e.offset_frame) for e in segments] == [(0, gap + 2)]


def test_frame_jump_is_a_break_not_a_join():
    merger = OnlineMerger(NAMES, 30.0, PostprocessConfig(merge_gap_frames=3))
    for frame in range(3):
        merger.update(frame, frame / 30, onehot(1))
    events = merger.update(5, 5 / 30, onehot(1))  # frames 3 and 4 are missing
    assert _summary(events) == [("segment", "micro", 0, 2, True),
                                ("onset", "micro", 5, None, False)]
    s = merger.state
    assert (s.open_label, s.onset_frame, s.length_frames) == ("micro", 5, 1)
    # a break while a gap is pending closes the run at its last expression frame
    merger.update(6, 6 / 30, onehot(0))
    events = merger.update(8, 8 / 30, onehot(1))
    assert _summary(events) == [("segment", "micro", 5, 5, True),
                                ("onset", "micro", 8, None, False)]
    assert merger.state.onset_frame == 8


def test_flush_and_reset():
    merger = OnlineMerger(NAMES, 30.0)
    merger.update(0, 0.0, onehot(2))
    merger.update(1, 0.1, onehot(2))
    assert _summary(merger.flush()) == [("segment", "macro", 0, 1, True)]
    assert merger.flush() == []
    merger.update(0, 0.0, onehot(2))  # flush forgot the frame index: a new stream may start
    assert _summary(merger.flush(cut_short=False)) == [("segment", "macro", 0, 0, False)]
    merger.update(10, 1.0, onehot(1))
    merger.reset()
    assert merger.state == MergerState(None, None, None, 0, 0, False, None)
    assert merger.flush() == []


def test_relabel_onset_says_duration_so_far_segment_says_final():
    # fps 30 and 0.1 s: up to 3 frames is micro
    config = PostprocessConfig(merge_gap_frames=0, min_length_frames=2,
                               relabel_by_duration=True, micro_max_s=0.1)
    merger = OnlineMerger(NAMES, 30.0, config)
    events = []
    for frame, label in enumerate([1, 2, 1, 2, 0, 2, 2, 0]):
        events += merger.update(frame, frame / 30, onehot(label))
        if frame == 1:
            assert merger.state.open_label == "expression"
    assert _summary(events) == [
        ("onset", "micro", 0, None, False), ("segment", "macro", 0, 3, False),
        ("onset", "micro", 5, None, False), ("segment", "micro", 5, 6, False)]


def test_expression_threshold():
    merger = OnlineMerger(NAMES, 30.0, PostprocessConfig(merge_gap_frames=0),
                          expression_threshold=0.3)
    p = np.array([0.5, 0.35, 0.15])  # argmax says none; micro passes the threshold
    assert _summary(merger.update(0, 0.0, p)) == [("onset", "micro", 0, None, False)]
    assert merger.update(1, 0.1, np.array([0.5, 0.25, 0.25]))[0].offset_frame == 0


def test_source_and_face_id_are_stamped():
    merger = OnlineMerger(NAMES, 30.0, source="cam0", face_id=2)
    (event,) = merger.update(0, 0.0, onehot(1))
    assert (event.source, event.face_id) == ("cam0", 2)


@pytest.mark.parametrize("kwargs,match", [
    ({"class_names": ("none", "smile")}, "class_names"),
    ({"class_names": ("none",)}, "class_names"),
    ({"fps": 0}, "fps"),
    ({"fps": float("nan")}, "fps"),
    ({"config": {"merge_gap_frames": 1}}, "config"),
    ({"expression_threshold": -0.1}, "expression_threshold"),
])
def test_constructor_validation(kwargs, match):
    args = {"class_names": NAMES, "fps": 30.0} | kwargs
    with pytest.raises(ValueError, match=match):
        OnlineMerger(**args)


def test_update_validation():
    merger = OnlineMerger(NAMES, 30.0)
    with pytest.raises(ValueError, match=r"probs must have shape \(3,\)"):
        merger.update(0, 0.0, np.ones(2))
    with pytest.raises(ValueError, match="finite"):
        merger.update(0, 0.0, np.array([np.nan, 0.5, 0.5]))
    with pytest.raises(ValueError, match="frame_index must be >= 0"):
        merger.update(-1, 0.0, onehot(0))
    merger.update(4, 0.0, onehot(0))
    with pytest.raises(ValueError, match="must increase: got 4 after 4"):
        merger.update(4, 0.0, onehot(0))


# --------------------------------------------------------------------------- property

CONFIGS = st.builds(
    PostprocessConfig,
    merge_gap_frames=st.integers(0, 3),
    min_length_frames=st.integers(1, 4),
    relabel_by_duration=st.booleans(),
    micro_max_s=st.sampled_from([0.02, 0.1, 0.5]),
)
RUNS = st.lists(st.tuples(st.integers(0, 2), st.integers(1, 6)), max_size=25)


def _run_online(merger, probs, frame_offset, fps):
    events = []
    for i, p in enumerate(probs):
        frame = frame_offset + i
        for e in merger.update(frame, frame / fps, p):
            events.append((frame, e))
    events += [(None, e) for e in merger.flush()]
    return events


def _check_equivalent(probs, config, fps, threshold, frame_offset):
    labels = labels_from_probs(probs, threshold) if len(probs) else np.zeros(0, np.int64)
    offline = postprocess(labels, fps, config, probs=probs if len(probs) else None,
                          frame_offset=frame_offset)
    merger = OnlineMerger(NAMES, fps, config, expression_threshold=threshold)
    events = _run_online(merger, probs, frame_offset, fps)
    segments = [(at, e) for at, e in events if e.kind == "segment"]
    onsets = [(at, e) for at, e in events if e.kind == "onset"]

    assert [(e.onset_frame, e.offset_frame, e.apex_frame, e.expression)
            for _, e in segments] == [(s.onset, s.offset, s.apex, s.expression)
                                      for s in offline]
    for (_, e), s in zip(segments, offline):
        assert e.confidence == pytest.approx(s.peak_prob)
        assert e.mean_prob == pytest.approx(s.mean_prob)
        assert e.duration_s == pytest.approx(s.length_frames / fps)
    # one onset per segment, before it, not before the run reached the minimum length
    assert [e.onset_frame for _, e in onsets] == [e.onset_frame for _, e in segments]
    for (at_on, on), (at_seg, seg) in zip(onsets, segments):
        assert on.onset_frame + config.min_length_frames - 1 <= at_on <= seg.offset_frame
        assert at_seg is None or at_on < at_seg
    # latency bound: out by update(offset + G + 1), or at flush when the stream ended first
    last_frame = frame_offset + len(probs) - 1
    for at, seg in segments:
        bound = seg.offset_frame + config.merge_gap_frames + 1
        if at is None:
            assert bound > last_frame
        else:
            assert seg.offset_frame < at <= bound


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs=RUNS, config=CONFIGS, fps=st.sampled_from([30.0, 200.0]),
       seed=st.integers(0, 2**32 - 1), frame_offset=st.integers(0, 3))
def test_online_equals_offline_on_label_sequences(runs, config, fps, seed, frame_offset):
    labels = [label for label, n in runs for _ in range(n)]
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(3), size=len(labels))
    for row, label in zip(probs, labels):  # make `label` the argmax of its row
        top = int(np.argmax(row))
        row[top], row[label] = row[label], row[top]
    probs = np.round(probs, 2).reshape(len(labels), 3)  # coarse: equal peaks are common
    probs[np.arange(len(labels)), labels] += 0.02  # keep `label` the strict argmax
    assert labels_from_probs(probs).tolist() == labels
    _check_equivalent(probs, config, fps, None, frame_offset)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(0, 120), config=CONFIGS, fps=st.sampled_from([30.0, 200.0]),
       threshold=st.sampled_from([None, 0.2, 0.35, 0.5]), seed=st.integers(0, 2**32 - 1),
       sticky=st.floats(0.0, 0.95))
def test_online_equals_offline_on_random_probs(n, config, fps, threshold, seed, sticky):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(3) * 0.5, size=n)
    for i in range(1, n):  # temporal correlation gives runs and gaps of useful lengths
        if rng.random() < sticky:
            probs[i] = probs[i - 1]
    _check_equivalent(probs, config, fps, threshold, 0)
