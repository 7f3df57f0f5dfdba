"""MEGC 2020 metric: paper tables reproduced from their counts, IoU, matching, CSV, tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from realtime.metrics import (
    Counts,
    IntervalFileError,
    SpottingScore,
    format_table,
    iou,
    match_intervals,
    read_intervals_csv,
    score,
    table_dict,
    write_intervals_csv,
)
from realtime.vocab import Interval

# Fu et al. 2023, section 3.2, Tables 2 (no post-processing), 3 (segment merging) and
# 4 (segment-duration relabelling): printed TP, FP, FN, Total, Precision, Recall, F1.
PAPER = {
    ("table2", "CAS(ME)2"): {
        "macro": (166, 30, 134, 300, "0.8469", "0.5533", "0.6694"),
        "micro": (33, 10, 24, 57, "0.7674", "0.5789", "0.6600"),
        "overall": (199, 40, 158, 357, "0.8326", "0.5574", "0.6678"),
    },
    ("table2", "SAMM-LV"): {
        "macro": (167, 93, 176, 343, "0.6423", "0.4869", "0.5539"),
        "micro": (74, 10, 85, 159, "0.8810", "0.4654", "0.6091"),
        "overall": (241, 103, 261, 502, "0.7006", "0.4801", "0.5697"),
    },
    ("table3", "CAS(ME)2"): {
        "macro": (165, 30, 135, 300, "0.8462", "0.5500", "0.6667"),
        "micro": (33, 10, 24, 57, "0.7674", "0.5789", "0.6600"),
        "overall": (198, 40, 159, 357, "0.8319", "0.5546", "0.6655"),
    },
    ("table3", "SAMM-LV"): {
        "macro": (175, 87, 168, 343, "0.6679", "0.5102", "0.5785"),
        "micro": (80, 11, 79, 159, "0.8791", "0.5031", "0.6400"),
        "overall": (255, 98, 247, 502, "0.7224", "0.5080", "0.5965"),
    },
    ("table4", "CAS(ME)2"): {
        "macro": (167, 32, 133, 300, "0.8392", "0.5567", "0.6693"),
        "micro": (22, 42, 35, 57, "0.3438", "0.3860", "0.3636"),
        "overall": (189, 74, 168, 357, "0.7186", "0.5294", "0.6097"),
    },
    ("table4", "SAMM-LV"): {
        "macro": (179, 87, 164, 343, "0.6729", "0.5219", "0.5878"),
        "micro": (49, 76, 110, 159, "0.3920", "0.3082", "0.3451"),
        "overall": (228, 163, 274, 502, "0.5831", "0.4542", "0.5106"),
    },
}
PAPER_CELLS = [(table, ds, typ, row) for (table, ds), cols in PAPER.items()
               for typ, row in cols.items()]


@pytest.mark.parametrize("table,dataset,typ,row", PAPER_CELLS,
                         ids=[f"{t}-{d}-{ty}" for t, d, ty, _ in PAPER_CELLS])
def test_paper_rates_from_counts(table, dataset, typ, row):
    tp, fp, fn, total, precision, recall, f1 = row
    c = Counts.from_counts(tp=tp, fp=fp, fn=fn)
    assert c.total == total
    assert f"{c.precision:.4f}" == precision
    assert f"{c.recall:.4f}" == recall
    assert f"{c.f1:.4f}" == f1


@pytest.mark.parametrize("key", list(PAPER), ids=[f"{t}-{d}" for t, d in PAPER])
def test_paper_overall_pools_macro_and_micro(key):
    cols = PAPER[key]
    s = SpottingScore(macro=Counts(*cols["macro"][:3]), micro=Counts(*cols["micro"][:3]))
    assert (s.overall.tp, s.overall.fp, s.overall.fn) == cols["overall"][:3]
    table = format_table(s)
    f1_row = next(line for line in table.splitlines() if line.startswith("| F1-score"))
    assert f1_row.split("|")[2:5] == [f" {cols[t][6]} " for t in ("macro", "micro", "overall")]


# --------------------------------------------------------------------------- IoU


@pytest.mark.parametrize("a,b,expected", [
    ((0, 9), (0, 9), 1.0),
    ((0, 9), (5, 14), 5 / 15),
    ((0, 9), (0, 4), 0.5),
    ((0, 9), (10, 19), 0.0),   # adjacent, no shared frame
    ((0, 9), (9, 9), 0.1),     # one shared frame (inclusive offsets)
    ((3, 3), (3, 3), 1.0),
    ((0, 0), (1, 1), 0.0),
])
def test_iou_inclusive_frames(a, b, expected):
    assert iou(a, b) == pytest.approx(expected)
    assert iou(b, a) == pytest.approx(expected)


def _iv(onset, offset, typ="micro", video="v1", subject="s1"):
    return Interval(subject, video, onset, offset, typ)


def test_iou_exactly_threshold_is_tp():
    s = score([_iv(0, 9)], [_iv(0, 4)], iou_threshold=0.5)
    assert (s.micro.tp, s.micro.fp, s.micro.fn) == (1, 0, 0)
    s = score([_iv(0, 9)], [_iv(0, 3)], iou_threshold=0.5)  # IoU 0.4
    assert (s.micro.tp, s.micro.fp, s.micro.fn) == (0, 1, 1)


def test_types_are_scored_separately():
    s = score([_iv(0, 9, "micro")], [_iv(0, 9, "macro")])
    assert (s.micro.tp, s.micro.fp, s.micro.fn) == (0, 0, 1)
    assert (s.macro.tp, s.macro.fp, s.macro.fn) == (0, 1, 0)
    assert (s.overall.tp, s.overall.fp, s.overall.fn) == (0, 1, 1)


def test_videos_and_subjects_are_scored_separately():
    gt = [_iv(0, 9, video="a"), _iv(0, 9, subject="s2", video="b")]
    pred = [_iv(0, 9, video="b"), _iv(0, 9, subject="s1", video="a")]
    s = score(gt, pred)
    assert (s.micro.tp, s.micro.fp, s.micro.fn) == (1, 1, 1)


def test_each_gt_and_each_prediction_match_at_most_once():
    s = score([_iv(0, 9)], [_iv(0, 9), _iv(1, 9)])
    assert (s.micro.tp, s.micro.fp, s.micro.fn) == (1, 1, 0)
    s = score([_iv(0, 9), _iv(0, 9)], [_iv(0, 9)])
    assert (s.micro.tp, s.micro.fp, s.micro.fn) == (1, 0, 1)


def test_greedy_takes_highest_iou_first():
    a, b = _iv(0, 9), _iv(0, 14)
    p1, p2 = _iv(0, 9), _iv(1, 8)
    # candidates at 0.6: (a, p1)=1.0, (a, p2)=0.8, (b, p1)=0.667; (b, p2)=0.533 is below.
    result = match_intervals([b, a], [p2, p1], iou_threshold=0.6)
    assert [(m.gt, m.pred) for m in result.matches] == [(a, p1)]
    assert result.unmatched_gt == (b,)
    assert result.unmatched_pred == (p2,)


def test_tie_goes_to_earliest_gt_onset_then_earliest_prediction_onset():
    late, early = _iv(2, 3), _iv(0, 1)
    result = match_intervals([late, early], [_iv(0, 3)])
    assert [m.gt for m in result.matches] == [early]
    assert result.matches[0].iou == 0.5
    p_late, p_early = _iv(2, 3), _iv(0, 1)
    result = match_intervals([_iv(0, 3)], [p_late, p_early])
    assert [m.pred for m in result.matches] == [p_early]


def test_pooling_over_videos_and_generators_accepted():
    gt = (_iv(10 * k, 10 * k + 5, video=f"v{k}") for k in range(4))
    pred = (_iv(10 * k, 10 * k + 5, video=f"v{k}") for k in range(0, 6, 2))
    s = score(gt, pred)
    assert (s.micro.tp, s.micro.fp, s.micro.fn) == (2, 1, 2)
    assert s.micro.precision == pytest.approx(2 / 3)
    assert s.micro.recall == pytest.approx(0.5)


def test_zero_division_gives_zero():
    s = score([], [])
    assert s.overall.precision == s.overall.recall == s.overall.f1 == 0.0
    s = score([_iv(0, 3)], [])
    assert (s.micro.precision, s.micro.recall, s.micro.f1) == (0.0, 0.0, 0.0)
    s = score([], [_iv(0, 3)])
    assert (s.micro.fp, s.micro.precision, s.micro.recall) == (1, 0.0, 0.0)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, float("nan")])
def test_threshold_validation(bad):
    with pytest.raises(ValueError, match="iou_threshold"):
        score([], [], iou_threshold=bad)


def test_counts_validation():
    with pytest.raises(ValueError, match="fp"):
        Counts(1, -1, 0)


# --------------------------------------------------------------------------- tables


def test_format_table_several_runs_side_by_side():
    a = SpottingScore(Counts(166, 30, 134), Counts(33, 10, 24))
    b = SpottingScore(Counts(165, 30, 135), Counts(33, 10, 24))
    text = format_table({"no merging": a, "merging": b})
    lines = text.splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["Metric", "no merging Macro", "no merging Micro", "no merging Overall",
                      "merging Macro", "merging Micro", "merging Overall"]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")[1:]]
            for line in lines[2:]}
    assert list(rows) == ["Total", "TP", "FP", "FN", "Precision", "Recall", "F1-score"]
    assert rows["TP"] == ["166", "33", "199", "165", "33", "198"]
    assert rows["Precision"][2] == "0.8326" and rows["Precision"][5] == "0.8319"
    d = table_dict({"no merging": a, "merging": b})
    assert json.loads(json.dumps(d))["merging"]["overall"]["tp"] == 198


# --------------------------------------------------------------------------- CSV


def test_csv_round_trip(tmp_path: Path):
    items = [_iv(0, 9), _iv(3, 40, "macro", video="v 2", subject="s,2")]
    path = tmp_path / "x.csv"
    write_intervals_csv(path, items)
    assert read_intervals_csv(path) == items


def test_csv_extra_columns_case_and_blank_lines(tmp_path: Path):
    path = tmp_path / "gt.csv"
    path.write_text("Subject,video,onset,apex,offset,Type\n"
                    "s1,v1,4,6,9,MICRO\n\n"
                    "s1,v1,20.0,25,60,Macro\n")
    assert read_intervals_csv(path) == [_iv(4, 9), _iv(20, 60, "macro")]


@pytest.mark.parametrize("text,match", [
    ("subject,video,onset,offset\ns,v,1,2\n", r"line 1: header lacks column\(s\) type"),
    ("subject,video,onset,offset,type\ns,v,1,2,micro\ns,v,1,2,tiny\n", "line 3: type 'tiny'"),
    ("subject,video,onset,offset,type\ns,v,one,2,micro\n", "line 2: onset 'one'"),
    ("subject,video,onset,offset,type\ns,v,1,2.5,micro\n", "line 2: offset '2.5'"),
    ("subject,video,onset,offset,type\ns,v,5,2,micro\n", "line 2: offset must be >= onset"),
    ("subject,video,onset,offset,type\ns,v,5\n", "line 2: too few fields"),
    ("", "line 1: header lacks"),
])
def test_csv_errors_name_file_and_line(tmp_path: Path, text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(IntervalFileError, match=match) as info:
        read_intervals_csv(path)
    assert str(path) in str(info.value)


def test_csv_missing_file(tmp_path: Path):
    with pytest.raises(IntervalFileError, match="cannot open"):
        read_intervals_csv(tmp_path / "nope.csv")
