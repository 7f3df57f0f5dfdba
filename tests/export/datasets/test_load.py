"""Format detection and load_dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from export.datasets import DatasetError, detect_format, load_dataset

from .builders import GENERIC_ANN, make_casme2, make_generic, make_samm


def test_load_dataset_detects_each_format(tmp_path: Path) -> None:
    make_casme2(tmp_path / "c")
    make_samm(tmp_path / "s")
    make_generic(tmp_path / "g", GENERIC_ANN)
    assert [detect_format(tmp_path / d) for d in "csg"] == ["casme2", "samm", "generic"]
    assert load_dataset(tmp_path / "s").name == "samm"
    assert load_dataset(tmp_path / "g", fmt="generic", fps=60.0).videos[0].fps == 60.0
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="cannot tell"):
        load_dataset(tmp_path / "empty")
    with pytest.raises(ValueError, match="fmt"):
        load_dataset(tmp_path / "g", fmt="casme3")
