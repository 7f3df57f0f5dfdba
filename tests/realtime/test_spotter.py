"""The spotter pipeline on synthetic and real clips: middle-frame bookkeeping, breaks (face loss,
frame gaps, size changes, invalid frames), several faces, batch vs frame-by-frame, real media.

With random weights the classes are arbitrary. To make the events predictable the main fixture
uses ``threshold=0`` (every classified frame carries an expression) and duration relabelling
(micro and macro become one "with expression" label): each run of consecutive face crops
[a, b] of length >= K must then give exactly one segment [a + 2, b - 2] (K = 5), typed by its
duration, and cut short because a break or the stream end closed it.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import cv2
import matplotlib.cbook as cbook
import numpy as np
import pytest

from realtime.engine import EngineError
from realtime.events import Event
from realtime.face import FaceCropConfig
from realtime.postprocess import PostprocessConfig
from realtime.sources import Frame, open_source
from realtime.spotter import (
    BREAK_GAP,
    BREAK_INVALID,
    BREAK_NO_FACE,
    BREAK_SIZE,
    BREAK_TOO_SMALL,
    DEFAULT_WEIGHTS,
    FrameOutput,
    Spotter,
)

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"real test media absent: {REAL}")
K = 5
HALF = (K - 1) // 2
FPS = 30.0


# ----------------------------------------------------------------------------------- clips


def _portrait(width_px: int) -> np.ndarray:
    """Grace Hopper (matplotlib's sample photo) scaled to ``width_px``: a real face, no files."""
    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    image = cv2.imread(str(path))
    assert image is not None, f"matplotlib sample {path} unreadable"
    h, w = image.shape[:2]
    return cv2.resize(image, (width_px, round(width_px * h / w)), interpolation=cv2.INTER_AREA)


FACE = _portrait(200)  # the face itself is ~70 px: well above min_face_px


def face_image(i: int, size: tuple[int, int] = (320, 240)) -> np.ndarray:
    """Frame i of a synthetic clip: the portrait on a grey background, swaying a little."""
    w, h = size
    frame = np.full((h, w, 3), 90, np.uint8)
    dx = int(round(2 * np.sin(i / 4)))
    x0, y0 = (w - FACE.shape[1]) // 2 + dx, (h - FACE.shape[0]) // 2
    frame[y0:y0 + FACE.shape[0], x0:x0 + FACE.shape[1]] = FACE
    return frame


def blank_image(size: tuple[int, int] = (320, 240)) -> np.ndarray:
    return np.full((size[1], size[0], 3), 90, np.uint8)


def face_clip(n: int, blank: range | tuple[int, ...] = (),
              size: tuple[int, int] = (320, 240)) -> list[np.ndarray]:
    """n frames of the swaying portrait; frames in ``blank`` show no face."""
    return [blank_image(size) if i in blank else face_image(i, size) for i in range(n)]


def as_frames(images: list[np.ndarray], indices: list[int] | None = None,
              fps: float = FPS) -> list[Frame]:
    indices = list(range(len(images))) if indices is None else indices
    return [Frame(index=i, time_s=i / fps, image=im, fps=fps) for i, im in zip(indices, images)]


def crop_runs(outputs: list[FrameOutput]) -> list[tuple[int, int]]:
    """Runs [a, b] of consecutive frame indices that had a crop, without breaks inside."""
    runs: list[list[int]] = []
    prev = None
    for o in outputs:
        if not o.has_crop:
            prev = None
            continue
        if prev is None or o.index != prev + 1 or o.break_reason is not None:
            runs.append([o.index, o.index])
        else:
            runs[-1][1] = o.index
        prev = o.index
    return [(a, b) for a, b in runs]


def expected_segments(runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [(a + HALF, b - HALF) for a, b in runs if b - a + 1 >= K]


def segments(events: list[Event]) -> list[tuple[int, int]]:
    return [(e.onset_frame, e.offset_frame) for e in events if e.kind == "segment"]


# ----------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def spotter(exported_graphs):
    """Every classified frame is an expression; segments are the runs of classified frames."""
    with Spotter(exported_graphs.out_dir, provider="cpu",
                 postprocess=PostprocessConfig(relabel_by_duration=True), threshold=0.0) as sp:
        yield sp


@pytest.fixture
def fresh(spotter):
    spotter.reset()
    return spotter


def run_frames(sp: Spotter, frames: list[Frame]) -> tuple[list[FrameOutput], list[Event]]:
    outputs = [sp.process(f) for f in frames]
    events = [e for o in outputs for e in o.events] + sp.flush()
    return outputs, events


def check_lifecycle(events: list[Event]) -> None:
    """Each segment follows its onset event; onsets and segments pair up; frames increase."""
    open_onset = None
    for e in events:
        if e.kind == "onset":
            assert open_onset is None
            open_onset = e.onset_frame
        else:
            assert open_onset == e.onset_frame
            open_onset = None
            assert e.offset_frame >= e.onset_frame
            assert e.onset_time_s <= e.offset_time_s
    assert open_onset is None


# ----------------------------------------------------------------------------------- tests


def test_classified_frame_is_the_window_middle(fresh: Spotter) -> None:
    outputs, events = run_frames(fresh, as_frames(face_clip(14)))
    assert [o.face_status for o in outputs] == ["ok"] * 14
    for o in outputs:
        if o.index < K - 1:
            assert o.classified_index is None and o.probs is None and o.label is None
        else:
            assert o.classified_index == o.index - HALF
            assert o.classified_time_s == pytest.approx((o.index - HALF) / FPS)
            assert o.probs.shape == (3,) and o.keyframe_scores.shape == (K,)
            assert o.label in ("micro", "macro")  # threshold 0: an expression
            assert o.open_expression == "expression"
    assert segments(events) == [(HALF, 13 - HALF)]
    seg = events[-1]
    assert seg.cut_short and seg.onset_time_s == pytest.approx(HALF / FPS)
    assert seg.offset_time_s == pytest.approx((13 - HALF) / FPS)
    assert seg.duration_s == pytest.approx((14 - 2 * HALF) / FPS)
    check_lifecycle(events)


def test_face_loss_cuts_the_open_segment_short(fresh: Spotter) -> None:
    outputs, events = run_frames(fresh, as_frames(face_clip(44, blank=range(15, 20))))
    statuses = [o.face_status for o in outputs]
    assert statuses[15:20] == ["no_face"] * 5
    assert statuses[:15] == ["ok"] * 15 and statuses[20:] == ["ok"] * 24
    assert outputs[15].break_reason == BREAK_NO_FACE
    # The segment open at the face loss comes out at the first faceless frame, cut short.
    closed = [e for e in outputs[15].events if e.kind == "segment"]
    assert [(e.onset_frame, e.offset_frame, e.cut_short) for e in closed] == [(2, 12, True)]
    runs = crop_runs(outputs)
    assert runs == [(0, 14), (20, 43)]
    assert segments(events) == expected_segments(runs) == [(2, 12), (22, 41)]
    # Relabelled by duration at 30 fps: 11 frames is micro, 20 frames is macro.
    assert [e.expression for e in events if e.kind == "segment"] == ["micro", "macro"]
    assert all(e.cut_short for e in events if e.kind == "segment")
    # Nothing is classified while the face is away, and the window restarts from scratch.
    assert all(o.classified_index is None for o in outputs[15:24])
    assert outputs[24].classified_index == 22
    check_lifecycle(events)
    assert fresh.stats.breaks >= 1 and fresh.stats.face_status["no_face"] >= 5


def test_frame_gap_never_joins_non_adjacent_frames(fresh: Spotter) -> None:
    indices = list(range(0, 12)) + list(range(20, 32))
    images = [face_image(i) for i in indices]
    outputs, events = run_frames(fresh, as_frames(images, indices))
    gap = outputs[12]
    assert gap.index == 20 and gap.break_reason == BREAK_GAP
    assert [(e.kind, e.offset_frame, e.cut_short) for e in gap.events] == [("segment", 9, True)]
    assert segments(events) == [(2, 9), (22, 29)]
    for o in outputs[12:16]:
        assert o.classified_index is None


def test_frame_size_change_is_a_break_not_a_crash(fresh: Spotter) -> None:
    images = face_clip(12) + face_clip(12, size=(400, 300))
    outputs, events = run_frames(fresh, as_frames(images))
    assert outputs[12].break_reason == BREAK_SIZE
    assert all(o.has_crop for o in outputs)
    assert segments(events) == [(2, 9), (14, 21)]


def test_invalid_frames_break_the_window_and_are_reported(fresh: Spotter) -> None:
    images: list[np.ndarray] = face_clip(20)
    images[10] = np.full((240, 320, 3), np.nan, np.float32)  # corrupt
    outputs, events = run_frames(fresh, as_frames(images))
    bad = outputs[10]
    assert bad.face_status == "invalid_frame" and bad.break_reason == BREAK_INVALID
    assert bad.face is None and "frame 10" in bad.error and "NaN" in bad.error
    assert segments(events) == [(2, 7), (13, 17)]
    assert fresh.stats.face_status["invalid_frame"] == 1
    assert fresh.stats.first_error == bad.error


def test_gray_and_four_channel_frames_are_accepted(fresh: Spotter) -> None:
    images = face_clip(12)
    mixed = [cv2.cvtColor(im, cv2.COLOR_BGR2GRAY) if i % 2 else
             cv2.cvtColor(im, cv2.COLOR_BGR2BGRA) for i, im in enumerate(images)]
    outputs, events = run_frames(fresh, as_frames(mixed))
    assert all(o.has_crop for o in outputs)
    assert segments(events) == [(2, 9)]


def test_several_faces_follow_the_largest(fresh: Spotter) -> None:
    big, small = _portrait(150), _portrait(110)
    im = blank_image((400, 300))
    im[10:10 + big.shape[0], 10:160] = big
    im[20:20 + small.shape[0], 280:390] = small
    outputs, _ = run_frames(fresh, as_frames([im] * 8))
    first = outputs[0]
    assert first.multiple_faces and first.num_faces == 2
    x0, _, x1, _ = first.box
    assert 10 <= (x0 + x1) / 2 <= 160  # the larger (left) face
    assert all(o.has_crop for o in outputs)
    assert fresh.stats.multiple_faces_frames >= 1


def test_face_too_small_is_reported(exported_graphs) -> None:
    with Spotter(exported_graphs.out_dir, provider="cpu",
                 face_config=FaceCropConfig(min_face_px=400)) as sp:
        outputs, events = run_frames(sp, as_frames(face_clip(6)))
    assert {o.face_status for o in outputs} == {"too_small"}
    assert outputs[0].box is not None and not outputs[0].has_crop
    assert outputs[0].break_reason == BREAK_TOO_SMALL
    assert events == [] and sp.stats.classified == 0


def test_batched_run_gives_the_same_events_as_frame_by_frame(fresh: Spotter) -> None:
    images = face_clip(30, blank=range(13, 15))
    _, expected = run_frames(fresh, as_frames(images))
    assert len(segments(expected)) == 2
    for batch in (3, 64):
        fresh.reset()
        got = list(fresh.run(as_frames(images), batch_frames=batch))
        assert got == expected, f"batch_frames={batch}"
    fresh.reset()
    seen: list[int] = []
    called: list[Event] = []
    got = list(fresh.run(as_frames(images), on_event=called.append,
                         on_frame=lambda f, o: seen.append(o.index)))
    assert got == expected == called
    assert seen == list(range(30))


def test_reference_input_model_batched_and_frame_by_frame_agree(
        reference_exported_graphs) -> None:
    # A model fed reference differences: the engine keeps a running reference per face track,
    # restarted at breaks; batches must continue it exactly as frame-by-frame processing does.
    images = face_clip(40, blank=range(17, 19))
    with Spotter(reference_exported_graphs.out_dir, provider="cpu",
                 postprocess=PostprocessConfig(merge_gap_frames=0)) as sp:
        outputs, expected = run_frames(sp, as_frames(images))
        probs = np.stack([o.probs for o in outputs if o.probs is not None])
        assert np.ptp(probs, axis=0).max() > 1e-4  # the outputs move, so labels can differ
        labels = [o.label for o in outputs if o.label is not None]
        assert len(set(labels)) > 1 and expected
        for batch in (3, 64):
            sp.reset()
            assert list(sp.run(as_frames(images), batch_frames=batch)) == expected


def test_run_over_an_opened_source(fresh: Spotter) -> None:
    source = open_source(face_clip(10), fps=25.0)
    events = list(fresh.run(source))
    assert segments(events) == [(2, 7)]
    assert events[-1].duration_s == pytest.approx(6 / 25.0)
    assert fresh.merger is not None and fresh.merger.fps == 25.0


def test_run_batches_only_a_recording_read_as_fast_as_possible(
        fresh: Spotter, monkeypatch: pytest.MonkeyPatch) -> None:
    batches: list[int] = []
    run_batch = fresh.engine.run_batch

    def counting(crops: np.ndarray):  # type: ignore[no-untyped-def]
        batches.append(len(crops))
        return run_batch(crops)

    monkeypatch.setattr(fresh.engine, "run_batch", counting)
    expected = None
    for realtime in (False, True):
        fresh.reset()
        batches.clear()
        with open_source(face_clip(10), fps=60.0, realtime=realtime) as source:
            assert source.realtime is realtime
            events = list(fresh.run(source))
        assert bool(batches) is not realtime  # a paced source goes frame by frame
        assert expected is None or events == expected
        expected = events
    assert segments(expected) == [(2, 7)]


def test_process_reports_stage_times_and_face_timing_hook(exported_graphs) -> None:
    stages: list[str] = []
    with Spotter(exported_graphs.out_dir, provider="cpu", threshold=0.0,
                 on_face_timing=lambda stage, ms: stages.append(stage)) as sp:
        outputs = [sp.process(f) for f in as_frames(face_clip(8))]
    assert stages.count("detect") >= 1 and stages.count("crop") == 8
    for o in outputs:
        assert o.face_ms > 0 and o.engine_ms > 0
        if o.classified_index is None:
            assert o.merge_ms == 0.0
        else:
            assert 0 < o.merge_ms <= o.engine_ms


def test_flush_after_an_interrupted_run_classifies_pending_frames(fresh: Spotter) -> None:
    def frames_then_interrupt():
        yield from as_frames(face_clip(20))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        list(fresh.run(frames_then_interrupt(), batch_frames=64))
    tail = fresh.flush()  # what a Ctrl-C handler does
    assert [e.kind for e in tail] == ["onset", "segment"]
    assert segments(tail) == [(2, 17)] and tail[-1].cut_short


def test_stream_memory_stays_flat(fresh: Spotter) -> None:
    frames = as_frames(face_clip(30))
    for f in frames:
        fresh.process(f)
    tracemalloc.start()
    try:
        base = None
        for rep in range(3):
            for f in frames:
                fresh.process(Frame(f.index + 30 * (rep + 1), f.time_s, f.image, f.fps))
            if base is None:
                base, _ = tracemalloc.get_traced_memory()
        end, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert end - base < 300_000


def test_bad_settings(exported_graphs, spotter: Spotter) -> None:
    with pytest.raises(ValueError, match="crop_size is 96"):
        Spotter(exported_graphs.out_dir, provider="cpu",
                face_config=FaceCropConfig(crop_size=96))
    with pytest.raises(ValueError, match="expression_threshold"):
        Spotter(exported_graphs.out_dir, provider="cpu", threshold=1.5)
    with pytest.raises(ValueError, match="postprocess must be"):
        Spotter(exported_graphs.out_dir, provider="cpu", postprocess={"merge_gap_frames": 1})
    with pytest.raises(ValueError, match="batch_frames"):
        spotter.run([], batch_frames=0)


def test_missing_weights_say_how_to_make_them(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="python -m export onnx"):
        Spotter(tmp_path / "no_weights_here")


def test_default_weights_are_the_shipped_graphs() -> None:
    spotter = Spotter(provider="cpu")  # the repository's weights/ folder
    try:
        assert spotter.engine.class_names == ("none", "micro", "macro")
        assert DEFAULT_WEIGHTS == Path(__file__).resolve().parents[2] / "weights"
    finally:
        spotter.close()


# ----------------------------------------------------------------------------------- real media


def _outputs_of(sp: Spotter, path: Path) -> tuple[list[FrameOutput], list[Event]]:
    sp.reset()
    outputs: list[FrameOutput] = []
    events = list(sp.run(open_source(path), on_frame=lambda f, o: outputs.append(o)))
    return outputs, events


@needs_real
def test_real_face_leaving_the_frame(fresh: Spotter) -> None:
    outputs, events = _outputs_of(fresh, REAL / "face_noface.mov")
    assert len(outputs) > 100
    n = len(outputs)
    assert all(o.has_crop for o in outputs[:n // 3])
    # the detector's false alarms after the face left (frames 161-167, score 0.51) give no crop
    assert not any(o.has_crop for o in outputs[n // 2:])
    runs = crop_runs(outputs)
    assert len(runs) == 1 and runs[0][0] == 0
    assert segments(events) == expected_segments(runs)
    assert any(o.break_reason == BREAK_NO_FACE for o in outputs)
    check_lifecycle(events)


@needs_real
def test_real_face_entering_the_frame(fresh: Spotter) -> None:
    outputs, events = _outputs_of(fresh, REAL / "noface_face.mov")
    n = len(outputs)
    assert not any(o.has_crop for o in outputs[:n // 2])  # false alarms at 88-92: no crop
    assert all(o.has_crop for o in outputs[-n // 3:-1])  # the last frame has no face
    runs = crop_runs(outputs)
    assert len(runs) == 1
    assert segments(events) == expected_segments(runs)
    assert {o.face_status for o in outputs[:n // 2]} <= {"no_face", "unconfirmed"}


@needs_real
def test_real_video_without_face_gives_no_segment(fresh: Spotter) -> None:
    """Issue 12 item 10: the detector's short false alarms (score 0.50-0.61) are never classified,
    even with threshold 0 (every classified window would be an expression)."""
    outputs, events = _outputs_of(fresh, REAL / "no_face.mp4")
    assert not any(o.has_crop for o in outputs)
    assert not any(o.classified_index is not None for o in outputs)
    assert events == []
    assert any(o.face_status == "unconfirmed" for o in outputs)


@needs_real
def test_real_single_face_has_a_crop_on_every_frame(fresh: Spotter) -> None:
    outputs, events = _outputs_of(fresh, REAL / "single_face.mp4")
    assert len(outputs) == 72
    assert all(o.has_crop for o in outputs)
    assert all(o.break_reason is None for o in outputs)
    assert segments(events) == [(HALF, 71 - HALF)]
