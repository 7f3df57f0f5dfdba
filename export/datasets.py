"""Readers for long-video spotting datasets: CAS(ME)^2, SAMM Long Videos and a generic CSV layout.

Every reader returns a :class:`Dataset` of :class:`VideoItem` s whose annotations use **0-based,
inclusive frame indices into the video's decoded frame sequence** (the sorted frame list of a
frame folder, or the decode order of a video file). Converting the datasets' own 1-based
spreadsheet numbers happens here, once, so training and evaluation never see them.

Pure numpy / opencv / openpyxl: importable without torch.
"""

from __future__ import annotations

import bisect
import csv
import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

ExpressionType = Literal["micro", "macro"]
EXPRESSION_TYPES: tuple[str, ...] = ("micro", "macro")
IMAGE_SUFFIXES: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})
VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".avi", ".mov", ".mkv")
CASME2_FPS = 30.0
SAMM_FPS = 200.0
DEFAULT_FPS = 30.0
FORMATS: tuple[str, ...] = ("auto", "casme2", "samm", "generic")

# CAS(ME)^2 stimulus names -> stimulus codes, used only when the workbook lacks its
# "naming rule2" sheet. Codes as published with the dataset (folder names like 15_0401girlcrashing).
_CASME2_VIDEO_CODES: dict[str, str] = {
    "disgust1": "0101", "disgust2": "0102", "anger1": "0401", "anger2": "0402",
    "happy1": "0502", "happy2": "0503", "happy3": "0505", "happy4": "0507", "happy5": "0508",
}


class DatasetError(ValueError):
    """A dataset's files or annotations are malformed; the message names the file and place."""


class FrameReadError(DatasetError):
    """A frame could not be decoded; carries the file and the 0-based frame index."""

    def __init__(self, path: Path, index: int | None, reason: str) -> None:
        where = f"{path}" if index is None else f"{path} (frame index {index})"
        super().__init__(f"cannot read frame: {where}: {reason}")
        self.path = path
        self.index = index


# --------------------------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Annotation:
    """One labelled expression: frames ``onset..offset`` (0-based, inclusive) of one video."""

    subject: str
    video: str
    onset: int
    apex: int
    offset: int
    type: ExpressionType

    def __post_init__(self) -> None:
        if self.type not in EXPRESSION_TYPES:
            raise ValueError(f"type must be one of {EXPRESSION_TYPES}, got {self.type!r}")
        if not 0 <= self.onset <= self.offset:
            raise ValueError(f"need 0 <= onset <= offset, got onset={self.onset} "
                             f"offset={self.offset} ({self.subject}/{self.video})")
        if not self.onset <= self.apex <= self.offset:
            raise ValueError(f"apex={self.apex} must lie in [onset={self.onset}, "
                             f"offset={self.offset}] ({self.subject}/{self.video})")

    @property
    def length_frames(self) -> int:
        return self.offset - self.onset + 1


@dataclass(frozen=True)
class VideoItem:
    """One long video: a video file or a folder of frame images, plus its annotations.

    ``frame_paths`` is the sorted frame list when ``source`` is a folder (``None`` for a video
    file); ``num_frames`` is known for folders and may be ``None`` for video files (counting
    needs a full decode; :func:`iter_frames` gives the truth).
    """

    subject: str
    video: str
    source: Path
    frame_paths: tuple[Path, ...] | None
    fps: float
    num_frames: int | None
    annotations: tuple[Annotation, ...] = ()

    def __post_init__(self) -> None:
        if not self.fps > 0:
            raise ValueError(f"fps must be > 0, got {self.fps} ({self.subject}/{self.video})")
        if self.frame_paths is not None and self.num_frames != len(self.frame_paths):
            raise ValueError(f"num_frames={self.num_frames} but {len(self.frame_paths)} frame "
                             f"paths ({self.subject}/{self.video})")
        if self.num_frames is not None and self.num_frames < 0:
            raise ValueError(f"num_frames must be >= 0, got {self.num_frames}")

    @property
    def key(self) -> str:
        return f"{self.subject}/{self.video}"


