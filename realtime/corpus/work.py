"""One worker of a corpus run: the spotter of ``spot --max-faces N`` built once, run per task.

A :class:`Task` is a whole recording, or a frame range of one (a chunk). The worker decodes the
recording from its first frame (frame indices and media times are then exactly those of a
single pass), skips the frames before ``start``, and runs the spotter on the rest through its
``run``, exactly as ``python -m realtime spot`` does on a file: the single-face
:class:`~realtime.spotter.Spotter` in batches for ``max_faces`` 1, else a
:class:`~realtime.multiface.MultiSpotter` (every face, frame by frame). Each frame's face status
is recorded, and whether the spotter's whole per-stream state is that of a fresh spotter after
it (a *restart*), which is what lets :mod:`realtime.corpus.stitch` join chunks exactly:

- one face: a ``no_face`` frame restarts everything (face track, window, input reference, open
  expression);
- several faces: a frame after which no face is followed and no lost face is remembered for its
  return (every face has been gone for longer than ``keep_s``, 1 s). The spotter is then a
  fresh one but for its face-id counter, which the worker records at each restart
  (:attr:`TaskResult.faces_at`) so that the stitcher can renumber a chunk's faces.

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
from realtime.face import FACE_STATUSES, STATUS_AT_EDGE, STATUS_NO_FACE, STATUS_OK
from realtime.tracks import DEFAULT_MAX_FACES, check_max_faces
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
    recommended post-processing; max_faces: as ``spot --max-faces`` (1: the single-face
    spotter).
    """

    weights: str
    provider: str = "auto"
    mode: str = "cached"
    threads: int | None = 1
    postprocess: Any = None  # a PostprocessChoice (None: the model's recommendation)
    max_faces: int = DEFAULT_MAX_FACES

    def __post_init__(self) -> None:
        check_max_faces(self.max_faces)

    @property
    def several_faces(self) -> bool:
        return self.max_faces > 1

    def spotter(self) -> Any:
        """A new spotter with these settings (loads the graphs and the face detector): what
        ``spot`` runs for the same options."""
        from realtime.cli.options import follow_faces
        from realtime.spotter import Spotter

        return follow_faces(Spotter(self.weights, provider=self.provider, mode=self.mode,
                                    postprocess=self.postprocess, threads=self.threads),
                            self.max_faces)


@dataclass(frozen=True)
class Task:
    """Frames ``start`` .. ``stop - 1`` of one recording (``stop`` None: to its end).

    sync_from: a chunk's nominal end: from this frame on the run is an overlap into the next
        chunk and stops after ``max_syncs`` restart frames (or at ``stop``); None for none.
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
    restarts: one byte per processed frame, 1 where the spotter's state was a fresh one's after
        it (empty: the frames whose status is ``no_face``, the single-face rule).
    faces_at: several faces: restart frame -> distinct faces (ids given) up to it.
    faces: several faces: distinct faces of the whole run (None: the single-face spotter).
    events: every event the run emitted, in order (stitching decides which count).
    reached_end: the recording ended inside the task (its last frame was processed).
    error: why the recording failed (None: it did not); events then hold those before it.
    """

    name: str
    part: int
    start: int
    statuses: bytes = b""
    restarts: bytes = b""
    faces_at: dict[int, int] = field(default_factory=dict)
    faces: int | None = None
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
        """Whether ``frame`` was processed here and the state restarted on it."""
        i = frame - self.start
        if not 0 <= i < len(self.statuses):
            return False
        return bool(self.restarts[i]) if self.restarts else self.statuses[i] == NO_FACE_CODE


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
        probe: _Probe | None = None
        try:
            spotter = self._fresh_spotter()
            result.class_names = tuple(spotter.class_names)
            probe = _Probe(spotter, self.config.several_faces)
            self._run(spotter, task, result, probe, on_progress)
        except Exception as exc:  # the recording's problem, reported in the summary
            result.error = f"{type(exc).__name__}: {exc}" if not _is_known(exc) else str(exc)
        if probe is not None:
            result.statuses = bytes(probe.statuses)
            if self.config.several_faces:
                result.restarts = bytes(probe.restarts)
                result.faces = int(self._spotter.faces_seen)
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

    def _run(self, spotter: Any, task: Task, result: TaskResult, probe: _Probe,
             on_progress: Callable[[int], Any] | None) -> None:
        from realtime.sources import open_source
        from realtime.spotter import DEFAULT_BATCH_FRAMES

        source = open_source(Path(task.path))
        result.fps = float(source.fps)
        with source:
            frames = self._frames(source, task, result, probe, on_progress)
            on_frame = probe.on_frame if probe.several else None
            try:
                for event in spotter.run(frames, on_frame=on_frame,
                                         batch_frames=DEFAULT_BATCH_FRAMES):
                    result.events.append(event)
            except BaseException:
                # Events confirmed before the error are kept, as spot writes them.
                result.events += spotter.flush()
                raise

    def _frames(self, source: Any, task: Task, result: TaskResult, probe: _Probe,
                on_progress: Callable[[int], Any] | None) -> Iterator[Any]:
        """The task's frames; records each one's face status once the spotter has taken it."""
        syncs = 0
        pending = 0
        for frame in source:
            if frame.index < task.start:
                continue  # decoded, not processed: indices and times stay those of one pass
            if task.stop is not None and frame.index >= task.stop:
                return
            yield frame
            restart = probe.taken(int(frame.index))
            if restart and probe.several:
                result.faces_at[int(frame.index)] = int(probe.spotter.faces_seen)
            self.frames_done += 1
            pending += 1
            if on_progress is not None and pending >= PROGRESS_EVERY:
                on_progress(pending)
                pending = 0
            if task.sync_from is not None and frame.index >= task.sync_from and restart:
                syncs += 1
                if syncs >= task.max_syncs:
                    if on_progress is not None and pending:
                        on_progress(pending)
                    return
        result.reached_end = True
        if on_progress is not None and pending:
            on_progress(pending)


