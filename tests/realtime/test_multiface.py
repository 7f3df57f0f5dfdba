"""Several faces (realtime.multiface, realtime.tracks): per-face tracks, ids and events on
two-face clips built from the real media (side by side, one leaving, leaving and returning,
crossing), one backbone call per frame, the single-face path unchanged, the overlay and
``spot --max-faces``.

The shipped graphs run with ``threshold=0`` and duration relabelling, so every classified
frame is an expression and each face's run of crop frames [a, b] gives the segment
[a + 2, b - 2] (K = 5) whatever the model says: the ids and the per-face runs are what is
tested. Skipped when ``../shared/data/real`` is absent.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.events import Event
from realtime.multiface import MultiFrameOutput, MultiSpotter
from realtime.overlay import FacesOverlay, face_color
from realtime.postprocess import PostprocessConfig
from realtime.sources import Frame, open_source
from realtime.spotter import DEFAULT_WEIGHTS, Spotter
from tests.media import write_video
from tests.realtime import multiface_clips as clips

pytestmark = pytest.mark.skipif(not clips.REAL.is_dir(),
                                reason=f"real test media absent: {clips.REAL}")
PREDICTABLE = dict(postprocess=PostprocessConfig(relabel_by_duration=True), threshold=0.0)
LAST = clips.N_FRAMES - 1


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("multiface")


@pytest.fixture(scope="module")
def movie(clip_dir: Path):
    """name -> an mp4 written once with tests.media.write_video."""
    made: dict[str, Path] = {}
    builders = {
        "side": lambda: clips.side_by_side(),
        "leave": lambda: clips.side_by_side(absent=range(40, clips.N_FRAMES)),
        "return": lambda: clips.side_by_side(absent=range(30, 40)),
        "gone": lambda: clips.side_by_side(absent=range(10, 60)),
        "cross": clips.crossing,
    }

    def get(name: str) -> Path:
        if name not in made:
            made[name] = write_video(clip_dir / f"{name}.mp4", builders[name]())
        return made[name]

    return get


@pytest.fixture(scope="module")
def base():
    """One spotter (graphs and detector loaded once) that the multi-face spotters share."""
    with Spotter(DEFAULT_WEIGHTS, threads=1, **PREDICTABLE) as sp:
        yield sp


@pytest.fixture(scope="module")
def multi(base: Spotter) -> MultiSpotter:
    return MultiSpotter(base, label_first_face=True)


def run(sp: MultiSpotter, path: Path) -> tuple[list[MultiFrameOutput], list[Event]]:
    sp.reset()
    outputs: list[MultiFrameOutput] = []
    events = list(sp.run(open_source(path), on_frame=lambda f, o: outputs.append(o)))
    return outputs, events


def segments_by_face(events: list[Event]) -> dict[int | None, list[tuple[int, int]]]:
    out: dict[int | None, list[tuple[int, int]]] = {}
    for e in events:
        if e.kind == "segment":
            assert e.offset_frame is not None
            out.setdefault(e.face_id, []).append((e.onset_frame, e.offset_frame))
    return out


def centre_x(output: MultiFrameOutput, face_id: int) -> float:
    (face,) = [f for f in output.faces if f.face_id == face_id]
    assert face.output.box is not None
    return (face.output.box[0] + face.output.box[2]) / 2


def test_two_faces_side_by_side_get_their_own_ids_and_events(multi: MultiSpotter,
                                                             movie) -> None:
    outputs, events = run(multi, movie("side"))
    assert all(o.face_ids == (0, 1) for o in outputs)
    assert centre_x(outputs[0], 0) < 320 < centre_x(outputs[0], 1)  # 0: the larger face
    assert segments_by_face(events) == {0: [(2, LAST - 2)], 1: [(2, LAST - 2)]}
    onsets = [(e.face_id, e.onset_frame) for e in events if e.kind == "onset"]
    assert sorted(onsets) == [(0, 2), (1, 2)]
    assert multi.faces_seen == 2 and multi.stats.multiple_faces_frames == clips.N_FRAMES


def test_a_face_that_leaves_ends_its_own_segment_only(multi: MultiSpotter, movie) -> None:
    outputs, events = run(multi, movie("leave"))
    assert [o.face_ids for o in outputs] == [(0, 1)] * 40 + [(0,)] * (clips.N_FRAMES - 40)
    ended = [f for f in outputs[40].faces if f.face_id == 1]
    assert ended and ended[0].ended and ended[0].output.break_reason == "no_face"
    assert segments_by_face(events) == {0: [(2, LAST - 2)], 1: [(2, 37)]}
    cut = {e.face_id: e.cut_short for e in events if e.kind == "segment"}
    assert cut == {0: True, 1: True}  # 1 by its loss, 0 by the end of the clip


def test_a_face_back_within_a_second_keeps_its_id(multi: MultiSpotter, movie) -> None:
    outputs, events = run(multi, movie("return"))
    assert [o.face_ids for o in outputs[28:42]] == [(0, 1)] * 2 + [(0,)] * 10 + [(0, 1)] * 2
    started = [f for f in outputs[40].faces if f.face_id == 1]
    assert started and started[0].started
    assert segments_by_face(events) == {0: [(2, LAST - 2)], 1: [(2, 27), (42, LAST - 2)]}


def test_a_face_gone_longer_comes_back_as_a_new_face(multi: MultiSpotter, movie) -> None:
    outputs, events = run(multi, movie("gone"))
    assert outputs[5].face_ids == (0, 1) and outputs[30].face_ids == (0,)
    assert outputs[65].face_ids == (0, 2)
    assert segments_by_face(events) == {0: [(2, LAST - 2)], 1: [(2, 7)], 2: [(62, LAST - 2)]}
    assert multi.faces_seen == 3


def test_crossing_faces_keep_their_ids(multi: MultiSpotter, movie) -> None:
    """The person (0, right) passes behind the photo face (1, left): 1 is followed through the
    crossing; 0 is lost while hidden and gets its id back when it comes out on the left."""
    outputs, events = run(multi, movie("cross"))
    first, last = outputs[0], outputs[-1]
    assert first.face_ids == (0, 1) and last.face_ids == (0, 1)
    assert centre_x(first, 0) > centre_x(first, 1) and centre_x(last, 0) < centre_x(last, 1)
    assert all(1 in o.face_ids for o in outputs)
    hidden = [o.index for o in outputs if 0 not in o.face_ids]
    assert hidden and clips.CROSS_START < hidden[0] and hidden[-1] < clips.CROSS_END + 5
    by_face = segments_by_face(events)
    assert by_face[1] == [(2, LAST - 2)]
    assert [len(by_face[0]), by_face[0][0][0], by_face[0][-1][1]] == [2, 2, LAST - 2]
    assert set(by_face) == {0, 1}


def test_a_fast_source_is_resampled_and_reported_in_source_frames(multi: MultiSpotter,
                                                                   clip_dir: Path) -> None:
    """60 fps (each frame twice): the model sees every other frame, events name source
    frames, as with the single-face spotter."""
    doubled = [im for im in clips.side_by_side() for _ in range(2)]
    outputs, events = run(multi, write_video(clip_dir / "fast.mp4", doubled, fps=60.0))
    assert multi.resampler is not None and multi.stats.resampled_out == clips.N_FRAMES
    assert len(outputs) == 2 * clips.N_FRAMES and all(o.face_ids == (0, 1) for o in outputs)
    assert segments_by_face(events) == {0: [(4, 2 * (LAST - 2))], 1: [(4, 2 * (LAST - 2))]}


def test_one_backbone_call_per_frame_for_all_faces(multi: MultiSpotter, movie) -> None:
    timings = multi.timings
    calls, items = timings.backbone.count, timings.backbone.items
    head_calls, windows = timings.head.count, timings.head.items
    outputs, _ = run(multi, movie("side"))
    assert timings.backbone.count - calls == clips.N_FRAMES
    assert timings.backbone.items - items == 2 * clips.N_FRAMES
    assert timings.head.count - head_calls == clips.N_FRAMES - 4  # K - 1 frames to fill up
    assert timings.head.items - windows == 2 * (clips.N_FRAMES - 4)


def test_max_faces_follows_the_largest_faces_first(base: Spotter, movie) -> None:
    sp = MultiSpotter(base, max_faces=1, label_first_face=True)
    outputs, events = run(sp, movie("side"))
    assert all(o.face_ids == (0,) for o in outputs)
    assert centre_x(outputs[0], 0) < 320
    assert segments_by_face(events) == {0: [(2, LAST - 2)]}


def test_the_first_face_writes_no_face_id_by_default(base: Spotter, movie) -> None:
    _, events = run(MultiSpotter(base), movie("leave"))
    assert segments_by_face(events) == {None: [(2, LAST - 2)], 1: [(2, 37)]}
    assert [("face_id" in e.to_dict()) for e in events] == [e.face_id == 1 for e in events]


@pytest.fixture(scope="module")
def plain():
    """A spotter with the default settings (argmax, the model's post-processing)."""
    with Spotter(DEFAULT_WEIGHTS, threads=1) as sp:
        yield sp


@pytest.mark.parametrize("name", ["single_face.mp4", "noface_face.mov"])
def test_one_face_gives_the_single_face_spotters_events(plain: Spotter, name: str) -> None:
    """Equal events in order (and equal probabilities on every classified frame)."""
    from realtime.spotter import SpotterStats

    plain.reset()
    plain.stats = SpotterStats()
    singles: list = []
    expected = [e.to_dict() for e in plain.run(open_source(clips.REAL / name),
                                               on_frame=lambda f, o: singles.append(o))]
    sp = MultiSpotter(plain)
    multis: list[MultiFrameOutput] = []
    got = [e.to_dict() for e in sp.run(open_source(clips.REAL / name),
                                       on_frame=lambda f, o: multis.append(o))]
    assert got == expected
    assert sp.stats.face_status == plain.stats.face_status
    probs = [(o.index, o.probs.tolist()) for o in singles if o.probs is not None]
    assert probs == [(m.index, f.output.probs.tolist()) for m in multis for f in m.faces
                     if f.output.probs is not None]


def test_bad_settings_and_inputs_are_named(base: Spotter) -> None:
    sp = base
    with pytest.raises(ValueError, match="max_faces"):
        MultiSpotter(sp, max_faces=0)
    with pytest.raises(ValueError, match="keep_s"):
        MultiSpotter(sp, keep_s=-1)
    with pytest.raises(ValueError, match="either a spotter or Spotter options"):
        MultiSpotter(sp, threads=1)
    with pytest.raises(ValueError, match="inputs must be an"):
        sp.engine.frame_entries(np.zeros((2, 64, 64), np.uint8))
    with pytest.raises(ValueError, match="windows must be a"):
        sp.engine.classify_windows(np.zeros((1, 5, 3), np.float32))
    multi = MultiSpotter(sp)
    out = multi.process(Frame(index=0, time_s=0.0, image=np.zeros((4, 4), np.float32), fps=30))
    assert out.faces == () and out.error is not None and "float32" in out.error


def test_overlay_draws_each_face_in_its_colour(multi: MultiSpotter) -> None:
    frames = clips.side_by_side()[:8]
    overlay = FacesOverlay(multi.class_names)
    multi.reset()
    for i, image in enumerate(frames):
        out = multi.process(Frame(index=i, time_s=i / 30, image=image, fps=30.0))
        drawn = overlay.draw(image, out, status_text="status")
    assert not np.array_equal(drawn, frames[-1])  # a copy, annotated
    for face in out.faces:
        x0, y0, x1, _ = face.output.box
        row = drawn[y0 + 1, max(x0, 0):x1]  # the box's top edge
        assert (row == np.array(face_color(face.face_id), np.uint8)).all(axis=1).mean() > 0.5


def test_spot_writes_face_ids_to_jsonl_and_csv_alike(tmp_path: Path, movie) -> None:
    from realtime.__main__ import main

    jsonl, table, video = tmp_path / "e.jsonl", tmp_path / "e.csv", tmp_path / "v.mp4"
    rc = main(["spot", "--source", str(movie("leave")), "--threshold", "0", "--relabel",
               "--events-out", str(jsonl), "--csv-out", str(table), "--video-out", str(video),
               "--quiet", "--threads", "1"])
    assert rc == 0
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    rows = list(csv.DictReader(table.open()))
    assert [line.get("face_id") for line in lines] == [
        None if r["face_id"] == "" else int(r["face_id"]) for r in rows]
    spans = {(line.get("face_id"), line["onset_frame"], line["offset_frame"])
             for line in lines if line["kind"] == "segment"}
    assert spans == {(None, 2, LAST - 2), (1, 2, 37)}
    cap = cv2.VideoCapture(str(video))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == clips.N_FRAMES
    cap.release()


def test_spot_refuses_a_bad_max_faces(tmp_path: Path, movie,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    from realtime.__main__ import main

    assert main(["spot", "--source", str(movie("side")), "--max-faces", "0", "--quiet"]) == 2
    assert "--max-faces" in capsys.readouterr().err
