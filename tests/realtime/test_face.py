"""Face path: config checks, detection, tracking, stability, timing (pure crops: test_image)."""

from __future__ import annotations

from pathlib import Path

import cv2
import matplotlib.cbook as cbook
import numpy as np
import pytest

from realtime.face import (
    FACE_STATUSES,
    TIMED_STAGES,
    FaceCropConfig,
    FaceCropper,
    FaceResult,
)
from realtime.image import crop_face

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"real test media absent: {REAL}")


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    """A frontal portrait (BGR) shipped with matplotlib, so face tests run without /work/shared."""
    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    image = cv2.imread(str(path))
    assert image is not None, f"matplotlib sample {path} unreadable"
    return image


@pytest.fixture
def cropper():
    with FaceCropper(FaceCropConfig()) as fc:
        yield fc


def noisy(image: np.ndarray, rng: np.random.Generator, sigma: float = 4.0) -> np.ndarray:
    """Add sensor-like Gaussian noise."""
    noise = rng.normal(0.0, sigma, image.shape)
    return np.clip(image.astype(np.float64) + noise, 0, 255).astype(np.uint8)


def shifted(image: np.ndarray, dx: float, dy: float = 0.0) -> np.ndarray:
    """Translate by (dx, dy) px, replicating the border, like a head moving in front of a camera."""
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, m, (image.shape[1], image.shape[0]),
                          borderMode=cv2.BORDER_REPLICATE)


def read_video(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    assert frames, f"could not read {path}"
    return frames


# -- FaceCropConfig --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("field", "value"),
    [("crop_size", 4), ("crop_size", 128.0), ("margin", -0.1), ("min_face_px", 0),
     ("detect_every_frames", 0), ("min_confidence", 1.5), ("model_selection", 2),
     ("align_eyes", "yes"), ("deadband_frac", 0.9), ("smoothing", 0.0),
     ("angle_deadband_deg", -1.0), ("track_min_score", 2.0), ("max_missed_detections", -1),
     ("snap_frac", 0.0), ("margin", float("nan")), ("confirm_score", 1.5),
     ("confirm_detections", 0)],
)
def test_config_rejects_out_of_range_settings(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"FaceCropConfig.{field} must be"):
        FaceCropConfig(**{field: value})


def test_cropper_rejects_bad_frames_and_use_after_close(portrait: np.ndarray) -> None:
    fc = FaceCropper()
    with pytest.raises(ValueError, match="float64"):
        fc.process(portrait.astype(np.float64))
    with pytest.raises(ValueError, match="empty"):
        fc.process(np.zeros((0, 0, 3), np.uint8))
    fc.close()
    fc.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        fc.process(portrait)


# -- detection on a synthetic portrait --------------------------------------------------------

def test_portrait_gives_one_face_and_a_square_crop(cropper: FaceCropper,
                                                   portrait: np.ndarray) -> None:
    r = cropper.process(portrait)
    assert isinstance(r, FaceResult) and r.status in FACE_STATUSES
    assert r.status == "ok" and r.num_faces == 1 and not r.multiple_faces and not r.tracked
    assert r.crop is not None and r.crop.shape == (128, 128) and r.crop.dtype == np.uint8
    x0, y0, x1, y1 = r.box
    assert x1 - x0 == y1 - y0 > 100
    faces = cropper.detect_faces(portrait)
    assert len(faces) == 1
    (fx0, fy0, fx1, fy1), score = faces[0]
    assert x0 < fx0 and y0 < fy0 and x1 > fx1 and y1 > fy1  # margin around the face
    assert score == pytest.approx(r.score)
    np.testing.assert_array_equal(r.crop, crop_face(portrait, r.box, 128))


def test_gray_and_bgra_frames_are_accepted(cropper: FaceCropper, portrait: np.ndarray) -> None:
    gray = cv2.cvtColor(portrait, cv2.COLOR_BGR2GRAY)
    assert cropper.process(gray).status == "ok"
    assert cropper.process(cv2.cvtColor(portrait, cv2.COLOR_BGR2BGRA)).status == "ok"


