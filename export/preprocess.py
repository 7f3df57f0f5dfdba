"""Face-crop cache: run the live half's :class:`realtime.face.FaceCropper` over a dataset once.

``python -m export preprocess --data ROOT --cache DIR`` decodes every video once, crops the face
of every frame with exactly the code the live spotter uses (so training sees what inference
sees) and stores one ``.npz`` per video at ``DIR/<dataset key>/<subject>/<video>.npz``:

- ``crops`` uint8 ``(N, S, S)`` grayscale; frames without a crop are zeros,
- ``valid`` bool ``(N,)``: the frame has a face crop (status ``ok`` or ``at_edge``),
- ``boxes`` int32 ``(N, 4)`` crop boxes ``x0, y0, x1, y1`` (exclusive; -1 where none),
- ``scores`` float32 ``(N,)`` detector confidence, ``status`` uint8 ``(N,)`` index into
  :data:`realtime.face.FACE_STATUSES`,
- metadata: fps, num_frames, subject, video, source, crop config (JSON), the annotations
  (0-based onset/apex/offset and types) and a fingerprint.

The fingerprint hashes the crop config, the cropper's source code and the source media (size and
modification time of the video file, or of every frame image): when any of them changes the video
is cropped again. A finished video is skipped, so an interrupted run resumes where it stopped;
files are written to a temporary name and renamed, so a killed run never leaves a half file that
looks complete. Each video gets a fresh cropper, so a resumed run gives the same crops as one
uninterrupted run. Annotations and fps are not part of the fingerprint: when only they change,
the metadata is rewritten without cropping again.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from export.datasets import (
    FORMATS,
    Annotation,
    Dataset,
    DatasetError,
    FrameReadError,
    VideoItem,
    frame_labels,
    iter_frames,
    load_dataset,
)
from realtime.face import FACE_STATUSES, FaceCropConfig, FaceCropper
from realtime.vocab import DEFAULT_CLASS_NAMES

CACHE_VERSION = 1
_STATUS_CODE = {name: i for i, name in enumerate(FACE_STATUSES)}
_META_KEYS = ("version", "fingerprint", "subject", "video", "source", "fps", "num_frames",
              "crop_config", "ann_frames", "ann_types")
_ARRAY_KEYS = ("crops", "valid", "boxes", "scores", "status")


class PreprocessError(DatasetError):
    """Cropping a video failed; the message names the video (and frame, when known)."""


@dataclass(frozen=True)
class CachedVideo:
    """One cached video. Metadata is read eagerly; the arrays are read on first use and kept.

    ``labels`` are per-frame class indices from :func:`export.datasets.frame_labels` with
    ``class_names``; ``labels_for(names)`` gives them for another class set.
    """

    path: Path
    subject: str
    video: str
    fps: float
    num_frames: int
    crop_size: int
    annotations: tuple[Annotation, ...]
    fingerprint: str
    class_names: tuple[str, ...] = DEFAULT_CLASS_NAMES
    _arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def _get(self, key: str) -> np.ndarray:
        if key not in self._arrays:
            try:
                with np.load(self.path, allow_pickle=False) as data:
                    self._arrays[key] = data[key]
            except Exception as exc:  # missing, truncated or replaced file
                raise PreprocessError(f"cannot read {key!r} from cache file {self.path}: "
                                      f"{exc}") from exc
        return self._arrays[key]

    @property
    def crops(self) -> np.ndarray:
        """uint8 ``(N, S, S)`` grayscale face crops (zeros where ``valid`` is False)."""
        return self._get("crops")

    @property
    def valid(self) -> np.ndarray:
        """bool ``(N,)``: a face crop exists for the frame."""
        return self._get("valid")

    @property
    def boxes(self) -> np.ndarray:
        return self._get("boxes")

    @property
    def scores(self) -> np.ndarray:
        return self._get("scores")

    @property
    def status(self) -> np.ndarray:
        return self._get("status")

    @property
    def labels(self) -> np.ndarray:
        return self.labels_for(self.class_names)

    def labels_for(self, class_names: Sequence[str]) -> np.ndarray:
        return frame_labels(self.num_frames, self.annotations, class_names)

    def release(self) -> None:
        """Drop the loaded arrays (they are read again on next use)."""
        self._arrays.clear()


def cache_path(cache_dir: str | Path, dataset: Dataset, item: VideoItem) -> Path:
    """Where :func:`preprocess_dataset` stores ``item``'s crops."""
    return (Path(cache_dir) / dataset.key() / _safe_name(item.subject, "subject")
            / f"{_safe_name(item.video, 'video')}.npz")


