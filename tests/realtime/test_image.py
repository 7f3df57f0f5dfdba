"""Pure image steps: frame normalisation and the face crop (moved from test_face)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from realtime.image import crop_face, normalize_frame, region


def test_region_replicates_the_edge_and_refuses_boxes_outside() -> None:
    image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert region(image, 1, 0, 3, 2) is not None
    np.testing.assert_array_equal(region(image, 1, 0, 3, 2), image[0:2, 1:3])
    padded = region(image, -1, 0, 2, 1)
    np.testing.assert_array_equal(padded, [[0, 0, 1]])
    with pytest.raises(ValueError, match="wholly outside the 4x3 frame"):
        region(image, 5, 5, 8, 8)


# -- normalize_frame -------------------------------------------------------------------------

GRAY = (np.arange(12 * 16, dtype=np.uint8).reshape(12, 16) * 7) % 251


@pytest.mark.parametrize(
    "frame",
    [GRAY, GRAY[:, :, None], np.dstack([GRAY, GRAY, GRAY, np.full_like(GRAY, 9)])],
    ids=["HxW", "HxWx1", "BGRA"],
)
def test_normalize_converts_gray_and_bgra_to_bgr(frame: np.ndarray) -> None:
    out = normalize_frame(frame)
    assert out.shape == (12, 16, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], GRAY)


def test_normalize_passes_bgr_through_without_copy() -> None:
    frame = np.dstack([GRAY, GRAY // 2, GRAY // 3])
    assert normalize_frame(frame) is frame
    view = frame[:, ::2]  # non-contiguous view gets made contiguous, values kept
    out = normalize_frame(view)
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, view)


@pytest.mark.parametrize(
    ("frame", "words"),
    [
        (np.zeros((8, 8, 3), np.float32), "float32"),
        (np.full((8, 8, 3), np.nan), "NaN"),
        (np.zeros((8, 8, 3), np.uint16), "uint16"),
        (np.zeros((0, 8, 3), np.uint8), "empty"),
        (np.zeros((8, 8, 2), np.uint8), "shape"),
        (np.zeros((2, 8, 8, 3), np.uint8), "shape"),
        ([[1, 2], [3, 4]], "numpy array"),
    ],
    ids=["float", "nan", "uint16", "empty", "2ch", "4d", "list"],
)
def test_normalize_rejects_bad_frames(frame: object, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        normalize_frame(frame)


# -- crop_face -------------------------------------------------------------------------------

def gradient_frame(h: int = 90, w: int = 120) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.dstack([(xx * 2) % 256, (yy * 2) % 256, (xx + yy) % 256]).astype(np.uint8)


def test_crop_face_inside_is_gray_area_resize_of_the_box() -> None:
    frame = gradient_frame()
    crop = crop_face(frame, (10, 20, 74, 84), 32)
    expected = cv2.resize(cv2.cvtColor(frame[20:84, 10:74], cv2.COLOR_BGR2GRAY), (32, 32),
                          interpolation=cv2.INTER_AREA)
    assert crop.shape == (32, 32) and crop.dtype == np.uint8
    np.testing.assert_array_equal(crop, expected)
    np.testing.assert_array_equal(crop_face(frame, (10, 20, 74, 84), 32), crop)  # pure


def test_crop_face_pads_outside_the_frame_by_edge_replication() -> None:
    frame = gradient_frame()
    crop = crop_face(frame, (-20, -10, 40, 50), 60)  # 60 px box -> no resize
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    np.testing.assert_array_equal(crop[10:, 20:], gray[0:50, 0:40])
    np.testing.assert_array_equal(crop[:10, 20:], np.repeat(gray[0:1, 0:40], 10, axis=0))
    np.testing.assert_array_equal(crop[10:, :20], np.repeat(gray[0:50, 0:1], 20, axis=1))


def test_crop_face_rotation_undoes_a_tilt() -> None:
    frame = cv2.GaussianBlur(gradient_frame(200, 200), (0, 0), 3)
    frame[80:120, 60:140] = 255  # a bar to make the rotation visible
    tilt = cv2.getRotationMatrix2D((100, 100), -20, 1.0)  # clockwise by 20 degrees
    tilted = cv2.warpAffine(frame, tilt, (200, 200), borderMode=cv2.BORDER_REPLICATE)
    box = (50, 50, 150, 150)
    straight = crop_face(frame, box, 50).astype(float)
    fixed = crop_face(tilted, box, 50, angle_deg=20.0).astype(float)
    naive = crop_face(tilted, box, 50).astype(float)
    assert np.abs(fixed - straight).mean() < 0.3 * np.abs(naive - straight).mean()


@pytest.mark.parametrize(
    ("box", "size", "words"),
    [((10, 10, 10, 20), 32, "empty"), ((200, 200, 260, 260), 32, "outside"),
     ((0, 0, 10, 10), 4, "crop_size")],
)
def test_crop_face_rejects_bad_boxes(box: tuple[int, int, int, int], size: int,
                                     words: str) -> None:
    with pytest.raises(ValueError, match=words):
        crop_face(gradient_frame(), box, size)
