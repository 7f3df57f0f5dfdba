"""Sinks: where events and annotated frames go (JSON lines, CSV, an overlay video).

Every sink follows one discipline, in the style of supervision's ``VideoSink``:

- it is a context manager; ``close()`` is idempotent and also runs on ``__exit__``, so a
  ``with`` block (or a ``finally``) releases the file whatever happened;
- ``write(item)`` (also ``sink(item)``, so a sink is a callback) writes one item; event files
  flush after every event, so a crash loses nothing already emitted;
- writing to a closed sink raises ValueError; a file that cannot be opened or written raises
  :class:`SinkError` naming the path.

The event CSV (:func:`csv_text`, :class:`CsvEventWriter`) has the header
:data:`realtime.events.CSV_COLUMNS`, empty cells for None and ``true``/``false`` flags; the page's
CSV download is the same text.
"""

from __future__ import annotations

import csv
import io
import json
import math
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import numpy as np

from realtime.events import CSV_COLUMNS, Event

T = TypeVar("T")
DEFAULT_VIDEO_FPS = 30.0  # an overlay video of a source without a usable frame rate


class SinkError(OSError):
    """A sink's file cannot be opened or written (the message names the path)."""


class Sink(Generic[T]):
    """The shared lifecycle: write items, count them, close once (see the module docstring)."""

    what = "file"  # names the file in messages ("event file", "video")

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.count = 0
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def write(self, item: T) -> None:
        """Write one item (raises ValueError when closed, SinkError when the file fails)."""
        if self._closed:
            raise ValueError(f"{self.what} {self.path} is closed")
        try:
            self._write(item)
        except SinkError:
            raise
        except OSError as exc:
            raise SinkError(f"cannot write {self.what} {self.path}: "
                            f"{exc.strerror or exc}") from exc
        self.count += 1

    __call__ = write

    def write_all(self, items: Iterable[T]) -> None:
        for item in items:
            self.write(item)

    def close(self) -> None:
        """Release the file. Idempotent."""
        if not self._closed:
            self._closed = True
            self._release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _write(self, item: T) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError


# ----------------------------------------------------------------------------- events


def _json_number(value: Any) -> Any:
    # NaN/inf are not JSON; they cannot come from the merger but guard the file formats anyway.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _csv_line(values: Iterable[Any]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()


def csv_cells(event: Event) -> list[Any]:
    """One event's CSV cells in :data:`CSV_COLUMNS` order (None -> "", flags true/false)."""
    d = event.to_dict()
    cells = []
    for key in CSV_COLUMNS:
        v = _json_number(d.get(key))
        cells.append("" if v is None else ("true" if v is True else
                                           "false" if v is False else v))
    return cells


def csv_text(events: Iterable[Event]) -> str:
    """Events as the text of a CSV event file (header included), e.g. for a download."""
    return _csv_line(CSV_COLUMNS) + "".join(_csv_line(csv_cells(e)) for e in events)


def jsonl_line(event: Event) -> str:
    """One event as a JSON line (:meth:`Event.to_dict` keys; non-finite numbers as null)."""
    d = {k: _json_number(v) for k, v in event.to_dict().items()}
    return json.dumps(d, allow_nan=False) + "\n"


class _EventFile(Sink[Event]):
    """A text file of one event per line, opened at construction, flushed per event."""

    what = "event file"

    def __init__(self, path: str | Path, append: bool = False) -> None:
        super().__init__(path)
        self._new_file = not (append and self.path.exists() and self.path.stat().st_size > 0)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle: io.TextIOBase = self.path.open(
                "a" if append else "w", newline="", encoding="utf-8")
        except OSError as exc:
            raise SinkError(f"cannot open event file {self.path}: "
                            f"{exc.strerror or exc}") from exc

    def _write_text(self, text: str) -> None:
        self._handle.write(text)
        self._handle.flush()

    def _write(self, event: Event) -> None:
        if not isinstance(event, Event):
            raise TypeError(f"expected an Event, got {type(event).__name__}")
        self._write_text(self._line(event))

    def _line(self, event: Event) -> str:
        raise NotImplementedError

    def _release(self) -> None:
        self._handle.close()


class JsonlEventWriter(_EventFile):
    """Writes each event as one JSON object per line (``Event.to_dict`` keys)."""

    def _line(self, event: Event) -> str:
        return jsonl_line(event)


class CsvEventWriter(_EventFile):
    """Writes events as CSV rows under a header of :data:`CSV_COLUMNS` (written once: not
    again when appending to a non-empty file)."""

    def __init__(self, path: str | Path, append: bool = False) -> None:
        super().__init__(path, append)
        if self._new_file:
            try:
                self._write_text(_csv_line(CSV_COLUMNS))
            except OSError as exc:
                self.close()
                raise SinkError(f"cannot write event file {self.path}: "
                                f"{exc.strerror or exc}") from exc

    def _line(self, event: Event) -> str:
        return _csv_line(csv_cells(event))


def read_jsonl_events(path: str | Path) -> list[Event]:
    """Read a JSONL event file back (errors name the file and line)."""
    path = Path(path)
    events: list[Event] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SinkError(f"cannot read event file {path}: {exc.strerror or exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            events.append(Event.from_dict(json.loads(line)))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}: line {number}: {exc}") from exc
    return events


# ----------------------------------------------------------------------------- video


def _check_writable_folder(path: Path, what: str) -> None:
    """Fail now, naming the folder, when no file can be created next to ``path`` (OpenCV's
    writer only says that it did not open, which reads as a missing encoder)."""
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise SinkError(f"cannot write {what} {path}: folder {path.parent} is not writable "
                        f"({exc.strerror or exc})") from exc


class VideoSink(Sink[np.ndarray]):
    """Writes BGR frames to a video file (``.avi``: MJPG, else mp4v).

    The file opens at the first frame, whose size it keeps: later frames of another size are
    resized to it. ``count`` is the number of frames written.
    """

    what = "video"

    def __init__(self, path: str | Path, fps: float) -> None:
        super().__init__(path)
        self.fps = float(fps) if math.isfinite(fps) and 0 < fps < 1000 else DEFAULT_VIDEO_FPS
        self._writer: Any = None
        self._size: tuple[int, int] | None = None
        if not self.path.parent.is_dir():
            raise SinkError(f"cannot write video {self.path}: folder "
                            f"{self.path.parent} does not exist")
        _check_writable_folder(self.path, self.what)

    def _write(self, image: np.ndarray) -> None:
        import cv2

        h, w = image.shape[:2]
        if self._writer is None:
            fourcc = "MJPG" if self.path.suffix.lower() == ".avi" else "mp4v"
            writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*fourcc),
                                     self.fps, (w, h))
            if not writer.isOpened():
                raise SinkError(f"cannot write video {self.path} (OpenCV has no {fourcc} "
                                "encoder for this file type; try .mp4 or .avi)")
            self._writer, self._size = writer, (w, h)
        if (w, h) != self._size:
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(image)

    def _release(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
