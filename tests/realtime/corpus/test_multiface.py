"""``batch`` with several faces: per-face events equal to ``spot``'s, on local processes, whole
and chunked; ``--max-faces 1`` the single-face output; the summary's face count.

Two-face clips from ``tests/realtime/multiface_clips.py`` (the real media of
``../shared/data/real``; skipped when it is absent). Both commands run with ``--threshold 0
--relabel``: every classified frame is an expression, so every face has segments and the
comparison covers each face's events and ids whatever the model says.

``long`` (184 frames): both faces (0-71), an empty grey view for 40 frames (72-111: longer
than the 1 s a lost face keeps its id, so the faces that come back are new ones, ids 2 and
3), then the person alone (112-131) and both again. With chunks of 60 frames the chunk runs
join inside the empty stretch, and the stretch 120-180 (faces in view throughout) is rerun.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from realtime.corpus.work import NO_FACE_CODE, RecordingWorker, Task, WorkerConfig
from realtime.spotter import DEFAULT_WEIGHTS
from tests.media import write_video
from tests.realtime import multiface_clips as clips

from .test_cli import batch, outputs, rows

pytestmark = [pytest.mark.skipif(not clips.REAL.is_dir(),
                                 reason=f"real test media absent: {clips.REAL}"),
              pytest.mark.timeout(900)]
PREDICTABLE = ("--threshold", "0", "--relabel")
EMPTY = range(72, 112)  # long: no face in view
LONG_FRAMES = 184


@pytest.fixture(scope="module")
def two_face_clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("two_faces")
    leave = clips.side_by_side(absent=range(40, clips.N_FRAMES))  # the photo face leaves at 40
    grey = np.full_like(leave[0], 90)
    long = [*clips.side_by_side(), *[grey] * len(EMPTY),
            *clips.side_by_side(absent=range(20))]
    assert len(long) == LONG_FRAMES
    return {"leave": write_video(folder / "leave.mp4", leave),
            "long": write_video(folder / "long.mp4", long)}


@pytest.fixture(scope="module")
def spot_of(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., tuple[str, str]]:
    """(clip, *options) -> (JSONL text, CSV text) of ``spot --source CLIP`` (run once each)."""
    from realtime.__main__ import main

    cache: dict[tuple[object, ...], tuple[str, str]] = {}
    folder = tmp_path_factory.mktemp("spot_two_faces")

    def run(clip: Path, *options: str) -> tuple[str, str]:
        key = (clip, *options)
        if key not in cache:
            jsonl, table = folder / f"{len(cache)}.jsonl", folder / f"{len(cache)}.csv"
            code = main(["spot", "--source", str(clip), "--events-out", str(jsonl),
                         "--csv-out", str(table), "--quiet", "--threads", "1", *options])
            assert code == 0
            cache[key] = (jsonl.read_text(), table.read_text())
        return cache[key]

    return run


def face_ids(jsonl: str) -> set[int | None]:
    return {json.loads(line).get("face_id") for line in jsonl.splitlines()}


def test_batch_spots_every_face_as_spot_does(tmp_path: Path, two_face_clips, spot_of,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    clip = two_face_clips["leave"]
    out = tmp_path / "out"
    assert batch(clip, "--out", out, "--workers", 1, "--backend", "processes",
                 "--no-progress", *PREDICTABLE) == 0, capsys.readouterr().err
    assert outputs(out, "leave") == spot_of(clip, *PREDICTABLE)
    assert face_ids(outputs(out, "leave")[0]) == {None, 1}
    table = list(csv.DictReader(io.StringIO(outputs(out, "leave")[1])))
    assert {r["face_id"] for r in table} == {"", "1"}
    row = rows(out)["leave"]
    # The person is in every frame: face time is the frames with a face, counted once each.
    assert (row["faces"], row["frames"], row["face_frames"]) == ("2", "72", "72")
    assert float(row["face_time_s"]) == pytest.approx(72 / 30, abs=1e-3)


def test_max_faces_1_is_the_single_face_output(tmp_path: Path, two_face_clips, spot_of,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    clip = two_face_clips["leave"]
    out = tmp_path / "out"
    assert batch(clip, "--out", out, "--workers", 1, "--backend", "processes", "--no-progress",
                 "--max-faces", 1, *PREDICTABLE) == 0, capsys.readouterr().err
    single = spot_of(clip, "--max-faces", "1", *PREDICTABLE)
    assert outputs(out, "leave") == single
    assert face_ids(single[0]) == {None} and single[0].count('"segment"') >= 1
    assert rows(out)["leave"]["faces"] == "1"


def test_chunked_run_with_several_faces_equals_spot(tmp_path: Path, two_face_clips, spot_of,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    clip = two_face_clips["long"]
    out = tmp_path / "out"
    code = batch(clip, "--out", out, "--workers", 2, "--backend", "processes", "--no-progress",
                 "--chunk-frames", 60, *PREDICTABLE)
    err = capsys.readouterr().err
    assert code == 0, err
    assert "chunks join only where no face has been in view for over 1 s" in err
    expected = spot_of(clip, *PREDICTABLE)
    assert face_ids(expected[0]) == {None, 1, 2, 3}  # the faces that come back are new ones
    assert outputs(out, "long") == expected
    row = rows(out)["long"]
    assert row["faces"] == "4"
    assert (row["frames"], row["face_frames"]) == (str(LONG_FRAMES), str(LONG_FRAMES - 40))
    # 4 chunks (0, 60, 120, 180): joins in the empty view, one rerun over 120-180.
    assert (row["tasks"], row["reruns"]) == ("5", "1")


def test_the_worker_restarts_only_after_every_face_is_forgotten(two_face_clips) -> None:
    worker = RecordingWorker(WorkerConfig(weights=str(DEFAULT_WEIGHTS), threads=1))
    try:
        res = worker.run(Task("long", str(two_face_clips["long"])))
    finally:
        worker.close()
    assert res.error is None and res.frames == LONG_FRAMES and res.faces == 4
    restarts = [i for i in range(LONG_FRAMES) if res.is_reset(i)]
    # A face that left keeps its id for 1 s (30 frames): no restart before that.
    assert restarts and restarts == list(range(restarts[0], EMPTY[-1] + 1))
    assert EMPTY[0] + 30 <= restarts[0] <= EMPTY[0] + 32
    assert set(res.faces_at.values()) == {2} and sorted(res.faces_at) == restarts
    no_face = {i for i in range(LONG_FRAMES) if res.statuses[i] == NO_FACE_CODE}
    assert no_face == set(EMPTY)
