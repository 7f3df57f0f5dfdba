"""The data model: annotations, per-frame labels, dataset selection and cache keys."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from export.datasets import Annotation, frame_labels, load_generic
from realtime.vocab import Interval

from .builders import GENERIC_ANN, make_generic


def ann(onset: int, offset: int, kind: str) -> Annotation:
    return Annotation("s", "v", onset, onset, offset, kind)  # type: ignore[arg-type]


@pytest.mark.parametrize("anns, class_names, expected", [
    ([], ("none", "micro", "macro"), [0, 0, 0, 0, 0, 0]),
    ([ann(1, 2, "micro")], ("none", "micro", "macro"), [0, 1, 1, 0, 0, 0]),
    ([ann(0, 5, "macro"), ann(2, 3, "micro")], ("none", "micro", "macro"), [2, 2, 1, 1, 2, 2]),
    ([ann(2, 3, "micro"), ann(0, 5, "macro")], ("none", "micro", "macro"), [2, 2, 1, 1, 2, 2]),
    ([ann(0, 5, "macro"), ann(2, 3, "micro")], ("none", "micro"), [0, 0, 1, 1, 0, 0]),
    ([ann(0, 1, "macro"), ann(4, 9, "micro")], ("none", "macro"), [1, 1, 0, 0, 0, 0]),
    ([ann(4, 9, "micro"), ann(7, 8, "macro")], ("none", "micro", "macro"), [0, 0, 0, 0, 1, 1]),
])
def test_frame_labels(anns: list[Annotation], class_names: tuple[str, ...],
                      expected: list[int]) -> None:
    labels = frame_labels(6, anns, class_names)
    assert labels.dtype == np.int64
    assert labels.tolist() == expected


def test_frame_labels_rejects_unknown_classes() -> None:
    with pytest.raises(ValueError, match="class_names"):
        frame_labels(3, [], ("none", "smile"))


def test_annotation_validates() -> None:
    with pytest.raises(ValueError, match="apex"):
        Annotation("s", "v", 3, 9, 5, "micro")
    with pytest.raises(ValueError, match="type"):
        Annotation("s", "v", 3, 4, 5, "meso")  # type: ignore[arg-type]



def test_dataset_select_and_key(tmp_path: Path) -> None:
    ds = load_generic(make_generic(tmp_path, GENERIC_ANN))
    assert ds.select(["subB"]).subjects() == ["subB"]
    with pytest.raises(ValueError, match="unknown subjects"):
        ds.select(["subC"])
    assert ds.key().startswith("generic-")
    assert ds.key() == load_generic(tmp_path).key()


def test_annotation_is_scored_as_the_shared_interval_type() -> None:
    a = Annotation("s1", "v2", 3, 4, 9, "macro")
    assert a.to_interval() == Interval("s1", "v2", 3, 9, "macro", apex=4)
    assert a.length_frames == a.to_interval().length_frames == 7
    with pytest.raises(ValueError, match=r"offset must be >= onset.*\(s1/v2\)"):
        Annotation("s1", "v2", 5, 5, 4, "micro")
