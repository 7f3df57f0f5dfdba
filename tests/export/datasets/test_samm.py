"""SAMM Long Videos reader on fixture trees."""

from __future__ import annotations

from pathlib import Path

import pytest

from export.datasets import DatasetError, load_samm_lv

from .builders import SAMM_HEADER, SAMM_ROWS, by_key, make_samm


@pytest.mark.parametrize("preamble", [9, 6])
def test_samm_reads_after_preamble(tmp_path: Path, preamble: int) -> None:
    ds = load_samm_lv(make_samm(tmp_path, preamble=preamble))
    assert ds.name == "samm"
    assert ds.subjects() == ["006", "007"]
    videos = by_key(ds)
    assert sorted(videos) == ["006/006_1", "006/006_2", "007/007_3"]
    v = videos["006/006_1"]
    assert v.fps == 200.0 and v.num_frames == 15
    assert v.frame_paths[0].name == "006_1_0001.jpg"
    micro, macro = v.annotations
    assert (micro.onset, micro.apex, micro.offset, micro.type) == (2, 4, 7, "micro")
    # apex -1 (unknown): middle of the interval
    assert (macro.onset, macro.apex, macro.offset, macro.type) == (9, 11, 13, "macro")
    # offset 99 is past the 10 frames of 007_3: clamped to the last frame
    (long,) = videos["007/007_3"].annotations
    assert (long.onset, long.apex, long.offset) == (1, 2, 9)
    assert videos["006/006_2"].annotations == ()


def test_samm_missing_column_and_header_are_errors(tmp_path: Path) -> None:
    header = [h for h in SAMM_HEADER if h != "Offset"]
    with pytest.raises(DatasetError, match="'offset'"):
        load_samm_lv(make_samm(tmp_path / "a", header=header))
    with pytest.raises(DatasetError, match="Subject"):
        load_samm_lv(make_samm(tmp_path / "b", header=["Who", "What"]))


def test_samm_unknown_video_names_the_row(tmp_path: Path) -> None:
    rows = [SAMM_ROWS[0], [9, "009_1_1", 1, 1.0, 2.0, 3.0, 3, "Macro", "", ""]]
    with pytest.raises(DatasetError, match=r"row 12.*009_1"):
        load_samm_lv(make_samm(tmp_path, rows=rows))