@dataclass(frozen=True)
class Dataset:
    """A named collection of videos; ``root`` is the folder it was read from."""

    name: str
    root: Path
    videos: tuple[VideoItem, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "videos", tuple(self.videos))
        object.__setattr__(self, "root", Path(self.root))

    def subjects(self) -> list[str]:
        """Subjects in natural order (s2 before s10)."""
        return sorted({v.subject for v in self.videos}, key=_natural_key)

    def by_subject(self) -> dict[str, list[VideoItem]]:
        out: dict[str, list[VideoItem]] = {s: [] for s in self.subjects()}
        for v in self.videos:
            out[v.subject].append(v)
        return out

    def annotations(self) -> list[Annotation]:
        return [a for v in self.videos for a in v.annotations]

    def select(self, subjects: Iterable[str]) -> Dataset:
        """The same dataset restricted to ``subjects`` (for subject-wise splits)."""
        keep = set(subjects)
        unknown = keep - set(self.subjects())
        if unknown:
            raise ValueError(f"unknown subjects {sorted(unknown)}; have {self.subjects()}")
        return Dataset(self.name, self.root, tuple(v for v in self.videos if v.subject in keep))

    def key(self) -> str:
        """Stable short name for caches: format name + folder name + hash of the absolute root."""
        root = self.root.resolve()
        digest = hashlib.sha1(str(root).encode()).hexdigest()[:8]
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", root.name) or "root"
        return f"{self.name}-{safe}-{digest}"


# --------------------------------------------------------------------------------------------
# Labels and frames
# --------------------------------------------------------------------------------------------


def frame_labels(num_frames: int, annotations: Iterable[Annotation],
                 class_names: Sequence[str] = ("none", "micro", "macro")) -> np.ndarray:
    """Per-frame class indices (int64, shape ``(num_frames,)``) from annotations.

    ``class_names[0]`` is the background; the others must be ``"micro"`` and/or ``"macro"``.
    Frames in ``[onset, offset]`` get the index of the annotation's type; types not listed are
    ignored (so ``("none", "micro")`` drops macro-expressions). Where a micro- and a
    macro-expression overlap, **micro wins** (it is the rarer event the spotter exists for).
    Intervals are clipped to the video length.
    """
    if num_frames < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames}")
    names = list(class_names)
    if len(names) < 2 or len(set(names)) != len(names):
        raise ValueError(f"class_names needs a background and >= 1 distinct type, got {names}")
    extra = [n for n in names[1:] if n not in EXPRESSION_TYPES]
    if extra:
        raise ValueError(f"class_names[1:] must be among {EXPRESSION_TYPES}, got {extra}")
    labels = np.zeros(num_frames, dtype=np.int64)
    anns = list(annotations)
    for kind in ("macro", "micro"):  # paint micro last so it wins overlaps
        if kind not in names:
            continue
        index = names.index(kind)
        for a in anns:
            if a.type != kind or a.onset >= num_frames:
                continue
            labels[a.onset:min(a.offset, num_frames - 1) + 1] = index
    return labels


def iter_frames(item: VideoItem) -> Iterator[np.ndarray]:
    """Yield the frames of ``item`` in order as BGR uint8 arrays, decoding each once.

    Raises :class:`FileNotFoundError` for a missing file or folder and :class:`FrameReadError`
    (naming the file and frame index) for a frame that cannot be decoded, or when a video file
    ends before its known ``num_frames``.
    """
    import cv2

    if item.frame_paths is not None or item.source.is_dir():
        paths = item.frame_paths if item.frame_paths is not None else list_frame_files(item.source)
        for index, path in enumerate(paths):
            frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if frame is None:
                if not path.exists():
                    raise FileNotFoundError(f"frame file missing: {path} (frame index {index})")
                raise FrameReadError(path, index, "not a readable image")
            yield frame
        return
    if not item.source.exists():
        raise FileNotFoundError(f"video file missing: {item.source}")
    cap = cv2.VideoCapture(str(item.source))
    try:
        if not cap.isOpened():
            raise FrameReadError(item.source, None, "OpenCV cannot open this video")
        index = 0
        while True:
            ok, frame = cap.read()
            if not ok or frame is None:
                break
            yield frame
            index += 1
        if item.num_frames is not None and index < item.num_frames:
            raise FrameReadError(item.source, index,
                                 f"decoding stopped after {index} of {item.num_frames} frames")
        if index == 0:
            raise FrameReadError(item.source, 0, "no frame could be decoded")
    finally:
        cap.release()


