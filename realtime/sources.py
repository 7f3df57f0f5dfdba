"""Frame sources of the live half: camera, video file, network stream, image folder, iterable.

:func:`open_source` turns a spec into a :class:`Source`, an iterable of :class:`Frame`. Capture
runs on its own thread behind a bounded queue, with an explicit policy:

* live sources (camera, rtsp/rtmp URL, an http(s) URL without a length, such as an MJPEG
  camera) drop the OLDEST queued frame when the consumer falls behind, and count it in
  ``dropped_frames``: the consumer always gets recent frames. A drop leaves a gap in the frame
  indices it sees (indices count frames as read), so a consumer that needs consecutive frames
  can tell.
* recorded sources (video file, image folder, iterable, and a video file served over http(s),
  whose container announces a length) are delivered completely, never dropped, as fast as the
  consumer takes them, or paced at their own frame rate with ``realtime=True``. Their end is the
  end of the stream, not an error (a network recording cut well short of its length is).
* ``live=True``/``False`` forces either policy (``spot --live/--no-live``).

Reading never hangs: a source that delivers nothing for ``timeout_s`` raises
:class:`SourceError` naming it, and opening (connection and first frame) is bounded by
``timeout_s`` too; the consumer's own wait adds 0.5 s as a backstop for a read blocked inside
OpenCV. Closing the source (explicitly, by ``with``, or by abandoning the iteration) stops and
joins the capture thread, which releases the ``cv2.VideoCapture``. (A read still blocked inside
OpenCV cannot be interrupted: then ``close`` waits ``timeout_s + 1`` s, logs a warning, and the
thread releases the capture itself when that read returns; FFmpeg's read timeout bounds it.)

Frames are BGR uint8; gray and 4-channel images are converted by
:func:`realtime.image.normalize_frame`. Frames whose size changes mid-stream are passed through
as they are (the face path starts afresh on a size change).

Other kinds of source plug in through the public reader interface: subclass :class:`Reader`
(``open``, ``read``, ``close``; ``description``, ``is_live``, ``fps``) and hand an instance to
:func:`open_reader`, which runs it behind the same thread, queue and policies. The built-in
readers (OpenCV capture, image folder, iterable) live in :mod:`realtime.readers`.

Errors: problems with the source itself (missing, unreadable, empty, unreachable, stalled) raise
:class:`SourceError`, a ``RuntimeError``; bad arguments (types, ranges) raise ``ValueError``.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from realtime.image import normalize_frame
from realtime.readers import MAX_FPS, FrameError, Reader, SourceError, make_reader
from realtime.vocab import check_bool, check_int, check_number

__all__ = ["Frame", "FrameError", "Reader", "Source", "SourceError", "open_reader",
           "open_source"]

log = logging.getLogger(__name__)

_GRACE_S = 0.5  # the consumer's backstop waits this much longer than the reader's own deadline


@dataclass(frozen=True)
class Frame:
    """One captured frame.

    index: 0-based, consecutive as read from the source (dropped frames leave gaps).
    time_s: media time for recorded sources (container timestamp, else index / fps), capture
        time since the source opened for live ones.
    image: BGR uint8 HxWx3.
    fps: the source's frame rate, as read from it or (live) estimated from capture times.
    error: why the frame is unusable (a corrupt image in a folder), else None; then ``image``
        is empty (0 x 0 x 3) and the spotter counts the frame as invalid.
    """

    index: int
    time_s: float
    image: np.ndarray
    fps: float
    error: str | None = None


# -- the source --------------------------------------------------------------------------------

_END = object()
_EMPTY = np.zeros((0, 0, 3), np.uint8)  # the image of an invalid frame (Frame.error says why)


class Source:
    """An opened source: iterate it for :class:`Frame` objects; close it (or use ``with``).

    Iterate once. Leaving the loop early (``break``, an exception, dropping the iterator) closes
    the source. Build it with :func:`open_source` (or :func:`open_reader` for your own reader).
    """

    def __init__(self, reader: Reader, *, realtime: bool, queue_size: int,
                 timeout_s: float) -> None:
        self._reader = reader
        self._realtime_asked = realtime
        self._realtime = realtime and not reader.is_live  # settled again once the reader opens
        self._queue_size = queue_size
        self._timeout_s = timeout_s
        self._queue: collections.deque[Any] = collections.deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._opened = threading.Event()
        self._reader_opened = False
        self._error: BaseException | None = None
        self._dropped = 0
        self._read = 0
        self._fps = reader.fps
        self._closed = False
        self._iterated = False
        self._thread = threading.Thread(target=self._run, name=f"capture: {reader.description}",
                                        daemon=True)

    def _start(self) -> None:
        """Start capture and wait until the source is open (bounded by timeout_s)."""
        self._thread.start()
        if not self._opened.wait(self._timeout_s + _GRACE_S):
            self.close()
            raise SourceError(f"cannot open {self._reader.description}: "
                              f"no answer within {self._timeout_s:g} s")
        if self._error is not None and not self._reader_opened:
            error = self._error
            self.close()
            raise error

    # -- public properties ---------------------------------------------------------------------
    @property
    def fps(self) -> float:
        """Frame rate: read from the source, or estimated from capture times for live ones."""
        return self._fps

    @property
    def is_live(self) -> bool:
        return self._reader.is_live

    @property
    def realtime(self) -> bool:
        """Whether a recorded source is paced at its own frame rate (never for live ones)."""
        return self._realtime

    @property
    def dropped_frames(self) -> int:
        """Frames read but dropped because the consumer was slow (live sources only)."""
        return self._dropped

    @property
    def frames_read(self) -> int:
        """Frames read from the source so far, delivered or dropped."""
        return self._read

    @property
    def description(self) -> str:
        return self._reader.description

    def __repr__(self) -> str:
        return f"<Source {self.description!r} live={self.is_live} read={self._read}>"

    # -- capture thread ------------------------------------------------------------------------
    def _run(self) -> None:
        reader = self._reader
        try:
            try:
                reader.open()
            except BaseException as exc:
                self._error = exc  # set before waking open_source, which raises it
                self._opened.set()
                raise
            self._fps = reader.fps
            self._realtime = self._realtime_asked and not reader.is_live  # known once open
            self._reader_opened = True
            self._opened.set()
            start = time.monotonic()
            first_media: float | None = None
            last_time = -math.inf
            stamps: collections.deque[float] = collections.deque(maxlen=30)
            bad_frames = 0
            while not self._stop.is_set():
                index = self._read
                error = None
                try:
                    item = reader.read(self._stop)
                except FrameError as exc:  # one unusable frame: deliver it as invalid, go on
                    error, item = str(exc), (_EMPTY, None)
                    bad_frames += 1
                    if bad_frames == 1:
                        log.warning("%s in %s; counted as an invalid frame, going on "
                                    "(any more are counted in the summary)", error,
                                    reader.description)
                if item is None:
                    break
                raw, media_s = item
                if error is None:
                    try:
                        image = normalize_frame(raw,
                                                name=f"frame {index} of {reader.description}")
                    except ValueError as exc:
                        raise SourceError(str(exc)) from exc
                else:
                    image = raw
                if reader.is_live:
                    time_s = time.monotonic() - start
                    stamps.append(time_s)
                    if len(stamps) >= 10 and stamps[-1] > stamps[0]:
                        self._fps = (len(stamps) - 1) / (stamps[-1] - stamps[0])
                else:
                    if media_s is not None and media_s >= 0 and media_s > last_time:
                        time_s = media_s  # container timestamp
                    else:
                        time_s = index / self._fps
                        if time_s <= last_time:
                            time_s = last_time + 1.0 / self._fps
                    if self._realtime:
                        if first_media is None:
                            first_media, start = time_s, time.monotonic()
                        delay = start + (time_s - first_media) - time.monotonic()
                        if delay > 0 and self._stop.wait(delay):
                            break
                last_time = time_s
                self._read += 1
                self._put(Frame(index=index, time_s=float(time_s), image=image, fps=self._fps,
                                error=error))
        except BaseException as exc:  # delivered to the consumer after the frames before it
            self._error = exc
        finally:
            try:
                reader.close()
            except Exception:  # releasing must not hide the real outcome
                log.exception("closing %s failed", reader.description)
            with self._cond:
                self._queue.append(_END)
                self._cond.notify_all()

    def _put(self, frame: Frame) -> None:
        with self._cond:
            if self._reader.is_live:
                while len(self._queue) >= self._queue_size:
                    self._queue.popleft()
                    self._dropped += 1
            else:
                while len(self._queue) >= self._queue_size and not self._stop.is_set():
                    self._cond.wait(0.1)
            self._queue.append(frame)
            self._cond.notify_all()

    # -- consumer side -------------------------------------------------------------------------
    def _wait_s(self) -> float:
        """How long the consumer waits for one frame before calling the source stalled."""
        if self._realtime:
            return self._timeout_s + _GRACE_S + 2.0 / max(self._fps, 1e-3)
        return self._timeout_s + _GRACE_S

    def __iter__(self) -> Iterator[Frame]:
        if self._closed:
            raise SourceError(f"{self.description} is closed")
        if self._iterated:
            raise SourceError(f"{self.description} is already being iterated (iterate once)")
        self._iterated = True
        return self._frames()

    def _frames(self) -> Iterator[Frame]:
        try:
            while True:
                with self._cond:
                    if not self._queue:
                        self._cond.wait_for(lambda: bool(self._queue), self._wait_s())
                    if not self._queue:
                        raise SourceError(f"{self.description}: no frame for "
                                          f"{self._wait_s():g} s (stalled)")
                    item = self._queue.popleft()
                    self._cond.notify_all()
                if item is _END:
                    if self._error is not None:
                        raise self._error
                    return
                yield item
        finally:
            self.close()

    def close(self) -> None:
        """Stop capture, join the thread (which releases the capture). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(self._timeout_s + 1.0)
            if self._thread.is_alive():
                log.warning("capture thread of %s still blocked in a read after %.1f s; "
                            "it releases the source when that read returns",
                            self.description, self._timeout_s + 1.0)

    def __enter__(self) -> Source:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def open_source(
    spec: int | str | Path | Iterable[Any],
    *,
    realtime: bool = False,
    queue_size: int = 4,
    timeout_s: float = 5.0,
    fps: float | None = None,
    live: bool | None = None,
) -> Source:
    """Open a camera, video file, stream URL, image folder or iterable of frames.

    spec: camera index (int or digit string), ``rtsp://``/``http(s)://``/``rtmp://`` URL, video
        file path, folder of images (natural name order), or an iterable of numpy frames (a
        list, a generator, an N x H x W x C array).
    realtime: pace recorded sources at their own frame rate (live ones are real time anyway).
    queue_size: frames buffered between the capture thread and the consumer, >= 1.
    timeout_s: bound on opening and on waiting for a frame from a live source, > 0.
    fps: frame rate of a folder or iterable (default 30); overrides the rate a file reports.
    live: None decides by the source (see the module docstring); True forces the live
        drop-oldest policy, False keeps every frame (cameras, URLs, files).
    Raises SourceError when the source cannot be opened or has no frame.
    """
    check_bool("realtime", realtime)
    check_int("queue_size", queue_size, 1, what="an integer")
    fps_f = None if fps is None else check_number("fps", fps, 0, MAX_FPS, low_open=True,
                                                  high_open=True)
    timeout = _check_timeout(timeout_s)
    if live is not None:
        check_bool("live", live)
    return open_reader(make_reader(spec, fps_f, timeout, live), realtime=realtime,
                       queue_size=queue_size, timeout_s=timeout)


def _check_timeout(timeout_s: Any) -> float:
    return check_number("timeout_s", timeout_s, 0, low_open=True, what="a number of seconds")


def open_reader(reader: Reader, *, realtime: bool = False, queue_size: int = 4,
                timeout_s: float = 5.0) -> Source:
    """Run ``reader`` behind a capture thread and return the opened :class:`Source`.

    The public way to add a kind of source (a simulated camera, a device SDK): the source
    gives it the same queue, drop policy (by ``reader.is_live``), pacing (``realtime``),
    timeouts and clean-up as the built-in ones. Raises what ``reader.open`` raises, or
    SourceError when it does not answer within ``timeout_s``.
    """
    if not isinstance(reader, Reader):
        raise ValueError(f"reader must be a realtime.sources.Reader, got {type(reader).__name__}")
    check_bool("realtime", realtime)
    queue = check_int("queue_size", queue_size, 1, what="an integer")
    source = Source(reader, realtime=realtime, queue_size=queue,
                    timeout_s=_check_timeout(timeout_s))
    source._start()
    return source
