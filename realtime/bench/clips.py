"""The benchmark's clips: size and rate of a video, a resized copy, the clip looped for long
runs, and the clip played as a simulated live camera."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from realtime.bench.config import BenchError
from realtime.sources import Reader, Source, open_reader


@dataclass(frozen=True)
class ClipInfo:
    """Width and height (px), frame rate (30 when the file does not say) and frame count."""

    width: int
    height: int
    fps: float
    frames: int


def clip_info(path: Path) -> ClipInfo:
    """Size, rate and length of a video; BenchError when OpenCV cannot decode a frame of it."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise BenchError(f"cannot open clip {path} (not a video OpenCV can decode)")
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        ok, _ = cap.read()
        if not ok:
            raise BenchError(f"clip {path} has no frames")
    finally:
        cap.release()
    return ClipInfo(w, h, fps if math.isfinite(fps) and 0 < fps < 1000 else 30.0, n)


def write_resized_clip(src: Path, dst: Path, size: tuple[int, int]) -> Path:
    """Re-encode ``src`` at ``size`` (w, h) into ``dst`` (mp4v), frame for frame."""
    import cv2

    fps = clip_info(src).fps
    cap = cv2.VideoCapture(str(src))
    writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        cap.release()
        raise BenchError(f"cannot write the resized clip {dst} (no mp4v encoder)")
    try:
        while True:
            ok, image = cap.read()
            if not ok:
                break
            writer.write(cv2.resize(image, size, interpolation=cv2.INTER_LINEAR))
    finally:
        cap.release()
        writer.release()
    return dst


class LoopingClip:
    """Decoded frames of a clip, looped until ``total`` frames were given (BGR uint8).

    ``decode_ms`` (when given) receives the wall time of each frame's decode. Iterate it
    directly, or hand it to :func:`realtime.sources.open_source` as an iterable source.
    """

    def __init__(self, path: Path, total: int,
                 decode_ms: Callable[[float], None] | None = None) -> None:
        self.path = path
        self.total = total
        self._decode_ms = decode_ms

    def __iter__(self) -> Generator[np.ndarray, None, None]:
        import cv2

        given = 0
        cap = cv2.VideoCapture(str(self.path))
        try:
            while given < self.total:
                t0 = time.perf_counter()
                ok, image = cap.read()
                if not ok:  # end of the clip: start again (reopening is not a per-frame cost)
                    cap.release()
                    cap = cv2.VideoCapture(str(self.path))
                    t0 = time.perf_counter()
                    ok, image = cap.read()
                    if not ok:
                        raise BenchError(f"clip {self.path} stopped decoding")
                if self._decode_ms is not None:
                    self._decode_ms((time.perf_counter() - t0) * 1e3)
                given += 1
                yield image
        finally:
            cap.release()


class CaptureTimes:
    """Frame index -> capture time (perf_counter s) for the last ``size`` indices (bounded
    memory in long runs)."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._keys = np.full(size, -1, np.int64)
        self._vals = np.zeros(size, np.float64)

    def __setitem__(self, key: int, value: float) -> None:
        self._keys[key % self._size], self._vals[key % self._size] = key, value

    def get(self, key: int) -> float | None:
        """The capture time of frame ``key``, None when it is not (or no longer) held."""
        i = key % self._size
        return float(self._vals[i]) if self._keys[i] == key else None


class PacedReader(Reader):
    """A simulated live camera: the clip's frames at ``fps`` in wall time, each capture time
    written to ``times``. Live: the source drops the oldest queued frame when the consumer
    falls behind."""

    is_live = True

    def __init__(self, clip: LoopingClip, fps: float, times: CaptureTimes) -> None:
        self.description = f"simulated {fps:g} fps live camera ({clip.path.name})"
        self.fps = fps
        self._clip = clip
        self._times = times
        self._it: Generator[np.ndarray, None, None] | None = None
        self._next_t = 0.0
        self._count = 0

    def open(self) -> None:
        self._it = iter(self._clip)
        self._next_t = time.perf_counter()

    def read(self, stop: threading.Event) -> tuple[np.ndarray, float | None] | None:
        if self._it is None:
            raise BenchError(f"{self.description} was read before it was opened")
        image = next(self._it, None)
        if image is None:
            return None
        delay = self._next_t - time.perf_counter()
        if delay > 0 and stop.wait(delay):
            return None
        self._next_t = max(self._next_t + 1.0 / self.fps, time.perf_counter() - 1.0 / self.fps)
        self._times[self._count] = time.perf_counter()
        self._count += 1
        return image, None

    def close(self) -> None:
        """Release the clip's capture (also when the consumer stopped early)."""
        if self._it is not None:
            self._it.close()
            self._it = None


def paced_live_source(clip: LoopingClip, fps: float, queue_size: int = 4
                      ) -> tuple[Source, CaptureTimes]:
    """A simulated live camera (see :class:`PacedReader`) as an opened source.

    Returns (source, capture_times): ``capture_times.get(index)`` is the perf_counter time at
    which frame ``index`` was captured.
    """
    times = CaptureTimes()
    source = open_reader(PacedReader(clip, fps, times), queue_size=queue_size, timeout_s=5.0)
    return source, times
