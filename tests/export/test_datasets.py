"""Dataset readers: CAS(ME)^2, SAMM Long Videos and the generic CSV layout, on fixture trees."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import openpyxl
import pytest

from export.datasets import (
    Annotation,
    Dataset,
    DatasetError,
    FrameReadError,
    VideoItem,
    detect_format,
    frame_labels,
    iter_frames,
    load_casme2,
    load_dataset,
    load_generic,
    load_samm_lv,
    write_generic_annotations,
    write_generic_videos,
)

# --------------------------------------------------------------------------------------------
# Fixture builders
# --------------------------------------------------------------------------------------------


def write_frames(folder: Path, names: list[str]) -> list[Path]:
    """Tiny frames whose grey level encodes their true order (10 * position)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, name in enumerate(names):
        img = np.full((8, 8, 3), 10 * i, dtype=np.uint8)
        path = folder / name
        assert cv2.imwrite(str(path), img)
        paths.append(path)
    return paths


def write_xlsx(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        ws = book.create_sheet(title)
        for row in rows:
            ws.append(row)
    book.save(path)
    return path


CASME_MAIN = [
    # subject no., expression, onset, apex, offset, AUs, emotion, type, self-report
    [1, "anger1_1", 3, 5, 9, "4+7", "negative", "micro-expression", "anger"],
    [1, "anger1_2", 2, 11, 0, "4", "negative", "macro-expression", "anger"],  # offset 0
    [1.0, " disgust1_1 ", 2.0, 3.0, 4.0, "9", "negative", "Macro-expression ", "disgust"],
    [2, "anger1_1", 1, 2, 3, "12", "positive", "micro-expression", "happy"],
]
CASME_SUBJECTS = [[15, "s15", 1], [16, "s16", 2]]
CASME_VIDEOS = [[101, "disgust1"], [401, "anger1"], [402, "anger2"]]


def make_casme2(root: Path, main: list[list[object]] | None = None,
                subjects: list[list[object]] | None = CASME_SUBJECTS,
                videos: list[list[object]] | None = CASME_VIDEOS) -> Path:
    rawpic = root / "rawpic"
    # img1..img12: lexical order would put img10 before img2
    write_frames(rawpic / "s15" / "15_0401girlcrashing", [f"img{i}.jpg" for i in range(1, 13)])
    # zero-padded copy style
    write_frames(rawpic / "s15" / "15_0101disgustingteeth",
                 [f"img{i:03d}.jpg" for i in range(1, 6)])
    write_frames(rawpic / "s16" / "16_0401girlcrashing", [f"img{i}.jpg" for i in range(1, 5)])
    write_frames(rawpic / "s16" / "16_0402beatingpregnantwoman", ["img1.jpg", "img2.jpg"])
    sheets: dict[str, list[list[object]]] = {"CASFEcode_final": CASME_MAIN if main is None
                                             else main}
    if subjects is not None:
        sheets["naming rule1"] = subjects
    if videos is not None:
        sheets["naming rule2"] = videos
    write_xlsx(root / "CAS(ME)^2code_final.xlsx", sheets)
    return root


SAMM_HEADER = ["Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset", "Duration",
               "Type", "Action Units", "Notes"]
SAMM_ROWS = [
    [6, "006_1_1", 1, 3.0, 5.0, 8.0, 6, "Micro - 1/2", "R12", ""],
    [6, "006_1_2", 1, 10.0, -1.0, 14.0, 5, "Macro", "4", "apex unknown"],
    [7, "007_3_1", 3, 2.0, 3.0, 99.0, 98, "Macro", "12", "offset past the end"],
]


def make_samm(root: Path, preamble: int = 9, rows: list[list[object]] | None = None,
              header: list[str] | None = None) -> Path:
    frames = root / "SAMM_longvideos"
    write_frames(frames / "006_1", [f"006_1_{i:04d}.jpg" for i in range(1, 16)])
    write_frames(frames / "006_2", [f"006_2_{i:04d}.jpg" for i in range(1, 4)])
    write_frames(frames / "007_3", [f"007_3_{i:05d}.jpg" for i in range(1, 11)])
    sheet = [["SAMM Long Videos - FACS codes"]] + [[f"note {i}"] for i in range(preamble - 1)]
    sheet.append(SAMM_HEADER if header is None else header)
    sheet += SAMM_ROWS if rows is None else rows
    write_xlsx(root / "SAMM_LongVideos_V2_Release.xlsx", {"FACS_Movement_Only": sheet})
    return root


def write_mp4(path: Path, num_frames: int, size: int = 32) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (size, size))
    assert writer.isOpened()
    for i in range(num_frames):
        writer.write(np.full((size, size, 3), 8 * i, dtype=np.uint8))
    writer.release()
    return path


def make_generic(root: Path, annotations: str, videos_csv: str | None = None) -> Path:
    write_frames(root / "subA" / "clip1", [f"{i}.png" for i in range(12)])
    write_mp4(root / "subA" / "clip2.mp4", 6)
    write_frames(root / "subB" / "clip1", [f"f{i:02d}.jpg" for i in range(5)])
    (root / "annotations.csv").write_text(annotations)
    if videos_csv is not None:
        (root / "videos.csv").write_text(videos_csv)
    return root


GENERIC_ANN = ("subject,video,onset,apex,offset,type\n"
               "subA,clip1,2,3,4,micro\n"
               "subA,clip1,1,5,10,macro\n"
               "subA,clip2,0,1,2,macro\n")

# --------------------------------------------------------------------------------------------
# CAS(ME)^2
# --------------------------------------------------------------------------------------------


def by_key(ds: Dataset) -> dict[str, VideoItem]:
    return {v.key: v for v in ds.videos}


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


# --------------------------------------------------------------------------------------------
# SAMM Long Videos
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Generic layout
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Format detection, labels, frames
# --------------------------------------------------------------------------------------------


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


def test_iter_frames_names_unreadable_and_missing_files(tmp_path: Path) -> None:
    paths = write_frames(tmp_path / "v", [f"{i}.jpg" for i in range(4)])
    paths[2].write_bytes(b"not a jpeg")
    item = VideoItem("s", "v", tmp_path / "v", tuple(paths), 30.0, 4)
    frames = iter_frames(item)
    next(frames), next(frames)
    with pytest.raises(FrameReadError, match=r"2\.jpg \(frame index 2\)") as info:
        next(frames)
    assert info.value.index == 2 and info.value.path == paths[2]
    paths[1].unlink()
    with pytest.raises(FileNotFoundError, match=r"1\.jpg \(frame index 1\)"):
        list(iter_frames(item))
    missing = VideoItem("s", "v", tmp_path / "nope.mp4", None, 30.0, None)
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        list(iter_frames(missing))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 64)
    with pytest.raises(FrameReadError, match="broken.mp4"):
        list(iter_frames(VideoItem("s", "v", broken, None, 30.0, None)))


def test_iter_frames_reports_a_short_video(tmp_path: Path) -> None:
    path = write_mp4(tmp_path / "short.mp4", 5)
    with pytest.raises(FrameReadError, match=r"short\.mp4 \(frame index 5\).*5 of 9"):
        list(iter_frames(VideoItem("s", "v", path, None, 25.0, 9)))


def test_dataset_select_and_key(tmp_path: Path) -> None:
    ds = load_generic(make_generic(tmp_path, GENERIC_ANN))
    assert ds.select(["subB"]).subjects() == ["subB"]
    with pytest.raises(ValueError, match="unknown subjects"):
        ds.select(["subC"])
    assert ds.key().startswith("generic-")
    assert ds.key() == load_generic(tmp_path).key()