class _Probe:
    """Each processed frame's face status and restart flag, read once the spotter took it.

    One face: the status is the one the spotter's counters gained; a ``no_face`` frame is a
    restart. Several faces: the frame's status is the best of its faces' (a usable crop, else
    the first face's status, else ``no_face``; so a frame counts once towards face time however
    many faces it has) and a restart is a frame after which the face tracks hold no face, not
    even a lost one (``FaceTracks.empty``). A stream resampled to the model's rate
    (:mod:`realtime.resample`) has no restart.
    """

    def __init__(self, spotter: Any, several: bool) -> None:
        self.spotter = spotter
        self.several = several
        self.statuses = bytearray()
        self.restarts = bytearray()
        self._counts = spotter.stats.face_status
        self._before = dict(self._counts)
        self._output: Any = None

    def on_frame(self, frame: Any, output: Any) -> None:
        self._output = output

    def taken(self, index: int) -> bool:
        """Record frame ``index`` (just processed); whether the state restarted on it."""
        if self.several:
            out, self._output = self._output, None
            if out is None or out.index != index:
                raise RuntimeError(f"frame {index}: the spotter reported no output")
            code = STATUS_CODES.index(frame_status(out))
            restart = self.spotter.tracks.empty
            self.restarts.append(restart)
        else:
            counts = self._counts
            code = next((STATUS_CODES.index(k) for k, v in counts.items()
                         if v != self._before.get(k, 0) and k in STATUS_CODES), None)
            if code is None:
                raise RuntimeError(f"frame {index}: no face status was counted")
            self._before = dict(counts)
            restart = code == NO_FACE_CODE
        # A resampled stream keeps the time grid of its first frame, which a chunk started
        # cold does not share: never a restart (chunks then rerun: exact, not faster).
        restart = restart and self.spotter.resampler is None
        self.statuses.append(code)
        return restart


def frame_status(output: Any) -> str:
    """The status of a frame of several faces (a
    :class:`~realtime.multiface.MultiFrameOutput`): ``ok`` when a face has a whole crop, else
    ``at_edge`` when one has a crop at the frame edge, else the first face's status (``too_small``,
    ``unconfirmed``), else ``no_face``; ``invalid_frame`` for an unusable frame. With one face
    in view this is that face's status, as the single-face spotter counts it."""
    if output.error is not None:
        return STATUS_INVALID
    cropped = [f.output.face_status for f in output.faces if f.output.has_crop]
    if cropped:
        return STATUS_OK if STATUS_OK in cropped else STATUS_AT_EDGE
    boxed = [f.output.face_status for f in output.faces
             if f.output.face is not None and f.output.face.box is not None]
    return boxed[0] if boxed else STATUS_NO_FACE


def _is_known(exc: BaseException) -> bool:
    """Bad input (a message that names the problem) rather than a bug (type name added)."""
    from realtime.readers import SourceError

    return isinstance(exc, SourceError | ValueError | OSError)
