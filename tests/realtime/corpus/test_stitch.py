"""Chunk planning and the exact join, on hand-made task results (no video, no model)."""

from __future__ import annotations

import dataclasses

import pytest

from realtime.corpus.stitch import Rerun, Stitcher, plan_chunks
from realtime.corpus.work import NO_FACE_CODE, STATUS_CODES, Task, TaskResult
from realtime.events import Event

OK = STATUS_CODES.index("ok")


def test_plan_chunks_table() -> None:
    assert plan_chunks("r", "/r.mp4", 100, 0) == [Task("r", "/r.mp4")]
    assert plan_chunks("r", "/r.mp4", None, 30) == [Task("r", "/r.mp4")]
    assert plan_chunks("r", "/r.mp4", 30, 30) == [Task("r", "/r.mp4")]
    tasks = plan_chunks("r", "/r.mp4", 70, 30, overlap_frames=10)
    assert [(t.start, t.stop, t.sync_from, t.part) for t in tasks] == [
        (0, 40, 30, 0), (30, 70, 60, 1), (60, None, None, 2)]
    assert plan_chunks("r", "/r.mp4", 70, 30)[0].stop == 60  # default overlap: one chunk


def test_task_checks_its_range() -> None:
    with pytest.raises(ValueError, match="stop must be > start"):
        Task("r", "/r", start=10, stop=10)
    with pytest.raises(ValueError, match="start must be an int >= 0, got -1"):
        Task("r", "/r", start=-1)


def segment(onset: int, offset: int) -> Event:
    return Event(kind="segment", expression="macro", onset_frame=onset, offset_frame=offset,
                 apex_frame=onset, onset_time_s=onset / 30, offset_time_s=offset / 30,
                 duration_s=(offset - onset + 1) / 30, confidence=0.9, mean_prob=0.9)


def result(part: int, start: int, n: int, resets: tuple[int, ...], events: list[Event],
           end: bool = False) -> TaskResult:
    statuses = bytes(NO_FACE_CODE if start + i in resets else OK for i in range(n))
    return TaskResult(name="r", part=part, start=start, statuses=statuses, events=events,
                      fps=30.0, reached_end=end, class_names=("none", "micro", "macro"))


TASKS = plan_chunks("r", "/r.mp4", 90, 30)  # chunks at 0, 30, 60; runs overlap one chunk


def test_join_at_the_first_common_face_free_frame_in_any_order() -> None:
    # Truth: no face at 35 and 70; segments 10-20, 40-50 (from 36), 80-85.
    # A cold chunk sees other things before its first join (its 31-33 segment is not real).
    r0 = result(0, 0, 60, (35, 50), [segment(10, 20), segment(40, 45)])
    r1 = result(1, 30, 60, (35, 70), [segment(31, 33), segment(40, 50), segment(75, 76)])
    r2 = result(2, 60, 30, (70,), [segment(62, 64), segment(80, 85)], end=True)
    st = Stitcher(TASKS)
    assert st.add(r2) == [] and not st.done
    assert st.add(r1) == [] and not st.done
    assert st.add(r0) == []
    res = st.result
    assert res is not None and res.error is None and res.reruns == 0
    assert [(e.onset_frame, e.offset_frame) for e in res.events] == [(10, 20), (40, 50),
                                                                      (80, 85)]
    assert res.frames == 90 and res.status_counts["no_face"] == 2


def test_no_common_face_free_frame_asks_for_a_rerun_from_the_last_join() -> None:
    r0 = result(0, 0, 60, (35,), [segment(10, 20)])
    r1 = result(1, 30, 60, (35,), [segment(40, 50)])  # nothing face-free in 60-90
    r2 = result(2, 60, 30, (), [segment(62, 64)], end=True)
    st = Stitcher(TASKS)
    st.add(r0)
    st.add(r1)
    (rerun,) = st.add(r2)
    assert isinstance(rerun, Rerun)
    assert (rerun.task.start, rerun.task.stop, rerun.task.part) == (35, None, 2)
    again = result(2, 35, 55, (35,), [segment(40, 50), segment(70, 80)], end=True)
    assert st.add(again, rerun=True) == []
    res = st.result
    assert res is not None and res.reruns == 1
    assert [e.onset_frame for e in res.events] == [10, 40, 70]
    assert res.frames == 90


def test_a_chunk_past_the_real_end_closes_the_recording() -> None:
    st = Stitcher(plan_chunks("r", "/r.mp4", 60, 30))  # the container said 60 frames
    st.add(result(1, 30, 0, (), [], end=True))  # ... but the video has 30
    st.add(result(0, 0, 30, (), [segment(1, 5)]))
    assert st.result is not None and st.result.frames == 30
    assert [e.onset_frame for e in st.result.events] == [1]


