"""The generic layout (the one ``python -m export synth`` writes): videos plus CSV files.

``ROOT/annotations.csv``: columns ``subject,video,onset,apex,offset,type``; frames 0-based
and inclusive; type ``micro`` or ``macro``. ``ROOT/videos.csv`` (optional): columns
``subject,video,path,fps[,num_frames]``, ``path`` relative to ROOT, a video file or a folder
of frame images. Without ``videos.csv`` the videos are ``ROOT/<subject>/<video>.mp4`` (or
another video suffix: ``.avi``, ``.mov``, ``.mkv``, ...) and ``ROOT/<subject>/<video>/``
folders holding images (sorted by name, numbers compared as numbers); folders without images
are ignored.

fps: a row's ``fps`` cell when given; otherwise the reader's ``fps`` if given; otherwise a
video file's container rate (30 if it reports none) and 30 for frame folders.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from realtime.vocab import EXPRESSION_TYPES, is_video_file, natural_key

from .frames import DEFAULT_FPS, container_fps, list_frame_files, subdirs
from .items import Annotation, Dataset, DatasetError, VideoItem, annotation_order
from .sheets import read_csv, to_int

ANNOTATION_COLUMNS = ("subject", "video", "onset", "apex", "offset", "type")
VIDEO_COLUMNS = ("subject", "video", "path", "fps")

# (subject, video) -> (source, frame files or None, fps, frame count or None)
_Source = tuple[Path, tuple[Path, ...] | None, float, int | None]
_Sources = dict[tuple[str, str], _Source]


def load_generic(root: str | Path, fps: float | None = None) -> Dataset:
    """Read the generic layout (files and fps rules: this module's docstring).

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
        sources = _videos_from_csv(root, videos_csv, fps)
        place = "in videos.csv"
    else:
        sources = _videos_from_tree(root, fps)
        place = f"under {root}"
    per_video: dict[tuple[str, str], list[Annotation]] = {}
    for line, row in read_csv(ann_path, ANNOTATION_COLUMNS):
        ann = _annotation(row, sources, f"{ann_path} line {line}", place)
        per_video.setdefault((ann.subject, ann.video), []).append(ann)
    items = [
        VideoItem(subject, video, source, frames, rate, count,
                  tuple(sorted(per_video.get((subject, video), ()), key=annotation_order)))
        for (subject, video), (source, frames, rate, count) in sorted(
            sources.items(), key=lambda kv: (natural_key(kv[0][0]), natural_key(kv[0][1])))
    ]
    return Dataset("generic", root, tuple(items))


def _annotation(row: dict[str, str], sources: _Sources, here: str, place: str) -> Annotation:
    """One row of annotations.csv, checked against the videos found."""
    key = (row["subject"], row["video"])
    if key not in sources:
        raise DatasetError(f"{here}: unknown video {key[0]}/{key[1]} (no such video {place})")
    numbers = []
    for name in ("onset", "apex", "offset"):
        value = to_int(row[name], strict=True)
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
        return Annotation(key[0], key[1], numbers[0], numbers[1], numbers[2], kind)  # type: ignore[arg-type]
    except ValueError as exc:
        raise DatasetError(f"{here}: {exc}") from None


def _videos_from_csv(root: Path, path: Path, fps: float | None) -> _Sources:
    out: _Sources = {}
    for line, row in read_csv(path, VIDEO_COLUMNS):
        here = f"{path} line {line}"
        key = (row["subject"], row["video"])
        if key in out:
            raise DatasetError(f"{here}: video {key[0]}/{key[1]} listed twice")
        if not row["path"]:
            raise DatasetError(f"{here}: empty path")
        source = root / row["path"]
        if not source.exists():
            raise FileNotFoundError(f"{here}: video path does not exist: {source}")
        rate = _row_fps(row, fps, here)
        count = None
        if row.get("num_frames"):
            count = to_int(row["num_frames"], strict=True)
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
            out[key] = (source, None, rate or container_fps(source), count)
    return out


def _row_fps(row: dict[str, str], fps: float | None, here: str) -> float | None:
    """The row's fps cell as a number > 0, else the reader's ``fps`` (may be None)."""
    if not row["fps"]:
        return fps
    try:
        rate = float(row["fps"])
    except ValueError:
        raise DatasetError(f"{here}: fps {row['fps']!r} is not a number") from None
    if not rate > 0:
        raise DatasetError(f"{here}: fps must be > 0, got {row['fps']}")
    return rate


def _videos_from_tree(root: Path, fps: float | None) -> _Sources:
    out: _Sources = {}
    for subject_dir in sorted(subdirs(root), key=natural_key):
        for entry in sorted(subject_dir.iterdir(), key=natural_key):
            if entry.name.startswith("."):
                continue
            if entry.is_file() and is_video_file(entry):
                key = (subject_dir.name, entry.stem)
                source: _Source = (entry, None, fps or container_fps(entry), None)
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
        writer.writerow(ANNOTATION_COLUMNS)
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
        writer.writerow((*VIDEO_COLUMNS, "num_frames"))
        for v in videos:
            rel = Path(v.source).resolve().relative_to(root.resolve()).as_posix()
            count = "" if v.num_frames is None else v.num_frames
            writer.writerow([v.subject, v.video, rel, f"{v.fps:g}", count])
    return path
