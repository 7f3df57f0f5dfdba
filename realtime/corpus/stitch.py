"""Joining the chunks of one recording so that the result equals a single pass, exactly.

The spotter's per-stream state does not have a short memory: the input reference is a running
average over seconds, the crop box is smoothed, the tracker follows the face. So a chunk that
starts cold, even after a few frames of overlap, can differ from a single pass for as long as
the face stays in view. What does restart everything is a frame with **no face**: the cropper
forgets the track, the engine empties its window and its reference, the merger closes the open
expression. After such a frame, every run that also had no face there is in the same state.

So each chunk runs cold from its first frame and past its nominal end into the next chunk (the
overlap, until a few no-face frames). Walking the chunks in order, the join of chunk ``j`` and
``j + 1`` is the first frame ``r`` at or after ``j + 1``'s start with no face in both runs:
events with onset before ``r`` come from the run that is exact up to ``r``, those after from
``j + 1``, which is exact from ``r`` on. Statuses of frames before ``r`` come from the first,
from ``r`` on from the second. When no such frame exists (the face never left the view), the
stretch is run again in one piece from the last join (:class:`Rerun`), on past the chunk
until its next face-free frames (so that a stretch without any is run again once, not once per
chunk it spans), and the walk goes on from the chunk it reached.
A recording without any face-free frame is thus processed twice over: chunking pays off on
recordings where the face leaves the view now and then (cuts, people leaving the frame).

Several faces (``--max-faces`` above 1): the same walk, on the worker's restart frames (no face
followed and none remembered: every face gone for more than 1 s, see
:mod:`realtime.corpus.work`), not on single face-free frames, since a face that leaves keeps
its id for its return. A run started cold numbers its faces from 0; the stitcher renumbers the
faces of each run it takes from by the single pass's count of faces at the join, so that ids
(and the first face's missing ``face_id``) are those of one pass. Chunks join only where the
view is empty for more than a second; elsewhere the stretch is rerun, which keeps the result
exact at the price of more frames.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from realtime.corpus.work import STATUS_CODES, Task, TaskResult
from realtime.events import Event


@dataclass(frozen=True)
class Rerun:
    """Run ``task`` (from an exact restart point) and hand the result to :meth:`Stitcher.add`."""

    task: Task


@dataclass
class Stitched:
    """The single-pass result of one recording."""

    events: list[Event]
    status_counts: dict[str, int]
    frames: int
    fps: float
    class_names: tuple[str, ...]
    error: str | None = None
    reruns: int = 0
    tasks: list[TaskResult] = field(default_factory=list)
    faces: int | None = None  # distinct faces (several faces; None: the single-face spotter)


def plan_chunks(name: str, path: str, frame_count: int | None, chunk_frames: int | None,
                overlap_frames: int | None = None, max_syncs: int = 3) -> list[Task]:
    """The tasks of one recording: one task, or chunks of ``chunk_frames`` frames whose runs go
    on up to ``overlap_frames`` (default: one chunk) into the next one. ``frame_count`` may be
    an estimate (a container's count); the last chunk always runs to the real end."""
    if not chunk_frames or frame_count is None or frame_count <= chunk_frames:
        return [Task(name=name, path=path)]
    overlap = chunk_frames if overlap_frames is None else min(overlap_frames, chunk_frames)
    if overlap < 1:
        raise ValueError(f"overlap_frames must be >= 1, got {overlap_frames}")
    starts = list(range(0, frame_count, chunk_frames))
    tasks = []
    for part, start in enumerate(starts):
        last = part == len(starts) - 1
        end = start + chunk_frames
        tasks.append(Task(name=name, path=path, start=start, part=part,
                          stop=None if last else end + overlap,
                          sync_from=None if last else end, max_syncs=max_syncs))
    return tasks


class Stitcher:
    """Collects the chunk results of one recording (in any order) and joins them in order.

    :meth:`add` returns the reruns that became necessary; :attr:`result` is set once the
    recording is complete (or failed).
    """

    def __init__(self, tasks: list[Task]) -> None:
        if not tasks:
            raise ValueError("a recording needs at least one task")
        self.tasks = tasks
        self._results: dict[int, TaskResult] = {}
        self._cur: TaskResult | None = None  # the run that is exact from _valid_from on
        self._valid_from = 0
        self._offset = 0  # single-pass face id = _cur's face id + this
        self._seen_at_join = 0  # distinct faces of the single pass up to _valid_from
        self._next = 1  # the chunk to join next
        self._events: list[Event] = []
        self._counts: dict[str, int] = dict.fromkeys(STATUS_CODES, 0)
        self._reruns = 0
        self._waiting_rerun = False
        self._all: list[TaskResult] = []
        self.result: Stitched | None = None

    @property
    def done(self) -> bool:
        return self.result is not None

    def add(self, res: TaskResult, *, rerun: bool = False) -> list[Rerun]:
        """Take one task's result (``rerun``: the result of a :class:`Rerun`)."""
        if self.done:
            return []
        self._all.append(res)
        if res.error is not None:
            self._finish(error=res.error if len(self.tasks) == 1 else
                         f"chunk {res.part} (frames from {res.start}): {res.error}", last=res)
            return []
        if rerun:
            self._waiting_rerun = False
            self._cur = res
            self._offset = self._seen_at_join - res.faces_at.get(self._valid_from, 0)
            self._next += 1
        else:
            self._results[res.part] = res
            if res.part == 0:
                self._cur = res
        return self._advance()

    # -- the walk ------------------------------------------------------------------------------
    def _advance(self) -> list[Rerun]:
        while self._cur is not None and not self._waiting_rerun:
            cur = self._cur
            if cur.reached_end or self._next >= len(self.tasks):
                self._take(cur, None)
                self._finish(last=cur)
                return []
            nxt = self._results.get(self._next)
            if nxt is None:
                return []
            if nxt.frames == 0 and nxt.reached_end:  # the recording ended where cur stopped
                self._take(cur, None)
                self._finish(last=cur)
                return []
            join = next((f for f in range(max(nxt.start, self._valid_from + 1), cur.stop)
                         if cur.is_reset(f) and nxt.is_reset(f)), None)
            if join is None:
                later = self._next + 1
                if later < len(self.tasks) and self.tasks[later].start < cur.stop:
                    self._next = later  # cur (a rerun) ran on past that chunk's start: a
                    continue  # join may lie there
                return [self._rerun_through(self._next)]
            self._take(cur, join)
            seen = self._offset + cur.faces_at.get(join, 0)
            self._cur, self._valid_from, self._seen_at_join = nxt, join, seen
            self._offset = seen - nxt.faces_at.get(join, 0)
            self._next += 1
        return []

    def _rerun_through(self, part: int) -> Rerun:
        """One run from the last join through chunk ``part`` and on, until it has seen
        ``max_syncs`` restarts past the chunk's end (or the recording's end): a stretch without
        a join is run again once, not once per chunk it spans."""
        last = self.tasks[part]
        self._reruns += 1
        self._waiting_rerun = True
        self._cur = None
        task = Task(name=last.name, path=last.path, start=self._valid_from, stop=None,
                    sync_from=last.sync_from, max_syncs=last.max_syncs, part=part)
        return Rerun(task)

    def _take(self, run: TaskResult, until: int | None) -> None:
        """Keep ``run``'s events and statuses from the last join up to ``until`` (None: all)."""
        lo = self._valid_from
        self._events += [renumber(e, self._offset) for e in run.events
                         if (e.onset_frame > lo or lo == 0)
                         and (until is None or e.onset_frame < until)]
        hi = run.stop if until is None else until
        for code in run.statuses[lo - run.start:hi - run.start]:
            self._counts[STATUS_CODES[code]] += 1

    def _finish(self, last: TaskResult, error: str | None = None) -> None:
        first = self._results.get(0, last)
        self.result = Stitched(
            events=self._events, status_counts=self._counts,
            frames=sum(self._counts.values()), fps=first.fps or last.fps,
            class_names=first.class_names or last.class_names, error=error,
            reruns=self._reruns, tasks=self._all,
            faces=None if last.faces is None else self._offset + last.faces)
        if error is not None:
            self.result.faces = last.faces if len(self.tasks) == 1 else None
            self.result.events = list(last.events) if len(self.tasks) == 1 else []
            self.result.status_counts = _counts(last.statuses) if len(self.tasks) == 1 else {}
            self.result.frames = last.frames if len(self.tasks) == 1 else 0


def renumber(event: Event, offset: int) -> Event:
    """``event`` of a run whose faces are numbered ``offset`` below the single pass's, with the
    single pass's ``face_id`` (face 0, the first of the pass, carries none)."""
    if offset == 0:
        return event
    face = offset + (event.face_id or 0)
    return dataclasses.replace(event, face_id=face or None)


def _counts(statuses: bytes) -> dict[str, int]:
    counts = dict.fromkeys(STATUS_CODES, 0)
    for code in statuses:
        counts[STATUS_CODES[code]] += 1
    return counts
