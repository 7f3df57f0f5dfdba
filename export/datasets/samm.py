"""SAMM Long Videos: ``SAMM_longvideos/`` frames plus ``SAMM_LongVideos_V*_Release.xlsx``.

Layout: ``SAMM_longvideos/<sub>_<n>/<sub>_<n>_<frame>.jpg`` (``006_1/006_1_0001.jpg``; the
frame number is 1-based and zero-padded to 4 or 5 digits; frames are sorted by number).
There is no subject folder: the subject is the part before the first ``_``. 200 fps.

Workbook (sheet ``FACS_Movement_Only``, else the first): about ten rows of description, then
a header row with Subject, Filename, Inducement Code, Onset, Apex, Offset, Duration, Type,
Action Units, Notes. The header row is found by its "Subject" and "Filename" cells and
columns are taken by header name, not position. ``Filename`` ``006_1_2`` names video
``006_1`` (expression 2). Type ``Macro`` -> macro, ``Micro - 1/2`` (anything starting with
"micro") -> micro. Frame numbers are the 1-based numbers in the image names.

Conversion: frame number ``N`` becomes the 0-based position of ``<video>_<N>.jpg`` in the
sorted frame list (``006_1_0001.jpg`` is frame 0). Every video folder is listed.

Tolerant of: onset/apex/offset stored as floats (rounded); apex -1 or 0 (unknown: the middle
of onset..offset is used) and an apex outside onset..offset (clamped into it); onset 0 (the
apex is used, as other public SAMM readers do) and offset 0 (the apex); offsets past the
last image (clamped: a few V2 rows end beyond their video) and numbers falling in a gap
(the next existing frame); a varying number of preamble rows; header text case and
whitespace; empty rows; a Filename that is already a video folder name; any workbook
named ``SAMM_LongVideos*.xlsx``; a frame folder spelled in another letter case.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from realtime.vocab import natural_key

from .frames import dataset_folders, frame_numbers, numbered_frame_folders
from .items import Annotation, Dataset, DatasetError, VideoItem, annotation_order
from .sheets import cell_text, expression_type, read_workbook, sheet_annotation, to_int

SAMM_FPS = 200.0
_COLUMNS = ("filename", "onset", "apex", "offset", "type")


def load_samm_lv(root: str | Path) -> Dataset:
    """Read SAMM Long Videos (layout, workbook and tolerances: this module's docstring)."""
    root, frames_root = dataset_folders(root, "SAMM_longvideos", "SAMM Long Videos", "SAMM")
    workbook_path = samm_workbook(root, required=True)
    assert workbook_path is not None
    videos = numbered_frame_folders(frames_root)
    if not videos:
        raise DatasetError(f"no frame folders with images under {frames_root}")
    per_video = _read_annotations(workbook_path, videos)
    items = [
        VideoItem(video.split("_")[0], video, frames_root / video, frames, SAMM_FPS,
                  len(frames), tuple(sorted(per_video.get(video, ()), key=annotation_order)))
        for video, frames in videos.items()
    ]
    return Dataset("samm", root, tuple(items))


def _read_annotations(workbook_path: Path, videos: dict[str, tuple[Path, ...]]
                      ) -> dict[str, list[Annotation]]:
    """The workbook's expressions per video folder."""
    sheets = read_workbook(workbook_path)
    sheet_name = next((n for n in sheets if n.strip().lower() == "facs_movement_only"),
                      next(iter(sheets)))
    rows = sheets[sheet_name]
    where = f"{workbook_path.name} sheet {sheet_name!r}"
    header_index, columns = _header(rows, where)
    per_video: dict[str, list[Annotation]] = {}
    for i in range(header_index + 1, len(rows)):
        row = list(rows[i]) + [None] * (max(columns.values()) + 1)
        filename = cell_text(row[columns["filename"]])
        if not filename:
            continue
        here = f"{where} row {i + 1}"
        video = _samm_video(filename, videos, here)
        kind = expression_type(row[columns["type"]], here)
        onset, apex, offset = (to_int(row[columns[c]]) for c in ("onset", "apex", "offset"))
        ann = sheet_annotation(video.split("_")[0], video, onset, apex, offset, kind,
                               frame_numbers(videos[video]), here)
        per_video.setdefault(video, []).append(ann)
    return per_video


def _header(rows: list[tuple[Any, ...]], where: str) -> tuple[int, dict[str, int]]:
    """Index of the header row (the first with "Subject" and "Filename" cells) and the column
    of each field the reader needs."""
    header_index = None
    for i, row in enumerate(rows[:50]):
        labels = {cell_text(c).lower() for c in row}
        if "subject" in labels and "filename" in labels:
            header_index = i
            break
    if header_index is None:
        raise DatasetError(f"{where}: no header row with 'Subject' and 'Filename' cells in the "
                           f"first 50 rows")
    header = [cell_text(c).lower() for c in rows[header_index]]
    columns = {}
    for name in _COLUMNS:
        if name not in header:
            raise DatasetError(f"{where} row {header_index + 1}: header has no {name!r} column "
                               f"(found {[h for h in header if h]})")
        columns[name] = header.index(name)
    return header_index, columns


def samm_workbook(root: Path, required: bool) -> Path | None:
    """The annotation workbook in ``root``, the newest release when there are several (None,
    or an error if ``required``, when absent)."""
    exact = root / "SAMM_LongVideos_V2_Release.xlsx"
    if exact.is_file():
        return exact
    found = sorted((p for p in root.glob("*.xlsx") if p.name.lower().startswith("samm_longvideos")
                    and not p.name.startswith("~$")), key=natural_key)
    if found:
        return found[-1]  # the newest release
    if required:
        raise FileNotFoundError(f"SAMM annotation workbook missing: expected {exact} "
                                f"(or another SAMM_LongVideos*.xlsx in {root})")
    return None


def _samm_video(filename: str, videos: dict[str, tuple[Path, ...]], where: str) -> str:
    if filename in videos:
        return filename
    parts = filename.split("_")
    candidate = "_".join(parts[:2])
    if len(parts) >= 2 and candidate in videos:
        return candidate
    raise DatasetError(f"{where}: Filename {filename!r} names video {candidate!r}, which has no "
                       f"frame folder under SAMM_longvideos/")
