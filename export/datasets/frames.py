"""Frame files and decoding: listing frame folders in order, reading a video's frames.

Shared by the readers of every format (and by preprocessing through :func:`iter_frames`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from realtime.vocab import is_image_file, natural_key

from .items import FrameReadError, VideoItem

DEFAULT_FPS = 30.0  # a frame folder's rate, and a video file's when its container has none


def iter_frames(item: VideoItem) -> Iterator[np.ndarray]:
    """Yield the frames of ``item`` in order as BGR uint8 arrays, decoding each once.

    Raises :class:`FileNotFoundError` for a missing file or folder and :class:`FrameReadError`
    (naming the file and frame index) for a frame that cannot be decoded, or when a video file
    ends before its known ``num_frames``.
    """
    if item.frame_paths is not None or item.source.is_dir():
        paths = item.frame_paths if item.frame_paths is not None else list_frame_files(item.source)
        yield from _read_images(paths)
    else:
        yield from _decode_video(item.source, item.num_frames)


def _read_images(paths: Sequence[Path]) -> Iterator[np.ndarray]:
    import cv2

    for index, path in enumerate(paths):
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None:
            if not path.exists():
                raise FileNotFoundError(f"frame file missing: {path} (frame index {index})")
            raise FrameReadError(path, index, "not a readable image")
        yield frame


def _decode_video(source: Path, num_frames: int | None) -> Iterator[np.ndarray]:
    import cv2

    if not source.exists():
        raise FileNotFoundError(f"video file missing: {source}")
    cap = cv2.VideoCapture(str(source))
    try:
        if not cap.isOpened():
            raise FrameReadError(source, None, "OpenCV cannot open this video")
        index = 0
        while True:
            ok, frame = cap.read()
            if not ok or frame is None:
                break
            yield frame
            index += 1
        if num_frames is not None and index < num_frames:
            raise FrameReadError(source, index,
                                 f"decoding stopped after {index} of {num_frames} frames")
        if index == 0:
            raise FrameReadError(source, 0, "no frame could be decoded")
    finally:
        cap.release()


def container_fps(path: Path) -> float:
    """A video file's frame rate as its container reports it (:data:`DEFAULT_FPS` if none)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        rate = float(cap.get(cv2.CAP_PROP_FPS)) if cap.isOpened() else 0.0
    finally:
        cap.release()
    return rate if 0 < rate < 10_000 else DEFAULT_FPS


def _image_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir()
            if p.is_file() and is_image_file(p) and not p.name.startswith(".")]


def list_frame_files(folder: Path) -> tuple[Path, ...]:
    """Image files directly in ``folder``, in natural order (img9 before img10)."""
    return tuple(sorted(_image_files(folder), key=natural_key))


def numbered_frames(folder: Path) -> tuple[Path, ...]:
    """Image files whose names end in a number, sorted by that number."""
    numbered = []
    for p in _image_files(folder):
        number = trailing_number(p.stem)
        if number is not None:
            numbered.append((number, p))
    numbered.sort(key=lambda t: t[0])
    return tuple(p for _, p in numbered)


def numbered_frame_folders(parent: Path) -> dict[str, tuple[Path, ...]]:
    """``{folder name: numbered frames}`` of the sub-folders of ``parent`` that hold any, in
    natural order of the names."""
    out = {}
    for folder in sorted(subdirs(parent), key=natural_key):
        frames = numbered_frames(folder)
        if frames:
            out[folder.name] = frames
    return out


def frame_numbers(frames: Sequence[Path]) -> list[int]:
    """The numbers in the names of ``frames`` (as :func:`numbered_frames` sorted them)."""
    return [int(trailing_number(p.stem) or 0) for p in frames]


def trailing_number(stem: str) -> int | None:
    """The last run of digits in a file name's stem (``img012`` -> 12), or None."""
    match = re.search(r"(\d+)\D*$", stem)
    return int(match.group(1)) if match else None


def subdirs(folder: Path) -> list[Path]:
    """Sub-folders of ``folder``, hidden ones left out."""
    return [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]


def find_child(folder: Path, name: str, want_dir: bool) -> Path | None:
    """``folder/name`` (a folder if ``want_dir``, else a file), matched case-insensitively."""
    exact = folder / name
    if exact.exists() and exact.is_dir() == want_dir:
        return exact
    for p in folder.iterdir() if folder.is_dir() else ():
        if p.name.lower() == name.lower() and p.is_dir() == want_dir:
            return p
    return None


def dataset_folders(root: str | Path, frames_folder: str, name: str,
                    frames_name: str) -> tuple[Path, Path]:
    """``(root, frames)``: a dataset folder and its frame folder (matched case-insensitively);
    FileNotFoundError naming the dataset (``name``, ``frames_name``) when either is missing."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{name} folder not found: {root}")
    frames = find_child(root, frames_folder, want_dir=True)
    if frames is None:
        raise FileNotFoundError(f"{frames_name} frame folder missing: {root / frames_folder}")
    return root, frames
