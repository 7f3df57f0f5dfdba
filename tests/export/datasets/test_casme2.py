"""CAS(ME)^2 reader on fixture trees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from export.datasets import DatasetError, iter_frames, load_casme2

from .builders import CASME_MAIN, by_key, make_casme2


def test_casme2_reads_subjects_videos_and_zero_based_frames(tmp_path: Path) -> None:
    ds = load_casme2(make_casme2(tmp_path))
    assert ds.name == "casme2"
    assert ds.subjects() == ["s15", "s16"]
    videos = by_key(ds)
    assert sorted(videos) == ["s15/15_0101disgustingteeth", "s15/15_0401girlcrashing",
                              "s16/16_0401girlcrashing", "s16/16_0402beatingpregnantwoman"]
    anger = videos["s15/15_0401girlcrashing"]
    assert anger.fps == 30.0 and anger.num_frames == 12
    assert [p.name for p in anger.frame_paths][8:11] == ["img9.jpg", "img10.jpg", "img11.jpg"]
    macro, micro = anger.annotations  # sorted by onset
    # sheet row 1: onset 3, apex 5, offset 9 (1-based img numbers) -> 2, 4, 8
    assert (micro.onset, micro.apex, micro.offset, micro.type) == (2, 4, 8, "micro")
    # sheet row 2: offset 0 means "use the apex" (11 -> index 10)
    assert (macro.onset, macro.apex, macro.offset, macro.type) == (1, 10, 10, "macro")
    disgust = videos["s15/15_0101disgustingteeth"].annotations
    assert [(a.onset, a.apex, a.offset, a.type) for a in disgust] == [(1, 2, 3, "macro")]
    assert videos["s16/16_0402beatingpregnantwoman"].annotations == ()  # no expressions: kept
    assert len(ds.annotations()) == 4
    assert [v.video for v in ds.by_subject()["s16"]] == ["16_0401girlcrashing",
                                                         "16_0402beatingpregnantwoman"]


def test_casme2_frames_decode_in_numeric_order(tmp_path: Path) -> None:
    ds = load_casme2(make_casme2(tmp_path))
    frames = list(iter_frames(by_key(ds)["s15/15_0401girlcrashing"]))
    assert len(frames) == 12 and frames[0].dtype == np.uint8 and frames[0].shape == (8, 8, 3)
    levels = [int(f.mean()) for f in frames]
    assert levels == sorted(levels)  # written with level 10 * position


def test_casme2_without_mapping_sheets_uses_folder_order_and_published_codes(
        tmp_path: Path) -> None:
    with_maps = load_casme2(make_casme2(tmp_path / "a"))
    without = load_casme2(make_casme2(tmp_path / "b", subjects=None, videos=None))
    strip = [(a.subject, a.video, a.onset, a.apex, a.offset, a.type)
             for a in with_maps.annotations()]
    assert [(a.subject, a.video, a.onset, a.apex, a.offset, a.type)
            for a in without.annotations()] == strip


def test_casme2_accepts_subject_folder_names_and_a_header_row(tmp_path: Path) -> None:
    main = [["subject", "name", "onset", "apex", "offset", "AU", "emotion", "type", "self"],
            ["s16", "anger2_1", 1, 1, 2, "", "", "micro-expression", ""]]
    ds = load_casme2(make_casme2(tmp_path, main=main))
    (ann,) = ds.annotations()
    assert (ann.subject, ann.video, ann.onset, ann.offset) == (
        "s16", "16_0402beatingpregnantwoman", 0, 1)


@pytest.mark.parametrize("row, message", [
    ([3, "anger1_1", 1, 2, 3, "", "", "micro-expression", ""], "subject number 3"),
    ([1, "fear1_1", 1, 2, 3, "", "", "micro-expression", ""], "'fear1'"),
    ([1, "anger2_1", 1, 2, 3, "", "", "micro-expression", ""], "no video folder"),
    ([1, "anger1_1", 1, 2, 3, "", "", "smile", ""], "neither micro nor macro"),
    ([1, "anger1_1", 5, 6, 3, "", "", "micro-expression", ""], "after offset"),
])
def test_casme2_bad_rows_name_the_sheet_row(tmp_path: Path, row: list[object],
                                            message: str) -> None:
    main = [CASME_MAIN[0], row]
    with pytest.raises(DatasetError, match=message) as info:
        load_casme2(make_casme2(tmp_path, main=main))
    assert "row 2" in str(info.value) and "code_final.xlsx" in str(info.value)


def test_casme2_missing_files_are_named(tmp_path: Path) -> None:
    root = make_casme2(tmp_path)
    (root / "CAS(ME)^2code_final.xlsx").unlink()
    with pytest.raises(FileNotFoundError, match=r"code_final\.xlsx"):
        load_casme2(root)
    with pytest.raises(FileNotFoundError, match="rawpic"):
        load_casme2(tmp_path / "rawpic" / "s15")
