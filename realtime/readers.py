"""The built-in readers behind :mod:`realtime.sources`, and the public reader interface.

A reader opens, reads and releases one kind of source on the source's capture thread:
OpenCV's ``VideoCapture`` for cameras, network streams and video files, an image folder in
natural name order, or any Python iterable of frames. :func:`make_reader` picks one for a
source spec. Subclass :class:`Reader` for another kind and hand it to
:func:`realtime.sources.open_reader`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from realtime.vocab import IMAGE_SUFFIXES, is_image_file, is_number, natural_key

URL_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https")
FILE_URL_SCHEMES = ("http", "https")  # may serve a recording (a file) or a live stream
DEFAULT_FPS = 30.0
MAX_FPS = 10_000  # a frame rate a file reports above this is taken for garbage
_RETRY_S = 0.005  # pause between failed reads of a live source


class SourceError(RuntimeError):
    """A source cannot be opened, has nothing to read, or stopped delivering. Names the source."""


class FrameError(ValueError):
    """One frame of a source is unusable (a corrupt image in a folder): raised by
    :meth:`Reader.read`, delivered as an invalid frame, and the source reads on."""


def mask_url(url: str) -> str:
    """The URL without its password, fit for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def stream_fps(fps: object) -> float:
    """A stream's frame rate as the spotters use it: ``fps`` when it is a finite number > 0,
    else :data:`DEFAULT_FPS`."""
    if is_number(fps) and math.isfinite(fps) and fps > 0:  # numpy scalars count
        return float(fps)
    return DEFAULT_FPS


def _sane_fps(value: float) -> bool:
    return math.isfinite(value) and 0.0 < value < MAX_FPS


class Reader:
    """The public reader interface: opens, reads and releases one kind of source.

    All three methods run on the source's capture thread. Set ``description`` (names the
    source in messages), ``is_live`` (True: the live drop policy and capture-time stamps) and
    ``fps`` (the frame rate, read by the source once ``open`` returns).
    """

    description: str = ""
    is_live: bool = False
    fps: float = DEFAULT_FPS

    def open(self) -> None:
        """Open the source and check that it has a first frame; raise SourceError if not."""

    def read(self, stop: threading.Event) -> tuple[np.ndarray, float | None] | None:
        """The next frame as (image, media time in s or None), or None at the end.

        A reader that waits (pacing, a slow device) should wait on ``stop`` and return None
        once it is set. Images may be BGR, gray or BGRA; :func:`normalize_frame` converts them.
        Raise :class:`FrameError` for one unusable frame (the source goes on), SourceError
        when the source itself fails.
        """
        raise NotImplementedError

    def close(self) -> None:
        """Release the source. Idempotent; called also when ``open`` or ``read`` raised."""