def fingerprint(item: VideoItem, crop_config: FaceCropConfig) -> str:
    """Hash of the crop settings, the cropper's code and the source media's sizes and times."""
    h = hashlib.sha256()
    h.update(f"v{CACHE_VERSION}".encode())
    h.update(json.dumps(dataclasses.asdict(crop_config), sort_keys=True).encode())
    h.update(_cropper_code_digest().encode())
    if item.frame_paths is not None:
        h.update(f"frames:{len(item.frame_paths)}".encode())
        for p in item.frame_paths:
            st = _stat(p, item)
            h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    else:
        st = _stat(item.source, item)
        h.update(f"file:{item.source.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:32]


@functools.lru_cache(maxsize=1)
def _cropper_code_digest() -> str:
    """Digest of realtime/face.py: crops made by other cropper code are not reused."""
    import realtime.face as face_module

    return hashlib.sha256(Path(face_module.__file__).read_bytes()).hexdigest()


def preprocess_dataset(dataset: Dataset, cache_dir: str | Path,
                       crop_config: FaceCropConfig | None = None,
                       progress: bool = True) -> list[CachedVideo]:
    """Crop every video of ``dataset`` into ``cache_dir``, skipping videos already done.

    Returns one :class:`CachedVideo` per video, in dataset order, carrying the dataset's current
    annotations and fps. Raises :class:`PreprocessError` naming the video and frame when a frame
    cannot be read or cropped, and ValueError for a bad ``crop_config``.
    """
    config = crop_config if crop_config is not None else FaceCropConfig()
    if not isinstance(config, FaceCropConfig):
        raise ValueError(f"crop_config must be a FaceCropConfig, got {type(config).__name__}")
    cache_dir = Path(cache_dir)
    todo: list[tuple[VideoItem, Path, str]] = []
    out: dict[str, CachedVideo] = {}
    for item in dataset.videos:
        path = cache_path(cache_dir, dataset, item)
        fp = fingerprint(item, config)
        cached = _read_meta(path)
        if cached is not None and cached.fingerprint == fp:
            if cached.annotations != item.annotations or cached.fps != item.fps:
                _rewrite_meta(cached, item)
            out[item.key] = _handle(path, item, config, fp)
        else:
            todo.append((item, path, fp))

    bar = None
    if progress and todo:
        from tqdm import tqdm

        print(f"cropping {len(todo)} video(s) of {dataset.name} into the face-crop cache "
              f"{cache_dir / dataset.key()}", file=sys.stderr)

        total = sum(_estimate_frames(item) for item, _, _ in todo)
        bar = tqdm(total=total or None, unit="frame", desc=f"crop {dataset.name}",
                   dynamic_ncols=True, file=sys.stderr)
    try:
        for n, (item, path, fp) in enumerate(todo, 1):
            if bar is not None:
                bar.set_postfix_str(f"{item.key} ({n}/{len(todo)})")
            _crop_video(item, path, fp, config, bar)
            out[item.key] = _handle(path, item, config, fp)
    finally:
        if bar is not None:
            bar.close()
    return [out[item.key] for item in dataset.videos]


def load_cached(path: str | Path, annotations: Sequence[Annotation] | None = None,
                class_names: Sequence[str] = DEFAULT_CLASS_NAMES) -> CachedVideo:
    """Open one cache file; labels use ``annotations`` if given, else the ones stored with it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"cache file not found: {path}")
    meta = _read_meta(path, strict=True)
    assert meta is not None
    anns = meta.annotations if annotations is None else tuple(annotations)
    return dataclasses.replace(meta, annotations=anns, class_names=tuple(class_names),
                               _arrays={})


# --------------------------------------------------------------------------------------------
# Internals
# --------------------------------------------------------------------------------------------


def _crop_video(item: VideoItem, path: Path, fp: str, config: FaceCropConfig,
                bar: Any) -> None:
    size = config.crop_size
    known = item.num_frames
    crops_list: list[np.ndarray] = []
    crops_buf = np.zeros((known, size, size), np.uint8) if known is not None else None
    valid: list[bool] = []
    boxes: list[tuple[int, int, int, int]] = []
    scores: list[float] = []
    status: list[int] = []
    blank = np.zeros((size, size), np.uint8)
    try:
        with FaceCropper(config) as cropper:  # fresh state per video
            for index, frame in enumerate(iter_frames(item)):
                try:
                    r = cropper.process(frame)
                except ValueError as exc:
                    raise PreprocessError(f"{item.key}: cannot crop frame {index} of "
                                          f"{item.source}: {exc}") from exc
                has_crop = r.crop is not None
                if crops_buf is not None:
                    if index >= len(crops_buf):
                        raise PreprocessError(f"{item.key}: {item.source} has more frames than "
                                              f"the {known} expected")
                    if has_crop:
                        crops_buf[index] = r.crop
                else:
                    crops_list.append(r.crop if has_crop else blank)
                valid.append(has_crop)
                boxes.append(r.box if r.box is not None else (-1, -1, -1, -1))
                scores.append(r.score)
                status.append(_STATUS_CODE[r.status])
                if bar is not None:
                    bar.update(1)
    except (FrameReadError, FileNotFoundError) as exc:
        raise PreprocessError(f"{item.key}: {exc}") from exc
    n = len(valid)
    if n == 0:
        raise PreprocessError(f"{item.key}: no frames in {item.source}")
    if crops_buf is not None:
        if n != len(crops_buf):
            raise PreprocessError(f"{item.key}: decoded {n} frames of {item.source}, expected "
                                  f"{known}")
        crops = crops_buf
    else:
        crops = np.stack(crops_list) if crops_list else np.zeros((0, size, size), np.uint8)
    arrays = {
        "crops": crops,
        "valid": np.asarray(valid, bool),
        "boxes": np.asarray(boxes, np.int32).reshape(n, 4),
        "scores": np.asarray(scores, np.float32),
        "status": np.asarray(status, np.uint8),
    }
    _write(path, arrays, _meta_arrays(item, fp, config, n))


def _meta_arrays(item: VideoItem, fp: str, config: FaceCropConfig, n: int
                 ) -> dict[str, np.ndarray]:
    anns = item.annotations
    return {
        "version": np.asarray(CACHE_VERSION, np.int64),
        "fingerprint": np.asarray(fp),
        "subject": np.asarray(item.subject),
        "video": np.asarray(item.video),
        "source": np.asarray(str(item.source)),
        "fps": np.asarray(item.fps, np.float64),
        "num_frames": np.asarray(n, np.int64),
        "crop_config": np.asarray(json.dumps(dataclasses.asdict(config), sort_keys=True)),
        "ann_frames": np.asarray([[a.onset, a.apex, a.offset] for a in anns],
                                 np.int64).reshape(len(anns), 3),
        "ann_types": np.asarray([a.type for a in anns], dtype="<U5"),
    }


def _write(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, np.ndarray]) -> None:
    """Atomic write: a temporary file in the same folder, flushed, then renamed over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)  # left by a killed run
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        with tmp.open("wb") as handle:
            np.savez_compressed(handle, **arrays, **meta)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _read_meta(path: Path, strict: bool = False) -> CachedVideo | None:
    """The metadata of a cache file; None (or an error if ``strict``) when unusable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in (*_META_KEYS, *_ARRAY_KEYS) if k not in data.files]
            if missing:
                raise KeyError(f"missing arrays {missing}")
            if int(data["version"]) != CACHE_VERSION:
                raise ValueError(f"cache version {int(data['version'])}, expected "
                                 f"{CACHE_VERSION}")
            subject, video = str(data["subject"]), str(data["video"])
            frames = data["ann_frames"].reshape(-1, 3)
            types = data["ann_types"].reshape(-1)
            anns = tuple(Annotation(subject, video, int(a), int(b), int(c),
                                    str(t))  # type: ignore[arg-type]
                         for (a, b, c), t in zip(frames, types))
            config = json.loads(str(data["crop_config"]))
            return CachedVideo(path=path, subject=subject, video=video, fps=float(data["fps"]),
                               num_frames=int(data["num_frames"]),
                               crop_size=int(config["crop_size"]), annotations=anns,
                               fingerprint=str(data["fingerprint"]))
    except Exception as exc:  # a truncated zip raises one of several types
        if strict:
            raise PreprocessError(f"unusable cache file {path}: {exc}") from exc
        return None


def _rewrite_meta(cached: CachedVideo, item: VideoItem) -> None:
    with np.load(cached.path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in _ARRAY_KEYS}
        config = FaceCropConfig(**json.loads(str(data["crop_config"])))
    _write(cached.path, arrays, _meta_arrays(item, cached.fingerprint, config,
                                             cached.num_frames))


def _handle(path: Path, item: VideoItem, config: FaceCropConfig, fp: str) -> CachedVideo:
    meta = _read_meta(path, strict=True)
    assert meta is not None
    return CachedVideo(path=path, subject=item.subject, video=item.video, fps=item.fps,
                       num_frames=meta.num_frames, crop_size=config.crop_size,
                       annotations=item.annotations, fingerprint=fp)


def _estimate_frames(item: VideoItem) -> int:
    if item.num_frames is not None:
        return item.num_frames
    import cv2

    cap = cv2.VideoCapture(str(item.source))
    try:
        return max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT))) if cap.isOpened() else 0
    finally:
        cap.release()


def _stat(path: Path, item: VideoItem) -> os.stat_result:
    try:
        return path.stat()
    except FileNotFoundError:
        raise FileNotFoundError(f"{item.key}: source file missing: {path}") from None


def _safe_name(name: str, what: str) -> str:
    if not name or name in (".", "..") or re.search(r"[/\\\x00]", name):
        raise PreprocessError(f"{what} name {name!r} cannot be used as a file name")
    return name


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, type=Path, help="dataset root folder")
    parser.add_argument("--format", default="auto", choices=FORMATS,
                        help="dataset layout (default: detected from the files)")
    parser.add_argument("--cache", required=True, type=Path,
                        help="cache folder; crops go to CACHE/<dataset key>/<subject>/<video>.npz")
    parser.add_argument("--crop-size", type=int, default=128, help="crop side in px (default 128)")
    parser.add_argument("--fps", type=float, default=None,
                        help="generic layout only: frame rate of videos found by scanning "
                             "(default: the container's rate, 30 for frame folders)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    try:
        config = FaceCropConfig(crop_size=args.crop_size)
        kwargs = {"fps": args.fps} if args.fps is not None else {}
        if kwargs and args.format not in ("auto", "generic"):
            raise ValueError("--fps applies to the generic layout only")
        dataset = load_dataset(args.data, args.format, **kwargs)
        if dataset.name != "generic" and kwargs:
            raise ValueError("--fps applies to the generic layout only")
        start = time.perf_counter()
        cached = preprocess_dataset(dataset, args.cache, config, progress=not args.no_progress)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - start
    frames = sum(c.num_frames for c in cached)
    valid = sum(int(np.count_nonzero(c.valid)) for c in cached)
    for c in cached:
        c.release()
    print(f"{dataset.name}: {len(cached)} videos, {len(dataset.subjects())} subjects, "
          f"{frames} frames, face found in {valid / max(frames, 1):.1%}; "
          f"cache {args.cache / dataset.key()} ({seconds:.1f} s)")
    return 0