def test_still_face_gives_identical_box_and_crop(portrait: np.ndarray) -> None:
    with FaceCropper(FaceCropConfig(detect_every_frames=1)) as fc:
        results = [fc.process(portrait) for _ in range(12)]
    assert {r.box for r in results} == {results[0].box}
    assert not any(r.box_changed for r in results)
    for r in results[1:]:
        np.testing.assert_array_equal(r.crop, results[0].crop)


@pytest.mark.parametrize("every", [1, 5])
def test_still_face_with_sensor_noise_keeps_a_constant_box(portrait: np.ndarray,
                                                          every: int) -> None:
    rng = np.random.default_rng(7)
    with FaceCropper(FaceCropConfig(detect_every_frames=every)) as fc:
        results = [fc.process(noisy(portrait, rng)) for _ in range(30)]
    assert all(r.status == "ok" for r in results)
    assert len({r.box for r in results}) == 1
    assert not any(r.box_changed for r in results)


def test_box_follows_a_real_move_smoothly_then_settles(portrait: np.ndarray) -> None:
    rng = np.random.default_rng(3)
    with FaceCropper(FaceCropConfig()) as fc:
        start = fc.process(portrait).box
        boxes = [start]
        for i in range(1, 41):  # move 60 px right over 20 frames, then hold for 20
            dx = 3.0 * min(i, 20)
            boxes.append(fc.process(noisy(shifted(portrait, dx), rng)).box)
    x0s = np.array([b[0] for b in boxes], dtype=float)
    steps = np.diff(x0s)
    assert steps.min() >= -1 and steps.max() <= 12, steps  # no jumps, no going back
    moved = x0s[-1] - x0s[0]
    side = start[2] - start[0]
    assert abs(moved - 60) <= FaceCropConfig().deadband_frac * side + 3, moved
    assert len({b for b in boxes[-8:]}) == 1  # settled: constant again once still


def test_tracking_runs_between_detections(portrait: np.ndarray) -> None:
    with FaceCropper(FaceCropConfig(detect_every_frames=4)) as fc:
        tracked = [fc.process(portrait).tracked for _ in range(9)]
    assert tracked == [False, True, True, True, False, True, True, True, False]


def test_timing_hook_reports_each_step(portrait: np.ndarray) -> None:
    calls: list[tuple[str, float]] = []

    def on_timing(stage: str, ms: float) -> None:
        calls.append((stage, ms))

    blank = np.full_like(portrait, 128)
    with FaceCropper(FaceCropConfig(detect_every_frames=4), on_timing=on_timing) as fc:
        per_frame = []
        for image in [portrait] * 5 + [blank]:
            calls.clear()
            result = fc.process(image)
            per_frame.append([stage for stage, _ in calls])
            assert all(ms >= 0.0 for _, ms in calls)
        assert result.status == "no_face"
    # detect on frames 0 and 4, track in between, crop whenever a face is found; the blank
    # frame: the template fails to match, the detector finds nothing, the tolerated detector
    # miss tries the template once more (no match either), no crop
    assert per_frame == [["detect", "crop"], ["track", "crop"], ["track", "crop"],
                         ["track", "crop"], ["detect", "crop"], ["track", "detect", "track"]]
    assert {stage for row in per_frame for stage in row} == set(TIMED_STAGES)


def test_timing_hook_changes_nothing_and_is_checked(portrait: np.ndarray) -> None:
    with FaceCropper(FaceCropConfig()) as plain, \
            FaceCropper(FaceCropConfig(), on_timing=lambda stage, ms: None) as timed:
        for _ in range(3):
            a, b = plain.process(portrait), timed.process(portrait)
            assert a.box == b.box and np.array_equal(a.crop, b.crop)
    with pytest.raises(ValueError, match="on_timing must be None or a callable"):
        FaceCropper(on_timing="detect")  # type: ignore[arg-type]


def test_face_leaving_and_coming_back(portrait: np.ndarray) -> None:
    blank = np.full_like(portrait, 128)
    with FaceCropper(FaceCropConfig(detect_every_frames=5)) as fc:
        statuses = [fc.process(f).status for f in [portrait] * 3 + [blank] * 6 + [portrait] * 3]
        gone = fc.process(blank)
    assert statuses[:3] == ["ok"] * 3
    # a blink of the detector is tolerated only while the template still matches: a blank
    # frame matches nothing, so the face is reported gone at once
    assert statuses[3:9] == ["no_face"] * 6
    assert statuses[9:] == ["ok"] * 3
    assert gone.crop is None and gone.box is None and gone.num_faces == 0 and gone.score == 0.0


