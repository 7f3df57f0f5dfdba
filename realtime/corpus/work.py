"""One worker of a corpus run: a :class:`~realtime.spotter.Spotter` built once, run per task.

A :class:`Task` is a whole recording, or a frame range of one (a chunk). The worker decodes the
recording from its first frame (frame indices and media times are then exactly those of a
single pass), skips the frames before ``start``, and runs the spotter on the rest through
:meth:`Spotter.run` in batches, exactly as ``python -m realtime spot`` does on a file. Each
frame's face status is recorded: a ``no_face`` frame resets the whole per-stream state (face
track, window, input reference, open expression), which is what lets :mod:`realtime.corpus.stitch`
join chunks exactly.

Every error of a recording (unreadable, corrupt mid-stream, a bug) is caught and returned in
:attr:`TaskResult.error`, so one bad recording never stops the others. Torch-free.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from realtime.events import Event
from realtime.face import FACE_STATUSES, STATUS_NO_FACE
from realtime.vocab import check_int

STATUS_INVALID = "invalid_frame"  # realtime.spotter.STATUS_INVALID (not imported: see below)
STATUS_CODES: tuple[str, ...] = (*FACE_STATUSES, STATUS_INVALID)
NO_FACE_CODE = STATUS_CODES.index(STATUS_NO_FACE)
CROP_STATUSES = ("ok", "at_edge")  # statuses whose frame has a face crop (face time)
PROGRESS_EVERY = 16  # frames between progress callbacks


@dataclass(frozen=True)
class WorkerConfig:
    """What every worker builds its spotter from (the ``spot`` options that change events).

    weights: folder of the ONNX graphs; provider, mode, threads: see
    :class:`realtime.engine.Engine`; postprocess: a
    :class:`realtime.postprocess.PostprocessChoice` (the ``spot`` options), None for the model's
    recommended post-processing.
    """

    weights: str
    provider: str = "auto"
    mode: str = "cached"
    threads: int | None = 1
    postprocess: Any = None  # a PostprocessChoice (None: the model's recommendation)

    def spotter(self) -> Any:
        """A new spotter with these settings (loads the graphs and the face detector)."""
        from realtime.spotter import Spotter

        return Spotter(self.weights, provider=self.provider, mode=self.mode,
                       postprocess=self.postprocess, threads=self.threads)


@dataclass(frozen=True)
class Task:
    """Frames ``start`` .. ``stop - 1`` of one recording (``stop`` None: to its end).

    sync_from: a chunk's nominal end: from this frame on the run is an overlap into the next
        chunk and stops after ``max_syncs`` no-face frames (or at ``stop``); None for none.
    part: the chunk's number (0 for a whole recording), for messages and the stitcher.
    """

    name: str
    path: str
    start: int = 0
    stop: int | None = None
    sync_from: int | None = None
    max_syncs: int = 3
    part: int = 0

    def __post_init__(self) -> None:
        check_int("start", self.start, 0)
        if self.stop is not None and check_int("stop", self.stop, 0) <= self.start:
            raise ValueError(f"task stop must be > start ({self.start}), got {self.stop}")
        if self.sync_from is not None:
            check_int("sync_from", self.sync_from, self.start, self.stop)
        check_int("max_syncs", self.max_syncs, 1)


@dataclass
class TaskResult:
    """What one task produced.

    start: first frame processed; statuses: one STATUS_CODES index per processed frame.
    events: every event the run emitted, in order (stitching decides which count).
    reached_end: the recording ended inside the task (its last frame was processed).
    error: why the recording failed (None: it did not); events then hold those before it.
    """

    name: str
    part: int
    start: int
    statuses: bytes = b""
    events: list[Event] = field(default_factory=list)
    fps: float = 0.0
    reached_end: bool = False
    error: str | None = None
    elapsed_s: float = 0.0
    class_names: tuple[str, ...] = ()
    worker: str = ""

    @property
    def frames(self) -> int:
        return len(self.statuses)

    @property
    def stop(self) -> int:
        """One past the last frame processed."""
        return self.start + len(self.statuses)

    def is_reset(self, frame: int) -> bool:
        """Whether ``frame`` was processed here and had no face (the state restarted)."""
        i = frame - self.start
        return 0 <= i < len(self.statuses) and self.statuses[i] == NO_FACE_CODE


class RecordingWorker:
    """Runs tasks on one spotter, built at the first task and kept (graphs load once).

    on_progress: ``callback(frames)`` every few processed frames (the frame progress bar).
    """

    def __init__(self, config: WorkerConfig) -> None:
        if not isinstance(config, WorkerConfig):
            raise ValueError(f"config must be a WorkerConfig, got {type(config).__name__}")
        self.config = config
        self._spotter: Any = None
        self.frames_done = 0  # frames processed by this worker, all tasks (read by progress)
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    def run(self, task: Task, on_progress: Callable[[int], Any] | None = None) -> TaskResult:
        """Run one task; never raises for a problem of the recording (see TaskResult.error)."""
        started = time.perf_counter()
        result = TaskResult(name=task.name, part=task.part, start=task.start, worker=self.name)
        statuses = bytearray()
        try:
            spotter = self._fresh_spotter()
            result.class_names = tuple(spotter.class_names)
            self._run(spotter, task, result, statuses, on_progress)
        except Exception as exc:  # the recording's problem, reported in the summary
            result.error = f"{type(exc).__name__}: {exc}" if not _is_known(exc) else str(exc)
        result.statuses = bytes(statuses)
        result.elapsed_s = time.perf_counter() - started
        return result

    def close(self) -> None:
        if self._spotter is not None:
            self._spotter.close()
            self._spotter = None

    # -- internals -----------------------------------------------------------------------------
    def _fresh_spotter(self) -> Any:
        """The worker's spotter, reset to the state of a new one (new stream, new counters)."""
        from realtime.spotter import SpotterStats

        if self._spotter is None:
            self._spotter = self.config.spotter()
        self._spotter.reset()
        self._spotter.stats = SpotterStats()
        return self._spotter

    def _run(self, spotter: Any, task: Task, result: TaskResult, statuses: bytearray,
             on_progress: Callable[[int], Any] | None) -> None:
        from realtime.sources import open_source
        from realtime.spotter import DEFAULT_BATCH_FRAMES

        source = open_source(Path(task.path))
        result.fps = float(source.fps)
        with source:
            frames = self._frames(source, spotter, task, result, statuses, on_progress)
            try:
                for event in spotter.run(frames, batch_frames=DEFAULT_BATCH_FRAMES):
                    result.events.append(event)
            except BaseException:
                # Events confirmed before the error are kept, as spot writes them.
                result.events += spotter.flush()
                raise

    def _frames(self, source: Any, spotter: Any, task: Task, result: TaskResult,
                statuses: bytearray, on_progress: Callable[[int], Any] | None) -> Iterator[Any]:
        """The task's frames; records each one's face status once the spotter has taken it."""
        counts = spotter.stats.face_status
        before = dict(counts)
        syncs = 0
        pending = 0
        for frame in source:
            if frame.index < task.start:
                continue  # decoded, not processed: indices and times stay those of one pass
            if task.stop is not None and frame.index >= task.stop:
                return
            yield frame
            code = next((STATUS_CODES.index(k) for k, v in counts.items()
                         if v != before.get(k, 0) and k in STATUS_CODES), None)
            if code is None:
                raise RuntimeError(f"frame {frame.index}: no face status was counted")
            before = dict(counts)
            statuses.append(code)
            self.frames_done += 1
            pending += 1
            if on_progress is not None and pending >= PROGRESS_EVERY:
                on_progress(pending)
                pending = 0
            if task.sync_from is not None and frame.index >= task.sync_from \
                    and code == NO_FACE_CODE:
                syncs += 1
                if syncs >= task.max_syncs:
                    if on_progress is not None and pending:
                        on_progress(pending)
                    return
        result.reached_end = True
        if on_progress is not None and pending:
            on_progress(pending)


def _is_known(exc: BaseException) -> bool:
    """Bad input (a message that names the problem) rather than a bug (type name added)."""
    from realtime.readers import SourceError

    return isinstance(exc, SourceError | ValueError | OSError)