def list_frame_files(folder: Path) -> tuple[Path, ...]:
    """Image files directly in ``folder``, in natural order (img9 before img10)."""
    files = [p for p in folder.iterdir()
             if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")]
    return tuple(sorted(files, key=lambda p: _natural_key(p.name)))


# --------------------------------------------------------------------------------------------
# Format detection
# --------------------------------------------------------------------------------------------


def detect_format(root: str | Path) -> str:
    """``"casme2"``, ``"samm"`` or ``"generic"`` from the files present in ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {root}")
    if (root / "annotations.csv").is_file():
        return "generic"
    if _find_child(root, "rawpic", want_dir=True) and _casme2_workbook(root, required=False):
        return "casme2"
    if _find_child(root, "SAMM_longvideos", want_dir=True) and _samm_workbook(root, False):
        return "samm"
    raise DatasetError(
        f"cannot tell the dataset format of {root}: expected annotations.csv (generic), "
        f"rawpic/ + *code_final*.xlsx (CAS(ME)^2) or SAMM_longvideos/ + "
        f"SAMM_LongVideos*.xlsx (SAMM Long Videos)")


def load_dataset(root: str | Path, fmt: str = "auto", **kwargs: Any) -> Dataset:
    """Read a dataset folder; ``fmt`` is one of ``auto``, ``casme2``, ``samm``, ``generic``.

    Extra keyword arguments go to the generic reader (``fps``).
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    if fmt == "auto":
        fmt = detect_format(root)
    if fmt == "casme2":
        return load_casme2(root)
    if fmt == "samm":
        return load_samm_lv(root)
    return load_generic(root, **kwargs)


# --------------------------------------------------------------------------------------------
# CAS(ME)^2
# --------------------------------------------------------------------------------------------


def load_casme2(root: str | Path) -> Dataset:
    """Read CAS(ME)^2 long videos: ``rawpic/`` frames plus ``CAS(ME)^2code_final.xlsx``.

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
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"CAS(ME)^2 folder not found: {root}")
    rawpic = _find_child(root, "rawpic", want_dir=True)
    if rawpic is None:
        raise FileNotFoundError(f"CAS(ME)^2 frame folder missing: {root / 'rawpic'}")
    nested = _find_child(rawpic, "rawpic", want_dir=True)
    if nested is not None:
        rawpic = nested
    workbook_path = _casme2_workbook(root, required=True)
    assert workbook_path is not None

    # Frame folders.
    folders: dict[str, dict[str, tuple[Path, ...]]] = {}
    for subject_dir in sorted(_subdirs(rawpic), key=lambda p: _natural_key(p.name)):
        videos = {}
        for video_dir in sorted(_subdirs(subject_dir), key=lambda p: _natural_key(p.name)):
            frames = _numbered_frames(video_dir)
            if frames:
                videos[video_dir.name] = frames
        if videos:
            folders[subject_dir.name] = videos
    if not folders:
        raise DatasetError(f"no frame folders with images under {rawpic}")

    sheets = _read_workbook(workbook_path)
    names = list(sheets)
    main_rows = sheets[names[0]]
    subject_map, video_map = _casme2_maps(sheets, names[1:])
    if video_map is None:
        video_map = dict(_CASME2_VIDEO_CODES)
    subject_dirs = list(folders)

    per_video: dict[tuple[str, str], list[Annotation]] = {}
    where = f"{workbook_path.name} sheet {names[0]!r}"
    for row_number, row in enumerate(main_rows, start=1):
        if _row_empty(row):
            continue
        cells = list(row) + [None] * max(0, 9 - len(row))
        if row_number == 1 and _to_int(cells[2]) is None:
            continue  # a header row some copies carry
        here = f"{where} row {row_number}"
        subject = _casme2_subject(cells[0], subject_map, subject_dirs, here)
        video = _casme2_video(cells[1], folders[subject], video_map, here)
        kind = _expression_type(cells[7], here, fallback=cells)
        frames = folders[subject][video]
        onset, apex, offset = (_to_int(c) for c in cells[2:5])
        ann = _sheet_annotation(subject, video, onset, apex, offset, kind,
                                _frame_numbers(frames), here)
        per_video.setdefault((subject, video), []).append(ann)

    items = [
        VideoItem(subject, video, rawpic / subject / video, frames, CASME2_FPS, len(frames),
                  tuple(sorted(per_video.get((subject, video), ()), key=_ann_order)))
        for subject, videos in folders.items() for video, frames in videos.items()
    ]
    return Dataset("casme2", root, tuple(items))


def _casme2_workbook(root: Path, required: bool) -> Path | None:
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
        rows = [r for r in sheets[name] if not _row_empty(r)]
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
        folder = _text(row[1]) if len(row) > 1 else ""
        number = _to_int(row[2]) if len(row) > 2 else None
        if not re.fullmatch(r"s\d+", folder.lower()) or number is None:
            return None
        out[number] = folder
    return out or None


def _parse_video_sheet(rows: list[tuple[Any, ...]]) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for row in rows:
        code = _to_int(row[0]) if row else None
        name = _text(row[1]).lower() if len(row) > 1 else ""
        if code is None or not name or _to_int(name) is not None:
            return None
        out[name] = f"{code:04d}"
    return out or None


def _casme2_subject(cell: Any, subject_map: dict[int, str] | None, subject_dirs: list[str],
                    where: str) -> str:
    text = _text(cell)
    lookup = {d.lower(): d for d in subject_dirs}
    if text.lower() in lookup:
        return lookup[text.lower()]
    number = _to_int(cell)
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
    text = _text(cell)
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


# --------------------------------------------------------------------------------------------
# SAMM Long Videos
# --------------------------------------------------------------------------------------------


def load_samm_lv(root: str | Path) -> Dataset:
    """Read SAMM Long Videos: ``SAMM_longvideos/`` frames plus ``SAMM_LongVideos_V*_Release.xlsx``.

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
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"SAMM Long Videos folder not found: {root}")
    frames_root = _find_child(root, "SAMM_longvideos", want_dir=True)
    if frames_root is None:
        raise FileNotFoundError(f"SAMM frame folder missing: {root / 'SAMM_longvideos'}")
    workbook_path = _samm_workbook(root, required=True)
    assert workbook_path is not None

    videos: dict[str, tuple[Path, ...]] = {}
    for video_dir in sorted(_subdirs(frames_root), key=lambda p: _natural_key(p.name)):
        frames = _numbered_frames(video_dir)
        if frames:
            videos[video_dir.name] = frames
    if not videos:
        raise DatasetError(f"no frame folders with images under {frames_root}")

    sheets = _read_workbook(workbook_path)
    sheet_name = next((n for n in sheets if n.strip().lower() == "facs_movement_only"),
                      next(iter(sheets)))
    rows = sheets[sheet_name]
    where = f"{workbook_path.name} sheet {sheet_name!r}"
    header_index = None
    for i, row in enumerate(rows[:50]):
        labels = {_text(c).lower() for c in row}
        if "subject" in labels and "filename" in labels:
            header_index = i
            break
    if header_index is None:
        raise DatasetError(f"{where}: no header row with 'Subject' and 'Filename' cells in the "
                           f"first 50 rows")
    header = [_text(c).lower() for c in rows[header_index]]
    columns = {}
    for name in ("filename", "onset", "apex", "offset", "type"):
        if name not in header:
            raise DatasetError(f"{where} row {header_index + 1}: header has no {name!r} column "
                               f"(found {[h for h in header if h]})")
        columns[name] = header.index(name)

    per_video: dict[str, list[Annotation]] = {}
    for i in range(header_index + 1, len(rows)):
        row = list(rows[i]) + [None] * len(header)
        filename = _text(row[columns["filename"]])
        if not filename:
            continue
        here = f"{where} row {i + 1}"
        video = _samm_video(filename, videos, here)
        kind = _expression_type(row[columns["type"]], here)
        onset, apex, offset = (_to_int(row[columns[c]]) for c in ("onset", "apex", "offset"))
        subject = video.split("_")[0]
        ann = _sheet_annotation(subject, video, onset, apex, offset, kind,
                                _frame_numbers(videos[video]), here)
        per_video.setdefault(video, []).append(ann)

    items = [
        VideoItem(video.split("_")[0], video, frames_root / video, frames, SAMM_FPS,
                  len(frames), tuple(sorted(per_video.get(video, ()), key=_ann_order)))
        for video, frames in videos.items()
    ]
    return Dataset("samm", root, tuple(items))