def test_too_small_faces_are_reported_without_crop(portrait: np.ndarray) -> None:
    with FaceCropper(FaceCropConfig(min_face_px=1000)) as fc:
        r = fc.process(portrait)
    assert r.status == "too_small" and r.crop is None and r.box is not None


def test_face_whose_margin_is_cut_is_padded_but_ok(cropper: FaceCropper,
                                                  portrait: np.ndarray) -> None:
    """Issue 12 item 10: a face filling the frame is a good face ("at edge" read as unusable)."""
    (fx0, _, fx1, _), _ = cropper.detect_faces(portrait)[0]
    cut = np.ascontiguousarray(portrait[:, max(0, fx0 - 5):])  # face whole, margin cut off
    r = cropper.process(cut)
    assert r.status == "ok" and r.box[0] < 0
    assert r.crop is not None and r.crop.shape == (128, 128)
    np.testing.assert_array_equal(r.crop, crop_face(cut, r.box, 128))


def test_face_cut_by_the_frame_edge_is_at_edge(cropper: FaceCropper,
                                               portrait: np.ndarray) -> None:
    (fx0, _, fx1, _), _ = cropper.detect_faces(portrait)[0]
    cut = np.ascontiguousarray(portrait[:, fx0 + (fx1 - fx0) // 4:])  # a quarter of it gone
    r = cropper.process(cut)
    assert r.status == "at_edge" and r.crop is not None and r.crop.shape == (128, 128)


def test_weak_new_face_is_unconfirmed_until_seen_again(portrait: np.ndarray) -> None:
    """A detection below confirm_score gets no crop until detected on confirm_detections
    consecutive frames; one miss before that forgets it."""
    blank = np.full_like(portrait, 128)
    config = FaceCropConfig(confirm_score=1.0, confirm_detections=4)  # every face is "weak"
    with FaceCropper(config) as fc:
        first = [fc.process(portrait) for _ in range(6)]
        lost = fc.process(blank)
        again = [fc.process(portrait) for _ in range(2)]
    assert [r.status for r in first] == ["unconfirmed"] * 3 + ["ok"] * 3
    assert all(r.crop is None and r.box is not None for r in first[:3])
    assert not any(r.tracked for r in first[:4])  # the detector checks every frame
    assert lost.status == "no_face"
    assert [r.status for r in again] == ["unconfirmed"] * 2
    with FaceCropper(FaceCropConfig(confirm_detections=1, confirm_score=1.0)) as fc:
        assert fc.process(portrait).status == "ok"
    with FaceCropper() as fc:  # the portrait scores ~0.9: confirmed at once
        assert fc.process(portrait).status == "ok"


@needs_real
def test_real_faceless_clip_gives_no_crop(cropper: FaceCropper) -> None:
    """no_face.mp4 has false detections (score 0.50-0.61, 1-3 frames each): never cropped."""
    results = [cropper.process(f) for f in read_video(REAL / "no_face.mp4")]
    assert not any(r.has_crop for r in results)
    assert any(r.status == "unconfirmed" for r in results)


def two_faces(portrait: np.ndarray, with_big: bool = True) -> np.ndarray:
    canvas = np.full((480, 800, 3), 120, np.uint8)
    big = cv2.resize(portrait, (358, 420), interpolation=cv2.INTER_AREA)
    small = cv2.resize(portrait, (256, 300), interpolation=cv2.INTER_AREA)
    if with_big:
        canvas[30:450, 20:378] = big
    canvas[100:400, 524:780] = small
    return canvas


def test_several_faces_follow_the_largest(cropper: FaceCropper, portrait: np.ndarray) -> None:
    frame = two_faces(portrait)
    faces = cropper.detect_faces(frame)
    assert len(faces) == 2
    r = cropper.process(frame)
    assert r.num_faces == 2 and r.multiple_faces
    cx = (r.box[0] + r.box[2]) / 2
    assert cx < 400  # the big face is on the left


def test_tracked_face_is_kept_when_a_larger_one_appears(portrait: np.ndarray) -> None:
    with FaceCropper(FaceCropConfig(detect_every_frames=2)) as fc:
        first = fc.process(two_faces(portrait, with_big=False))
        later = [fc.process(two_faces(portrait)) for _ in range(4)]
    assert first.status == "ok" and (first.box[0] + first.box[2]) / 2 > 400
    assert all((r.box[0] + r.box[2]) / 2 > 400 for r in later)
    assert later[-1].multiple_faces


def test_align_eyes_measures_and_removes_a_tilt(portrait: np.ndarray) -> None:
    h, w = portrait.shape[:2]
    with FaceCropper(FaceCropConfig(align_eyes=True)) as fc:
        upright = fc.process(portrait).angle_deg
        angles = {}
        for tilt in (-15.0, 15.0):
            fc.reset()
            m = cv2.getRotationMatrix2D((w / 2, h / 2), tilt, 1.0)
            rotated = cv2.warpAffine(portrait, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
            angles[tilt] = fc.process(rotated).angle_deg
    # rotating the picture counter-clockwise by t lowers the measured eye-line angle by t
    assert angles[-15.0] - upright == pytest.approx(15.0, abs=6.0)
    assert angles[15.0] - upright == pytest.approx(-15.0, abs=6.0)
    with FaceCropper(FaceCropConfig()) as fc:
        assert fc.process(portrait).angle_deg == 0.0


def test_frame_size_change_mid_stream(cropper: FaceCropper, portrait: np.ndarray) -> None:
    first = cropper.process(portrait)
    half = cv2.resize(portrait, (256, 300), interpolation=cv2.INTER_AREA)
    second = cropper.process(half)
    assert first.status == "ok" and second.status in ("ok", "at_edge")
    assert second.box[2] - second.box[0] < first.box[2] - first.box[0]


def test_two_croppers_give_identical_crops(portrait: np.ndarray) -> None:
    """Training preprocessing and the live detector must see the very same crops."""
    rng = np.random.default_rng(11)
    frames = [noisy(shifted(portrait, 2.0 * i), rng) for i in range(15)]
    runs = []
    for _ in range(2):
        with FaceCropper(FaceCropConfig()) as fc:
            runs.append([fc.process(f) for f in frames])
    for a, b in zip(*runs):
        assert a.box == b.box and a.status == b.status
        np.testing.assert_array_equal(a.crop, b.crop)


# -- real media (skipped without /work/shared) -------------------------------------------------

@needs_real
def test_real_single_face_photo(cropper: FaceCropper) -> None:
    r = cropper.process(cv2.imread(str(REAL / "single_face.jpg")))
    assert r.status == "ok" and r.num_faces == 1 and r.crop.shape == (128, 128)


@needs_real
def test_real_group_photo_follows_the_largest(cropper: FaceCropper) -> None:
    image = cv2.imread(str(REAL / "multi_face.jpg"))
    faces = cropper.detect_faces(image)
    r = cropper.process(image)
    assert r.num_faces == len(faces) >= 2 and r.multiple_faces
    (bx0, by0, bx1, by1), _ = faces[0]  # largest first
    cx, cy = (r.box[0] + r.box[2]) / 2, (r.box[1] + r.box[3]) / 2
    assert bx0 < cx < bx1 and by0 < cy < by1


@needs_real
def test_real_video_with_a_face_crops_every_frame_with_a_steady_box() -> None:
    with FaceCropper() as fc:
        results = [fc.process(f) for f in read_video(REAL / "single_face.mp4")]
    assert all(r.crop is not None for r in results)
    assert sum(r.tracked for r in results) > len(results) // 2
    assert sum(r.box_changed for r in results) <= len(results) // 10


@needs_real
def test_real_video_without_face_is_mostly_no_face() -> None:
    with FaceCropper() as fc:
        statuses = [fc.process(f).status for f in read_video(REAL / "no_face.mp4")]
    assert statuses.count("no_face") >= 0.8 * len(statuses)


@needs_real
def test_real_video_face_leaves() -> None:
    with FaceCropper() as fc:
        results = [fc.process(f) for f in read_video(REAL / "face_noface.mov")]
    n = len(results)
    first, last = results[: n // 4], results[n // 2 + 5: n - 15]
    assert all(r.crop is not None for r in first)
    assert all(r.status == "no_face" and r.crop is None for r in last)
