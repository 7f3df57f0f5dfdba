"""Subject-disjoint fold protocols."""

from __future__ import annotations

import pytest

from export.folds import make_folds


def test_make_folds_protocols() -> None:
    subjects = ["s3", "s1", "s2", "s4"]
    assert make_folds(subjects, "loso") == [(f"loso_s{i}", [f"s{i}"]) for i in range(1, 5)]
    folds = make_folds(subjects, "kfold", folds=2)
    assert sorted(s for _, held in folds for s in held) == sorted(subjects)
    assert make_folds(subjects, "all") == [("all", [])]
    assert make_folds(subjects, "split", test_subjects=["s2"]) == [("split", ["s2"])]
    with pytest.raises(ValueError, match="--folds"):
        make_folds(subjects, "kfold", folds=9)
    with pytest.raises(ValueError, match="unknown"):
        make_folds(subjects, "split", test_subjects=["nobody"])
    assert make_folds(subjects, "dataset", test_subjects=["s4", "s1"]) == [("test", ["s1", "s4"])]
    with pytest.raises(ValueError, match="split.csv"):
        make_folds(subjects, "dataset")
    with pytest.raises(ValueError, match="protocol"):
        make_folds(subjects, "bogus")
