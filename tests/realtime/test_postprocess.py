"""Offline post-processing: merging, minimum length, duration relabelling, scores."""

from __future__ import annotations

import numpy as np
import pytest

from realtime.postprocess import (
    PostprocessConfig,
    fill_gaps,
    labels_from_probs,
    micro_max_frames,
    postprocess,
    segments_to_intervals,
)
from realtime.vocab import Interval


def _spans(labels, fps=30.0, **cfg):
    """(onset, offset, expression) of each segment, for compact tables."""
    segs = postprocess(np.array(labels, dtype=np.int64), fps, PostprocessConfig(**cfg))
    return [(s.onset, s.offset, s.expression) for s in segs]


# labels use 0 = none, 1 = micro, 2 = macro
@pytest.mark.parametrize("labels,cfg,expected", [
    ([], {}, []),
    ([0, 0, 0], {}, []),
    ([0, 1, 1, 0, 2, 2, 2, 0], {"merge_gap_frames": 0},
     [(1, 2, "micro"), (4, 6, "macro")]),
    # paper Figure 4: one wrongly "none" frame inside a micro-expression
    ([0, 1, 1, 0, 1, 1, 0], {"merge_gap_frames": 1}, [(1, 5, "micro")]),
    ([0, 1, 1, 0, 1, 1, 0], {"merge_gap_frames": 0}, [(1, 2, "micro"), (4, 5, "micro")]),
    ([1, 0, 0, 1], {"merge_gap_frames": 1}, [(0, 0, "micro"), (3, 3, "micro")]),
    ([1, 0, 0, 1], {"merge_gap_frames": 2}, [(0, 3, "micro")]),
    ([2, 0, 2, 0, 0, 2], {"merge_gap_frames": 1}, [(0, 2, "macro"), (5, 5, "macro")]),
    # different expressions on both sides: not filled
    ([1, 0, 2], {"merge_gap_frames": 3}, [(0, 0, "micro"), (2, 2, "macro")]),
    # leading / trailing gaps are never filled
    ([0, 1, 0], {"merge_gap_frames": 5}, [(1, 1, "micro")]),
    # adjacent different expressions stay separate without relabelling
    ([1, 1, 2, 2], {}, [(0, 1, "micro"), (2, 3, "macro")]),
    # every gap judged on the original labels: both gaps filled
    ([1, 0, 1, 0, 1], {"merge_gap_frames": 1}, [(0, 4, "micro")]),
    # min length drops short runs ...
    ([1, 1, 0, 0, 2, 2, 2], {"merge_gap_frames": 0, "min_length_frames": 3},
     [(4, 6, "macro")]),
    # ... after merging, which rescues fragments (the paper's reason for merging)
    ([1, 0, 1], {"merge_gap_frames": 1, "min_length_frames": 3}, [(0, 2, "micro")]),
    ([1, 0, 1], {"merge_gap_frames": 0, "min_length_frames": 3}, []),
    # a dropped short run does not join its neighbours
    ([1, 1, 0, 2, 0, 1, 1], {"merge_gap_frames": 1, "min_length_frames": 2},
     [(0, 1, "micro"), (5, 6, "micro")]),
])
def test_merging_and_min_length(labels, cfg, expected):
    assert _spans(labels, **cfg) == expected


@pytest.mark.parametrize("fps,micro_max_s,frames", [
    (30.0, 0.5, 15), (200.0, 0.5, 100), (29.97, 0.5, 14), (25.0, 0.5, 12), (60, 0.2, 12),
    (30.0, 0.1, 3),
])
def test_micro_max_frames(fps, micro_max_s, frames):
    assert micro_max_frames(fps, micro_max_s) == frames


@pytest.mark.parametrize("fps,length,expected", [
    (30.0, 15, "micro"), (30.0, 16, "macro"), (200.0, 100, "micro"), (200.0, 101, "macro"),
    (30.0, 1, "micro"),
])
def test_duration_relabel_boundary(fps, length, expected):
    # the classifier said macro (2); duration decides
    labels = [0] + [2] * length + [0]
    assert _spans(labels, fps=fps, relabel_by_duration=True) == [(1, length, expected)]


@pytest.mark.parametrize("labels,cfg,expected", [
    # paper Figure 5: micro and macro runs side by side form one with-expression segment
    ([0, 1, 1, 2, 2, 2, 0], {}, [(1, 5, "micro")]),
    # gaps between micro and macro are filled once both are "with expression"
    ([1] * 10 + [0] + [2] * 10, {"merge_gap_frames": 1}, [(0, 20, "macro")]),
    ([1] * 10 + [0, 0] + [2] * 10, {"merge_gap_frames": 1},
     [(0, 9, "micro"), (12, 21, "micro")]),
    # min length applies to the merged with-expression segment
    ([1, 2, 0, 0, 1], {"merge_gap_frames": 1, "min_length_frames": 2}, [(0, 1, "micro")]),
])
def test_relabel_joins_micro_and_macro(labels, cfg, expected):
    assert _spans(labels, fps=30.0, relabel_by_duration=True, **cfg) == expected