class CaptureReader(Reader):
    """Camera, network stream or video file through ``cv2.VideoCapture``.

    is_live None (http/https URLs by default) decides at open: a URL whose container reports a
    frame count is a recording (a file served over HTTP: every frame, its end is the end), one
    without is a live stream (drop-oldest). True/False forces either.
    """

    def __init__(self, target: int | str, description: str, *, is_live: bool | None,
                 is_url: bool, fps: float | None, timeout_s: float) -> None:
        self._target = target
        self.description = description
        self._live_auto = is_live is None
        self.is_live = bool(is_live)
        self._is_url = is_url
        self.frame_count: int | None = None  # frames the container announces (recordings)
        self._delivered = 0
        self._fps_override = fps
        self._timeout_s = timeout_s
        self._cap: Any = None
        self._pending: np.ndarray | None = None
        self._pending_time: float | None = None

    def open(self) -> None:
        deadline = time.monotonic() + self._timeout_s  # for opening and the first frame
        ms = int(self._timeout_s * 1000)
        if self._is_url:
            self._cap = cv2.VideoCapture(self._target, cv2.CAP_FFMPEG,
                                         [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms,
                                          cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms])
        else:
            self._cap = cv2.VideoCapture(self._target)
        if not self._cap.isOpened():
            if isinstance(self._target, int):
                why = "absent, busy, or not accessible"
            elif self._is_url:
                why = "unreachable, refused, or not a video stream"
            else:
                why = "not a video that OpenCV can decode"
            raise SourceError(f"cannot open {self.description}: {why}")
        count = float(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0.0)
        if math.isfinite(count) and count > 0:
            self.frame_count = int(count)
        if self._live_auto:
            self.is_live = self.frame_count is None
        if self.is_live:
            self._cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # keep the device's own backlog short
        reported = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if self._fps_override is not None:
            self.fps = self._fps_override
        elif _sane_fps(reported):
            self.fps = reported
        ok, image = self._cap.read()
        if self.is_live:
            while not ok and time.monotonic() < deadline:
                time.sleep(_RETRY_S)
                ok, image = self._cap.read()
        if not ok or image is None:
            what = "delivered no frame" if self.is_live else "has no frames"
            raise SourceError(f"{self.description} {what}")
        self._pending, self._pending_time = image, self._media_time()

    def _media_time(self) -> float | None:
        if self.is_live:
            return None
        ms = float(self._cap.get(cv2.CAP_PROP_POS_MSEC))
        return ms / 1000.0 if math.isfinite(ms) else None

    def read(self, stop: threading.Event) -> tuple[np.ndarray, float | None] | None:
        if self._pending is not None:
            image, self._pending = self._pending, None
            return image, self._pending_time
        ok, image = self._cap.read()
        if not self.is_live:
            if ok and image is not None:
                self._delivered += 1
                return image, self._media_time()
            self._check_complete()
            return None
        deadline = time.monotonic() + self._timeout_s
        while not ok or image is None:
            if stop.is_set():
                return None
            if time.monotonic() > deadline:
                raise SourceError(f"{self.description} stopped delivering frames "
                                  f"(none for {self._timeout_s:g} s)")
            time.sleep(_RETRY_S)
            ok, image = self._cap.read()
        return image, None

    def _check_complete(self) -> None:
        """A recording over the network that ends well short of its announced length was cut
        (connection lost, server stalled): say so instead of ending quietly."""
        count, got = self.frame_count, self._delivered + 1  # + the frame read at open
        if self._is_url and count is not None and got < count - max(2, count // 50):
            raise SourceError(f"{self.description} ended after {got} of {count} frames "
                              "(connection lost or stalled)")

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class FolderReader(Reader):
    """Images of one folder in natural name order (img2 before img10)."""

    def __init__(self, folder: Path, fps: float | None, single: Path | None = None) -> None:
        self._folder = folder
        self.fps = fps if fps is not None else DEFAULT_FPS
        if single is not None:
            self._files = [single]
            self.description = f"image {single}"
        else:
            self._files = sorted((p for p in folder.iterdir() if p.is_file() and is_image_file(p)),
                                 key=natural_key)
            self.description = f"image folder {folder} ({len(self._files)} images)"
        self._next = 0
        self._first: np.ndarray | None = None
        self._skipped: list[str] = []  # unreadable images before the first readable one

    def open(self) -> None:
        if not self._files:
            raise SourceError(f"image folder {self._folder} has no images "
                              f"({', '.join(IMAGE_SUFFIXES)})")
        while self._next < len(self._files):  # fail at open only if no image is readable
            try:
                self._first = self._load()
                return
            except FrameError as exc:
                self._skipped.append(str(exc))
        raise SourceError(f"{self._skipped[0]}; no image in {self.description} is readable")

    def _load(self) -> np.ndarray:
        path = self._files[self._next]
        self._next += 1
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise FrameError(f"cannot read image {path} (corrupt or not an image)")
        return image

    def read(self, stop: threading.Event) -> tuple[np.ndarray, float | None] | None:
        if self._skipped:
            raise FrameError(self._skipped.pop(0))
        if self._first is not None:
            image, self._first = self._first, None
            return image, None
        if self._next >= len(self._files):
            return None
        return self._load(), None


class IterableReader(Reader):
    """Frames from any Python iterable of numpy arrays."""

    def __init__(self, frames: Iterable[Any], fps: float | None) -> None:
        self._frames = frames
        self._it: Iterator[Any] | None = None
        self.fps = fps if fps is not None else DEFAULT_FPS
        self.description = f"iterable of frames ({type(frames).__name__})"

    def open(self) -> None:
        self._it = iter(self._frames)

    def read(self, stop: threading.Event) -> tuple[np.ndarray, float | None] | None:
        assert self._it is not None
        try:
            return next(self._it), None
        except StopIteration:
            return None

    def close(self) -> None:
        close = getattr(self._it, "close", None)
        if callable(close):
            close()


def make_reader(spec: Any, fps: float | None, timeout_s: float,
                live: bool | None = None) -> Reader:
    """The reader for a source spec. live: None decides by the source (cameras and rtsp/rtmp
    live, files and folders recorded, http(s) by whether the container has a length); True or
    False forces the drop-oldest or the every-frame policy (cameras, URLs and files)."""
    if isinstance(spec, bool):
        raise ValueError(f"source spec must be a camera index, path, URL or iterable, got {spec!r}")
    if isinstance(spec, int | np.integer) or (isinstance(spec, str) and spec.strip().isdigit()):
        index = int(spec)
        if index < 0:
            raise ValueError(f"camera index must be >= 0, got {index}")
        return CaptureReader(index, f"camera {index}", is_live=live is not False,
                             is_url=False, fps=fps, timeout_s=timeout_s)
    if isinstance(spec, str) and urlsplit(spec).scheme.lower() in URL_SCHEMES:
        scheme = urlsplit(spec).scheme.lower()
        auto = None if scheme in FILE_URL_SCHEMES else True
        return CaptureReader(spec, f"stream {mask_url(spec)}",
                             is_live=auto if live is None else live, is_url=True, fps=fps,
                             timeout_s=timeout_s)
    if isinstance(spec, str | Path):
        path = Path(spec).expanduser()
        if path.is_dir():
            return FolderReader(path, fps)
        if not path.exists():
            raise SourceError(f"no such video file or image folder: {path}")
        if is_image_file(path):
            return FolderReader(path.parent, fps, single=path)  # one still image
        return CaptureReader(str(path), f"video file {path}", is_live=bool(live), is_url=False,
                             fps=fps, timeout_s=timeout_s)
    if isinstance(spec, np.ndarray):
        if spec.ndim != 4:
            raise ValueError(f"an array source must be N x H x W x C frames, got shape "
                             f"{spec.shape}; pass a list for a single image or gray frames")
        return IterableReader(spec, fps)
    if isinstance(spec, bytes) or not isinstance(spec, Iterable):
        raise ValueError(f"source spec must be a camera index, path, URL or iterable of frames, "
                         f"got {type(spec).__name__}")
    return IterableReader(spec, fps)
