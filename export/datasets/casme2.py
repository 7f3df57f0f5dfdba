"""CAS(ME)^2 long videos: ``rawpic/`` frames plus ``CAS(ME)^2code_final.xlsx``.

Layout: ``rawpic/<subject>/<video>/img<N>.jpg`` (e.g. ``rawpic/s15/15_0401girlcrashing``),
``N`` the 1-based frame number, written ``img1.jpg`` or zero-padded ``img001.jpg``; frames
are sorted by that number, so ``img10`` follows ``img9``. 30 fps.

Workbook: the first sheet has no header row; columns are subject number, expression name
(``anger1_1``: stimulus ``anger1``, expression 1), onset, apex, offset, AUs, emotion,
type (``micro-expression`` / ``macro-expression``), self-reported emotion. Frame numbers
are the 1-based ``N`` of ``img<N>.jpg``. The sheet "naming rule1" maps subject numbers to
folders (column B folder ``s15``, column C number ``1``); "naming rule2" maps stimulus codes to
names (column A code ``401`` or ``0401``, column B ``anger1``). A video folder matches when its
name after the first ``_`` starts with the 4-digit code.

Conversion: frame number ``N`` becomes the 0-based position of ``img<N>`` in the sorted frame
list (``img1.jpg`` is frame 0). Every video folder is listed, with or without annotations.

Tolerant of: number cells stored as floats (``12.0``) or text; extra whitespace and case in
names and types; offset 0 (means "not coded": the apex is used) and likewise onset 0; apex
0 or -1 (unknown: the middle of onset..offset is used) and an apex outside onset..offset
(clamped into it); frame numbers past the last image (clamped to the last frame) or falling
in a gap (the next existing frame); a header row at the top of the first sheet (skipped);
a nested ``rawpic/rawpic/``; a workbook named ``*code_final*.xlsx``; mapping sheets found by
name ("rule1"/"rule2") or else by their content; a missing subject sheet (subject number
``k`` then means the k-th subject folder in natural order, which reproduces the published
1 -> s15 ... 22 -> s40 map) or subject cells already holding the folder name; a missing
video sheet (the nine published stimulus codes are used); a sheet name that is already a
folder name or a bare code; the type found in another column when column H does not hold it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from realtime.vocab import natural_key

from .frames import dataset_folders, find_child, frame_numbers, numbered_frame_folders, subdirs
from .items import Annotation, Dataset, DatasetError, VideoItem, annotation_order
from .sheets import cell_text, expression_type, read_workbook, row_empty, sheet_annotation, to_int

CASME2_FPS = 30.0

# CAS(ME)^2 stimulus names -> stimulus codes, used only when the workbook lacks its
# "naming rule2" sheet. Codes as published with the dataset (folder names like 15_0401girlcrashing).
_CASME2_VIDEO_CODES: dict[str, str] = {
    "disgust1": "0101", "disgust2": "0102", "anger1": "0401", "anger2": "0402",
    "happy1": "0502", "happy2": "0503", "happy3": "0505", "happy4": "0507", "happy5": "0508",
}

_Folders = dict[str, dict[str, tuple[Path, ...]]]  # subject -> video -> sorted frame files


def load_casme2(root: str | Path) -> Dataset:
    """Read CAS(ME)^2 long videos (layout, workbook and tolerances: this module's docstring)."""
    root, rawpic = dataset_folders(root, "rawpic", "CAS(ME)^2", "CAS(ME)^2")
    nested = find_child(rawpic, "rawpic", want_dir=True)
    if nested is not None:
        rawpic = nested
    workbook_path = casme2_workbook(root, required=True)
    assert workbook_path is not None
    folders: _Folders = {}
    for subject_dir in sorted(subdirs(rawpic), key=natural_key):
        videos = numbered_frame_folders(subject_dir)
        if videos:
            folders[subject_dir.name] = videos
    if not folders:
        raise DatasetError(f"no frame folders with images under {rawpic}")
    per_video = _read_annotations(workbook_path, folders)
    items = [
        VideoItem(subject, video, rawpic / subject / video, frames, CASME2_FPS, len(frames),
                  tuple(sorted(per_video.get((subject, video), ()), key=annotation_order)))
        for subject, videos in folders.items() for video, frames in videos.items()
    ]
    return Dataset("casme2", root, tuple(items))


def _read_annotations(workbook_path: Path, folders: _Folders
                      ) -> dict[tuple[str, str], list[Annotation]]:
    """The workbook's expressions per (subject, video) folder."""
    sheets = read_workbook(workbook_path)
    names = list(sheets)
    subject_map, video_map = _casme2_maps(sheets, names[1:])
    if video_map is None:
        video_map = dict(_CASME2_VIDEO_CODES)
    subject_dirs = list(folders)
    per_video: dict[tuple[str, str], list[Annotation]] = {}
    where = f"{workbook_path.name} sheet {names[0]!r}"
    for row_number, row in enumerate(sheets[names[0]], start=1):
        if row_empty(row):
            continue
        cells = list(row) + [None] * max(0, 9 - len(row))
        if row_number == 1 and to_int(cells[2]) is None:
            continue  # a header row some copies carry
        here = f"{where} row {row_number}"
        subject = _casme2_subject(cells[0], subject_map, subject_dirs, here)
        video = _casme2_video(cells[1], folders[subject], video_map, here)
        kind = expression_type(cells[7], here, fallback=cells)
        onset, apex, offset = (to_int(c) for c in cells[2:5])
        ann = sheet_annotation(subject, video, onset, apex, offset, kind,
                               frame_numbers(folders[subject][video]), here)
        per_video.setdefault((subject, video), []).append(ann)
    return per_video


def casme2_workbook(root: Path, required: bool) -> Path | None:
    """The annotation workbook in ``root`` (None, or an error if ``required``, when absent)."""
    exact = root / "CAS(ME)^2code_final.xlsx"
    if exact.is_file():
        return exact
    found = sorted(p for p in root.glob("*.xlsx")
                   if "code_final" in p.name.lower() and not p.name.startswith("~$"))
    if found:
        return found[0]
    if required:
        raise FileNotFoundError(f"CAS(ME)^2 annotation workbook missing: expected {exact} "
                                f"(or another *code_final*.xlsx in {root})")
    return None


def _casme2_maps(sheets: dict[str, list[tuple[Any, ...]]], names: list[str]
                 ) -> tuple[dict[int, str] | None, dict[str, str] | None]:
    """Subject-number -> folder map and stimulus-name -> code map from the extra sheets."""
    subject_map: dict[int, str] | None = None
    video_map: dict[str, str] | None = None
    by_name = {n: n.lower().replace(" ", "") for n in names}
    ordered = ([n for n in names if "rule1" in by_name[n]] + [n for n in names if "rule2" in
               by_name[n]] + [n for n in names if "rule1" not in by_name[n]
                              and "rule2" not in by_name[n]])
    for name in ordered:
        rows = [r for r in sheets[name] if not row_empty(r)]
        if subject_map is None:
            subject_map = _parse_subject_sheet(rows)
            if subject_map is not None:
                continue
        if video_map is None:
            video_map = _parse_video_sheet(rows)
    return subject_map, video_map


def _parse_subject_sheet(rows: list[tuple[Any, ...]]) -> dict[int, str] | None:
    out: dict[int, str] = {}
    for row in rows:
        folder = cell_text(row[1]) if len(row) > 1 else ""
        number = to_int(row[2]) if len(row) > 2 else None
        if not re.fullmatch(r"s\d+", folder.lower()) or number is None:
            return None
        out[number] = folder
    return out or None


def _parse_video_sheet(rows: list[tuple[Any, ...]]) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for row in rows:
        code = to_int(row[0]) if row else None
        name = cell_text(row[1]).lower() if len(row) > 1 else ""
        if code is None or not name or to_int(name) is not None:
            return None
        out[name] = f"{code:04d}"
    return out or None


def _casme2_subject(cell: Any, subject_map: dict[int, str] | None, subject_dirs: list[str],
                    where: str) -> str:
    text = cell_text(cell)
    lookup = {d.lower(): d for d in subject_dirs}
    if text.lower() in lookup:
        return lookup[text.lower()]
    number = to_int(cell)
    if number is None:
        raise DatasetError(f"{where}: subject cell {cell!r} is neither a number nor a folder")
    if subject_map is not None:
        folder = subject_map.get(number)
        if folder is None:
            raise DatasetError(f"{where}: subject number {number} is not in the subject sheet")
        if folder.lower() not in lookup:
            raise DatasetError(f"{where}: subject folder {folder!r} (number {number}) has no "
                               f"frames under rawpic/")
        return lookup[folder.lower()]
    if not 1 <= number <= len(subject_dirs):
        raise DatasetError(f"{where}: subject number {number} but only {len(subject_dirs)} "
                           f"subject folders and no subject sheet to map it")
    return subject_dirs[number - 1]


def _casme2_video(cell: Any, videos: dict[str, tuple[Path, ...]], video_map: dict[str, str],
                  where: str) -> str:
    text = cell_text(cell)
    if not text:
        raise DatasetError(f"{where}: empty expression name")
    lower = {v.lower(): v for v in videos}
    if text.lower() in lower:
        return lower[text.lower()]
    stem = text.split("_")[0].strip().lower()
    code = video_map.get(stem)
    if code is None and re.fullmatch(r"\d{1,4}", stem):
        code = f"{int(stem):04d}"
    if code is None:
        raise DatasetError(f"{where}: expression name {text!r}: stimulus {stem!r} not in the "
                           f"naming sheet (known: {sorted(video_map)})")
    matches = [v for v in videos if v.split("_", 1)[-1].startswith(code)]
    if len(matches) != 1:
        problem = "no" if not matches else "several"
        raise DatasetError(f"{where}: {problem} video folder for {text!r} (code {code}) among "
                           f"{sorted(videos)}")
    return matches[0]