def test_scores_apex_and_frame_offset():
    probs = np.array([
        [0.9, 0.05, 0.05],
        [0.2, 0.7, 0.1],
        [0.6, 0.3, 0.1],   # filled gap frame: counts towards the mean
        [0.1, 0.8, 0.1],   # peak
        [0.1, 0.8, 0.1],   # equal peak later: apex stays at the earliest
        [0.9, 0.05, 0.05],
    ])
    labels = labels_from_probs(probs)
    assert labels.tolist() == [0, 1, 0, 1, 1, 0]
    (seg,) = postprocess(labels, 30.0, PostprocessConfig(merge_gap_frames=1), probs=probs,
                         frame_offset=2)
    assert (seg.onset, seg.offset, seg.apex, seg.expression) == (3, 6, 5, "micro")
    assert seg.peak_prob == pytest.approx(0.8)
    assert seg.mean_prob == pytest.approx(np.mean([0.7, 0.3, 0.8, 0.8]))
    assert seg.length_frames == 4 and seg.duration_s(30.0) == pytest.approx(4 / 30)


def test_relabel_scores_use_with_expression_probability():
    probs = np.array([[0.2, 0.5, 0.3], [0.3, 0.1, 0.6], [0.05, 0.15, 0.8]])
    (seg,) = postprocess(labels_from_probs(probs), 30.0,
                         PostprocessConfig(relabel_by_duration=True), probs=probs)
    assert seg.expression == "micro"
    assert seg.apex == 2 and seg.peak_prob == pytest.approx(0.95)
    assert seg.mean_prob == pytest.approx(np.mean([0.8, 0.7, 0.95]))


def test_apex_is_middle_without_probs():
    segs = postprocess([0, 2, 2, 2, 2, 0, 1, 1, 1], 30.0)
    assert [(s.apex, s.peak_prob, s.mean_prob) for s in segs] == [(2, None, None),
                                                                  (7, None, None)]


@pytest.mark.parametrize("row,threshold,expected", [
    ([0.5, 0.3, 0.2], None, 0),
    ([0.3, 0.5, 0.2], None, 1),
    ([0.5, 0.3, 0.2], 0.3, 1),    # best expression >= t wins even when "none" is larger
    ([0.3, 0.5, 0.2], 0.6, 0),    # argmax expression below t -> none
    ([0.2, 0.35, 0.45], 0.4, 2),
    ([0.2, 0.45, 0.35], 0.45, 1),  # equal to t counts
])
def test_labels_from_probs_threshold(row, threshold, expected):
    assert labels_from_probs(np.array([row]), threshold).tolist() == [expected]


def test_fill_gaps_leaves_input_untouched():
    labels = np.array([1, 0, 1])
    assert fill_gaps(labels, 1).tolist() == [1, 1, 1]
    assert labels.tolist() == [1, 0, 1]


def test_segments_to_intervals():
    segs = postprocess([0, 1, 1, 0, 2], 30.0, frame_offset=2)
    assert segments_to_intervals(segs, "s1", "v1") == [
        Interval("s1", "v1", 3, 4, "micro"), Interval("s1", "v1", 6, 6, "macro")]


@pytest.mark.parametrize("kwargs,match", [
    ({"merge_gap_frames": -1}, "merge_gap_frames"),
    ({"merge_gap_frames": 1.0}, "merge_gap_frames"),
    ({"min_length_frames": 0}, "min_length_frames"),
    ({"micro_max_s": 0}, "micro_max_s"),
    ({"micro_max_s": float("inf")}, "micro_max_s"),
    ({"relabel_by_duration": 1}, "relabel_by_duration"),
])
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PostprocessConfig(**kwargs)


@pytest.mark.parametrize("call,match", [
    (lambda: postprocess([0, 3], 30.0), r"labels must lie in \[0, 2\]"),
    (lambda: postprocess([0.0, 1.0], 30.0), "labels must be integers"),
    (lambda: postprocess([[0, 1]], 30.0), "labels must be 1-D"),
    (lambda: postprocess([0, 1], 0.0), "fps"),
    (lambda: postprocess([0, 1], 30.0, probs=np.zeros((3, 3))), "probs must have shape"),
    (lambda: postprocess([0, 1], 30.0, class_names=("none", "happy")), "class_names"),
    (lambda: postprocess([0, 1], 30.0, frame_offset=-1), "frame_offset"),
    (lambda: labels_from_probs(np.zeros((2, 3)), 1.5), "expression_threshold"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()
