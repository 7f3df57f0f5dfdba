"""Reports: scores per post-processing variant, pooling folds, files written, class names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from export.datasets import Annotation
from export.evaluate import (
    VARIANTS,
    VideoPrediction,
    evaluate_predictions,
    pool_reports,
    write_report,
)
from realtime.metrics import read_intervals_csv


def _prediction(subject: str, classes: int, hot: int, span: tuple[int, int],
                annotations: tuple[Annotation, ...] = (), n: int = 60) -> VideoPrediction:
    """Probabilities that say class ``hot`` on frames ``span`` (inclusive), "none" elsewhere."""
    probs = np.zeros((n, classes), np.float32)
    probs[:, 0] = 1.0
    probs[span[0]:span[1] + 1] = 0.0
    probs[span[0]:span[1] + 1, hot] = 1.0
    return VideoPrediction(subject, "v1", 30.0, annotations, np.ones(n, bool), probs)


def test_binary_macro_model_keeps_its_class_names_when_pooled(tmp_path: Path) -> None:
    """A none,macro model's class 1 is macro: pooled folds and files must call it macro (a
    slice of a fixed none,micro,macro tuple would call it micro)."""
    names = ("none", "macro")
    folds = [evaluate_predictions([_prediction(s, 2, 1, (10, 39), (
        Annotation(s, "v1", 10, 20, 39, "macro"), Annotation(s, "v1", 45, 46, 47, "micro")))],
        names) for s in ("s1", "s2")]
    pooled = pool_reports(folds)
    assert pooled.class_names == names
    for variant in VARIANTS:
        assert [(i.subject, i.onset, i.offset, i.type) for i in pooled.intervals[variant]] == [
            ("s1", 10, 39, "macro"), ("s2", 10, 39, "macro")]
    assert [g.type for g in pooled.gt] == ["macro", "macro"]  # no micro class: no micro truth
    merging = pooled.scores["merging"]
    assert (merging.macro.tp, merging.micro.tp, merging.micro.fp) == (2, 0, 0)
    write_report(pooled, tmp_path)
    written = read_intervals_csv(tmp_path / "intervals_merging.csv")
    assert {i.type for i in written} == {"macro"}
    scores = json.loads((tmp_path / "results.json").read_text())
    assert scores["videos"] == ["s1/v1", "s2/v1"]
    assert scores["scores"]["merging"]["macro"]["tp"] == 2
    assert sorted(p.name for p in (tmp_path / "timelines").iterdir()) == ["s1_v1.png",
                                                                         "s2_v1.png"]
    assert (tmp_path / "results.md").read_text() == pooled.table + "\n"


def test_three_class_report_scores_each_type() -> None:
    names = ("none", "micro", "macro")
    video = _prediction("s1", 3, 1, (5, 9), (Annotation("s1", "v1", 5, 7, 9, "micro"),
                                             Annotation("s1", "v1", 30, 35, 50, "macro")))
    report = evaluate_predictions([video], names)
    assert report.overall_f1("merging") == pytest.approx(2 / 3)
    assert report.scores_dict()["merging"]["micro"]["tp"] == 1
    assert report.scores_dict()["merging"]["macro"]["fn"] == 1
    assert "merging Overall" in report.table


def test_reports_refuse_mismatched_classes() -> None:
    with pytest.raises(ValueError, match=r"shape \(60, 3\).*2 classes none,macro"):
        evaluate_predictions([_prediction("s1", 3, 1, (5, 9))], ("none", "macro"))
    a = evaluate_predictions([_prediction("s1", 2, 1, (5, 9))], ("none", "macro"))
    b = evaluate_predictions([_prediction("s2", 2, 1, (5, 9))], ("none", "micro"))
    with pytest.raises(ValueError, match="different classes"):
        pool_reports([a, b])
    with pytest.raises(ValueError, match="at least one"):
        pool_reports([])


@pytest.mark.parametrize("subject, video, name", [
    ("s01", "s01_v01", "s01_v01.png"),  # SynthME names videos after their subject
    ("s1", "v1", "s1_v1.png"), ("s01", "s010_v1", "s01_s010_v1.png"), ("15", "15", "15.png"),
    ("sub", "a/b", "sub_a_b.png"),
])
def test_timeline_file_names_do_not_repeat_the_subject(subject: str, video: str,
                                                       name: str) -> None:
    from export.evaluate.files import timeline_name

    assert timeline_name(subject, video) == name