def _samm_workbook(root: Path, required: bool) -> Path | None:
    exact = root / "SAMM_LongVideos_V2_Release.xlsx"
    if exact.is_file():
        return exact
    found = sorted((p for p in root.glob("*.xlsx") if p.name.lower().startswith("samm_longvideos")
                    and not p.name.startswith("~$")), key=lambda p: _natural_key(p.name))
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


# --------------------------------------------------------------------------------------------
# Generic CSV layout
# --------------------------------------------------------------------------------------------

_ANNOTATION_COLUMNS = ("subject", "video", "onset", "apex", "offset", "type")
_VIDEO_COLUMNS = ("subject", "video", "path", "fps")


def load_generic(root: str | Path, fps: float | None = None) -> Dataset:
    """Read the generic layout (the one ``python -m export synth`` writes).

    ``ROOT/annotations.csv``: columns ``subject,video,onset,apex,offset,type``; frames 0-based
    and inclusive; type ``micro`` or ``macro``. ``ROOT/videos.csv`` (optional): columns
    ``subject,video,path,fps[,num_frames]``, ``path`` relative to ROOT, a video file or a folder
    of frame images. Without ``videos.csv`` the videos are ``ROOT/<subject>/<video>.mp4`` (or
    ``.avi``, ``.mov``, ``.mkv``) and ``ROOT/<subject>/<video>/`` folders holding images (sorted by
    name, numbers compared as numbers); folders without images are ignored.

    fps: a row's ``fps`` cell when given; otherwise ``fps`` if given; otherwise a video file's
    container rate (30 if it reports none) and 30 for frame folders.

    A video without annotations is valid. An annotation naming an unknown video, a bad number,
    a bad type, onset > offset, an apex outside onset..offset or an offset past a known
    ``num_frames`` is an error naming the file and line.
    """
    root = Path(root)
    if fps is not None and not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    ann_path = root / "annotations.csv"
    if not ann_path.is_file():
        raise FileNotFoundError(f"generic dataset: annotations file missing: {ann_path}")
    videos_csv = root / "videos.csv"
    if videos_csv.is_file():
        sources = _generic_videos_from_csv(root, videos_csv, fps)
    else:
        sources = _generic_videos_from_tree(root, fps)

    per_video: dict[tuple[str, str], list[Annotation]] = {}
    for line, row in _read_csv(ann_path, _ANNOTATION_COLUMNS):
        here = f"{ann_path} line {line}"
        key = (row["subject"], row["video"])
        if key not in sources:
            place = "in videos.csv" if videos_csv.is_file() else f"under {root}"
            raise DatasetError(f"{here}: unknown video {key[0]}/{key[1]} (no such video {place})")
        numbers = []
        for name in ("onset", "apex", "offset"):
            value = _to_int(row[name], strict=True)
            if value is None:
                raise DatasetError(f"{here}: {name} {row[name]!r} is not a whole number")
            numbers.append(value)
        kind = row["type"].lower()
        if kind not in EXPRESSION_TYPES:
            raise DatasetError(f"{here}: type {row['type']!r} must be 'micro' or 'macro'")
        num_frames = sources[key][3]
        if num_frames is not None and numbers[2] >= num_frames:
            raise DatasetError(f"{here}: offset {numbers[2]} is past the video's last frame "
                               f"{num_frames - 1}")
        try:
            ann = Annotation(key[0], key[1], numbers[0], numbers[1], numbers[2], kind)
        except ValueError as exc:
            raise DatasetError(f"{here}: {exc}") from None
        per_video.setdefault(key, []).append(ann)

    items = [
        VideoItem(subject, video, source, frames, rate, count,
                  tuple(sorted(per_video.get((subject, video), ()), key=_ann_order)))
        for (subject, video), (source, frames, rate, count) in sorted(
            sources.items(), key=lambda kv: (_natural_key(kv[0][0]), _natural_key(kv[0][1])))
    ]
    return Dataset("generic", root, tuple(items))


