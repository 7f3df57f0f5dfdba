"""The worker: per-frame statuses, a reused spotter equal to a fresh one, chunk stops, errors.

These run the single-face spotter (``max_faces=1``), whose state restarts on every face-free
frame; the several-faces worker is tested in ``test_multiface.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from realtime.corpus.work import (
    NO_FACE_CODE,
    STATUS_CODES,
    STATUS_INVALID,
    RecordingWorker,
    Task,
    WorkerConfig,
)
from realtime.spotter import DEFAULT_WEIGHTS

from .conftest import BLANKS


@pytest.fixture(scope="module")
def worker() -> RecordingWorker:
    w = RecordingWorker(WorkerConfig(weights=str(DEFAULT_WEIGHTS), max_faces=1))
    yield w
    w.close()


@pytest.fixture(scope="module")
def cut_result(worker: RecordingWorker, cut_clip: Path):
    return worker.run(Task("cut", str(cut_clip)))


def test_status_codes_follow_the_spotter() -> None:
    from realtime.spotter import STATUS_INVALID as SPOTTER_INVALID

    assert STATUS_INVALID == SPOTTER_INVALID and STATUS_CODES[NO_FACE_CODE] == "no_face"


def test_statuses_are_those_of_frame_by_frame_processing(cut_result, cut_clip: Path) -> None:
    from realtime.sources import open_source

    res = cut_result
    assert res.error is None and res.reached_end and res.frames == 130
    spotter = WorkerConfig(weights=str(DEFAULT_WEIGHTS), max_faces=1).spotter()
    with spotter, open_source(cut_clip) as source:
        expected = [STATUS_CODES.index(spotter.process(f).face_status) for f in source]
    assert list(res.statuses) == expected
    assert [i for i in range(130) if res.is_reset(i)] == list(BLANKS)


def test_a_reused_worker_equals_a_fresh_one(worker: RecordingWorker, cut_result,
                                            cut_clip: Path, short_clip: Path) -> None:
    short = worker.run(Task("short", str(short_clip)))
    again = worker.run(Task("cut", str(cut_clip)))
    assert again.events == cut_result.events and cut_result.events
    assert again.statuses == cut_result.statuses
    fresh = RecordingWorker(WorkerConfig(weights=str(DEFAULT_WEIGHTS), max_faces=1))
    try:
        cold = fresh.run(Task("short", str(short_clip)))
    finally:
        fresh.close()
    assert (cold.events, cold.statuses) == (short.events, short.statuses)


def test_a_chunk_starts_at_its_frame_and_stops_after_its_face_free_frames(
        worker: RecordingWorker, cut_clip: Path) -> None:
    res = worker.run(Task("cut", str(cut_clip), start=30, stop=120, sync_from=60,
                          max_syncs=2))
    # Frames 30.. are processed; past 60 the run stops at the 2nd face-free frame (101).
    assert (res.start, res.stop, res.reached_end) == (30, 102, False)
    assert res.is_reset(40) and res.is_reset(101) and not res.is_reset(29)


def test_an_unreadable_recording_is_an_error_result(worker: RecordingWorker,
                                                    corrupt_clip: Path) -> None:
    res = worker.run(Task("corrupt", str(corrupt_clip)))
    assert res.error is not None and str(corrupt_clip) in res.error
    assert res.frames == 0 and res.events == []


def test_worker_refuses_a_foreign_config() -> None:
    with pytest.raises(ValueError, match="config must be a WorkerConfig, got dict"):
        RecordingWorker({"weights": "w"})  # type: ignore[arg-type]


def test_a_resampled_stream_has_no_restart() -> None:
    """A cold chunk of a resampled source would keep other frames than one pass (the time
    grid starts at the stream's first frame): its face-free frames are no joins."""
    from types import SimpleNamespace

    from realtime.corpus.work import _Probe

    counts = dict.fromkeys(STATUS_CODES, 0)
    spotter = SimpleNamespace(stats=SimpleNamespace(face_status=counts), resampler=None)
    probe = _Probe(spotter, several=False)
    counts["no_face"] += 1
    assert probe.taken(0) is True
    spotter.resampler = object()
    counts["no_face"] += 1
    assert probe.taken(1) is False
    assert list(probe.statuses) == [NO_FACE_CODE, NO_FACE_CODE]