def test_an_error_fails_the_recording() -> None:
    st = Stitcher(TASKS)
    bad = TaskResult(name="r", part=1, start=30, error="frame 41: decode failed")
    st.add(bad)
    assert st.result is not None and st.result.error == (
        "chunk 1 (frames from 30): frame 41: decode failed")
    assert st.add(result(0, 0, 60, (), [])) == []  # later results are ignored


def faced(onset: int, face_id: int | None) -> Event:
    return dataclasses.replace(segment(onset, onset + 3), face_id=face_id)


def restarted(part: int, start: int, frames: int, restarts: dict[int, int],
              events: list[Event], faces: int, end: bool = False) -> TaskResult:
    """A several-faces result: restart frames -> faces seen up to them (statuses all ok)."""
    res = result(part, start, frames, (), events, end=end)
    res.restarts = bytes(int(start + i in restarts) for i in range(frames))
    res.faces_at, res.faces = dict(restarts), faces
    return res


def test_several_faces_join_at_restarts_and_take_the_single_pass_ids() -> None:
    # Truth: faces 0 (no face_id) and 1 before the empty view at 35; faces 2 and 3 after it,
    # in 60-90 always someone in view (rerun from 35); face 4 at 70.
    r0 = restarted(0, 0, 60, {35: 2}, [faced(10, None), faced(12, 1), faced(40, None)], 3)
    # Chunk 1 starts cold at 30 (the faces of 30-34 are its 0 and 1, then 2 and 3 after 35).
    r1 = restarted(1, 30, 60, {35: 2}, [faced(31, None), faced(40, 2), faced(41, 3)], 4)
    r2 = restarted(2, 60, 30, {}, [faced(62, None)], 1, end=True)
    st = Stitcher(TASKS)
    st.add(r0)
    st.add(r1)
    (rerun,) = st.add(r2)
    # The rerun starts cold at 35: its faces 0, 1, 2 are the single pass's 2, 3, 4.
    again = restarted(2, 35, 55, {35: 0}, [faced(40, None), faced(41, 1), faced(70, 2)], 3,
                      end=True)
    assert st.add(again, rerun=True) == []
    res = st.result
    assert res is not None and res.faces == 5
    assert [(e.onset_frame, e.face_id) for e in res.events] == [
        (10, None), (12, 1), (40, 2), (41, 3), (70, 4)]
    single = [e.onset_frame for e in res.events]
    assert single == sorted(single)


def test_several_faces_without_a_restart_in_the_overlap_rerun() -> None:
    # Face-free frames that are no restarts (a lost face keeps its id): no join there.
    r0 = restarted(0, 0, 60, {}, [faced(10, None)], 1)
    r0.statuses = bytes(NO_FACE_CODE if i == 35 else OK for i in range(60))
    r1 = restarted(1, 30, 60, {}, [faced(40, None)], 1)
    r1.statuses = r0.statuses
    st = Stitcher(TASKS)
    st.add(r0)
    (rerun,) = st.add(r1)
    assert (rerun.task.start, rerun.task.part) == (0, 1)


def test_a_rerun_that_runs_past_the_next_chunk_joins_a_later_one() -> None:
    # Truth: no face at 10 and 100-102; chunks at 0, 30, 60, 90 (120 frames).
    tasks = plan_chunks("r", "/r.mp4", 120, 30)
    r0 = result(0, 0, 60, (10,), [segment(12, 20)])
    r1 = result(1, 30, 60, (), [segment(40, 45)])
    r2 = result(2, 60, 60, (), [segment(65, 66)])  # (a cold run that kept a face at 100)
    r3 = result(3, 90, 30, (100, 101, 102), [segment(95, 96), segment(105, 110)], end=True)
    st = Stitcher(tasks)
    for r in (r2, r3, r0):
        assert st.add(r) == []
    (rerun,) = st.add(r1)
    # From the last join (frame 0) through chunk 1 and on: no stop of its own.
    assert (rerun.task.start, rerun.task.stop, rerun.task.sync_from) == (0, None, 60)
    again = result(1, 0, 103, (10, 100, 101, 102),
                   [segment(12, 20), segment(40, 45), segment(70, 80)])
    assert st.add(again, rerun=True) == []  # chunk 2 has no join: chunk 3 has, at 100
    res = st.result
    assert res is not None and res.reruns == 1 and res.frames == 120
    assert [e.onset_frame for e in res.events] == [12, 40, 70, 105]