_Source = tuple[Path, tuple[Path, ...] | None, float, int | None]


def _generic_videos_from_csv(root: Path, path: Path, fps: float | None
                             ) -> dict[tuple[str, str], _Source]:
    out: dict[tuple[str, str], _Source] = {}
    for line, row in _read_csv(path, _VIDEO_COLUMNS):
        here = f"{path} line {line}"
        key = (row["subject"], row["video"])
        if key in out:
            raise DatasetError(f"{here}: video {key[0]}/{key[1]} listed twice")
        if not row["path"]:
            raise DatasetError(f"{here}: empty path")
        source = root / row["path"]
        if not source.exists():
            raise FileNotFoundError(f"{here}: video path does not exist: {source}")
        rate: float | None = fps
        if row["fps"]:
            try:
                rate = float(row["fps"])
            except ValueError:
                raise DatasetError(f"{here}: fps {row['fps']!r} is not a number") from None
            if not rate > 0:
                raise DatasetError(f"{here}: fps must be > 0, got {row['fps']}")
        count = None
        if row.get("num_frames"):
            count = _to_int(row["num_frames"], strict=True)
            if count is None or count < 0:
                raise DatasetError(f"{here}: num_frames {row['num_frames']!r} is not a whole "
                                   f"number >= 0")
        if source.is_dir():
            frames = list_frame_files(source)
            if not frames:
                raise DatasetError(f"{here}: frame folder has no images: {source}")
            if count is not None and count != len(frames):
                raise DatasetError(f"{here}: num_frames {count} but {source} holds "
                                   f"{len(frames)} images")
            out[key] = (source, frames, rate or DEFAULT_FPS, len(frames))
        else:
            out[key] = (source, None, rate or _container_fps(source), count)
    return out


