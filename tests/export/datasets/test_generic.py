"""Generic CSV layout: reader and writers on fixture trees."""

from __future__ import annotations

from pathlib import Path

import pytest

from export.datasets import (
    DatasetError,
    iter_frames,
    load_generic,
    write_generic_annotations,
    write_generic_videos,
)

from .builders import GENERIC_ANN, by_key, make_generic


def test_generic_scans_subject_folders(tmp_path: Path) -> None:
    ds = load_generic(make_generic(tmp_path, GENERIC_ANN))
    videos = by_key(ds)
    assert sorted(videos) == ["subA/clip1", "subA/clip2", "subB/clip1"]
    folder = videos["subA/clip1"]
    assert folder.num_frames == 12 and folder.fps == 30.0
    assert [p.name for p in folder.frame_paths][9:11] == ["9.png", "10.png"]
    assert [(a.onset, a.apex, a.offset, a.type) for a in folder.annotations] == [
        (1, 5, 10, "macro"), (2, 3, 4, "micro")]
    video = videos["subA/clip2"]
    assert video.frame_paths is None and video.source.suffix == ".mp4"
    assert video.fps == pytest.approx(25.0)  # the container's rate
    assert len(list(iter_frames(video))) == 6
    assert videos["subB/clip1"].annotations == ()
    assert load_generic(tmp_path, fps=100.0).videos[0].fps == 100.0


def test_generic_videos_csv(tmp_path: Path) -> None:
    videos_csv = ("subject,video,path,fps,num_frames\n"
                  "subA,clip1,subA/clip1,50,12\n"
                  "subA,clip2,subA/clip2.mp4,,\n")
    ds = load_generic(make_generic(tmp_path, GENERIC_ANN, videos_csv))
    videos = by_key(ds)
    assert sorted(videos) == ["subA/clip1", "subA/clip2"]  # videos.csv is the full list
    assert videos["subA/clip1"].fps == 50.0
    assert videos["subA/clip2"].num_frames is None


def test_generic_round_trip_through_writers(tmp_path: Path) -> None:
    src = load_generic(make_generic(tmp_path / "a", GENERIC_ANN))
    write_generic_annotations(tmp_path / "a" / "copy" / "annotations.csv", src.annotations())
    write_generic_videos(tmp_path / "a" / "copy" / "videos.csv", src.videos, tmp_path / "a")
    (tmp_path / "a" / "copy" / "videos.csv").write_text(
        (tmp_path / "a" / "copy" / "videos.csv").read_text().replace(",subA/", ",../subA/")
        .replace(",subB/", ",../subB/"))
    copy = load_generic(tmp_path / "a" / "copy")
    assert copy.annotations() == src.annotations()
    assert [(v.key, v.num_frames) for v in copy.videos] == [(v.key, v.num_frames)
                                                            for v in src.videos]


@pytest.mark.parametrize("line, message", [
    ("subA,clip9,1,2,3,micro", "unknown video subA/clip9"),
    ("subA,clip1,1,2,x,micro", "offset 'x'"),
    ("subA,clip1,1,2,3,mini", "type 'mini'"),
    ("subA,clip1,5,2,3,micro", "onset"),
    ("subA,clip1,1,2,12,micro", "past the video's last frame 11"),
])
def test_generic_bad_annotation_names_the_line(tmp_path: Path, line: str, message: str) -> None:
    make_generic(tmp_path, GENERIC_ANN + line + "\n")
    with pytest.raises(DatasetError, match=message) as info:
        load_generic(tmp_path)
    assert "annotations.csv line 5" in str(info.value)


def test_generic_missing_column_is_named(tmp_path: Path) -> None:
    make_generic(tmp_path, "subject,video,onset,offset,type\nsubA,clip1,1,2,micro\n")
    with pytest.raises(DatasetError, match=r"missing column\(s\) \['apex'\]"):
        load_generic(tmp_path)
