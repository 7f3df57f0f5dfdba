"""Fixture trees for the dataset readers' tests: frame folders, workbooks, videos, CSVs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import openpyxl

from export.datasets import Dataset, VideoItem


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


def by_key(ds: Dataset) -> dict[str, VideoItem]:
    return {v.key: v for v in ds.videos}