def _generic_videos_from_tree(root: Path, fps: float | None) -> dict[tuple[str, str], _Source]:
    out: dict[tuple[str, str], _Source] = {}
    for subject_dir in sorted(_subdirs(root), key=lambda p: _natural_key(p.name)):
        for entry in sorted(subject_dir.iterdir(), key=lambda p: _natural_key(p.name)):
            if entry.name.startswith("."):
                continue
            if entry.is_file() and entry.suffix.lower() in VIDEO_SUFFIXES:
                key = (subject_dir.name, entry.stem)
                source: _Source = (entry, None, fps or _container_fps(entry), None)
            elif entry.is_dir():
                frames = list_frame_files(entry)
                if not frames:
                    continue
                key = (subject_dir.name, entry.name)
                source = (entry, frames, fps or DEFAULT_FPS, len(frames))
            else:
                continue
            if key in out:
                raise DatasetError(f"two sources for video {key[0]}/{key[1]}: {out[key][0]} and "
                                   f"{entry}")
            out[key] = source
    return out


def write_generic_annotations(path: str | Path, annotations: Iterable[Annotation]) -> Path:
    """Write ``annotations.csv`` of the generic layout (0-based inclusive frames)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(_ANNOTATION_COLUMNS)
        for a in annotations:
            writer.writerow([a.subject, a.video, a.onset, a.apex, a.offset, a.type])
    return path


def write_generic_videos(path: str | Path, videos: Iterable[VideoItem], root: str | Path
                         ) -> Path:
    """Write ``videos.csv`` of the generic layout, paths relative to ``root``."""
    path, root = Path(path), Path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow((*_VIDEO_COLUMNS, "num_frames"))
        for v in videos:
            rel = Path(v.source).resolve().relative_to(root.resolve()).as_posix()
            count = "" if v.num_frames is None else v.num_frames
            writer.writerow([v.subject, v.video, rel, f"{v.fps:g}", count])
    return path


def _read_csv(path: Path, required: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a CSV as stripped strings, with their 1-based line numbers; checks the header."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise DatasetError(f"{path}: empty file (expected header {','.join(required)})")
        names = [h.strip().lower() for h in header]
        missing = [c for c in required if c not in names]
        if missing:
            raise DatasetError(f"{path} line 1: missing column(s) {missing}; header is {header}")
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            if len(values) > len(names):
                raise DatasetError(f"{path} line {reader.line_num}: {len(values)} values but "
                                   f"{len(names)} columns")
            row = {n: (values[i].strip() if i < len(values) else "") for i, n in enumerate(names)}
            yield reader.line_num, row


def _container_fps(path: Path) -> float:
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        rate = float(cap.get(cv2.CAP_PROP_FPS)) if cap.isOpened() else 0.0
    finally:
        cap.release()
    return rate if 0 < rate < 10_000 else DEFAULT_FPS


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


def _sheet_annotation(subject: str, video: str, onset: int | None, apex: int | None,
                      offset: int | None, kind: str, numbers: list[int], where: str
                      ) -> Annotation:
    """An annotation from 1-based spreadsheet frame numbers (0 / -1 meaning "not coded")."""
    known = [n if n is not None and n > 0 else None for n in (onset, apex, offset)]
    on, ap, off = known
    if on is None:
        on = ap
    if off is None:
        off = ap
    if on is None or off is None:
        raise DatasetError(f"{where}: needs an onset and an offset (or an apex), got "
                           f"onset={onset} apex={apex} offset={offset}")
    if on > off:
        raise DatasetError(f"{where}: onset {on} is after offset {off}")
    first, last = _frame_index(numbers, on), _frame_index(numbers, off)
    if ap is None:
        mid = (first + last) // 2
    else:
        mid = min(max(_frame_index(numbers, ap), first), last)
    return Annotation(subject, video, first, mid, last, kind)  # type: ignore[arg-type]


def _frame_index(numbers: list[int], number: int) -> int:
    """0-based position of the frame numbered ``number`` (next existing one; last if beyond)."""
    return min(bisect.bisect_left(numbers, number), len(numbers) - 1)


def _numbered_frames(folder: Path) -> tuple[Path, ...]:
    """Image files whose names end in a number, sorted by that number."""
    numbered = []
    for p in folder.iterdir():
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."):
            number = _trailing_number(p.stem)
            if number is not None:
                numbered.append((number, p))
    numbered.sort(key=lambda t: t[0])
    return tuple(p for _, p in numbered)


def _frame_numbers(frames: Sequence[Path]) -> list[int]:
    return [int(_trailing_number(p.stem) or 0) for p in frames]


def _trailing_number(stem: str) -> int | None:
    match = re.search(r"(\d+)\D*$", stem)
    return int(match.group(1)) if match else None


def _expression_type(cell: Any, where: str, fallback: Sequence[Any] = ()) -> str:
    for value in (cell, *fallback):
        text = _text(value).lower()
        if text.startswith("micro"):
            return "micro"
        if text.startswith("macro"):
            return "macro"
    raise DatasetError(f"{where}: expression type {cell!r} is neither micro nor macro")


def _read_workbook(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """All sheets of an .xlsx as lists of value rows (row 1 first)."""
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for bad files
        raise DatasetError(f"cannot read workbook {path}: {exc}") from exc
    try:
        return {ws.title: [tuple(r) for r in ws.iter_rows(values_only=True)]
                for ws in book.worksheets}
    finally:
        book.close()


def _to_int(value: Any, strict: bool = False) -> int | None:
    """Whole number from an int, a float (rounded unless ``strict``) or text; None if empty."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        if strict and not value.is_integer():
            return None
        return int(round(value))
    text = str(value).strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    if strict and not number.is_integer():
        return None
    return int(round(number))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _row_empty(row: Sequence[Any]) -> bool:
    return all(_text(c) == "" for c in row)


def _subdirs(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]


def _find_child(folder: Path, name: str, want_dir: bool) -> Path | None:
    exact = folder / name
    if exact.exists() and exact.is_dir() == want_dir:
        return exact
    for p in folder.iterdir() if folder.is_dir() else ():
        if p.name.lower() == name.lower() and p.is_dir() == want_dir:
            return p
    return None


def _natural_key(text: str) -> tuple[Any, ...]:
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part.lower())
                 for part in re.split(r"(\d+)", text) if part)


def _ann_order(a: Annotation) -> tuple[int, int]:
    return (a.onset, a.offset)
