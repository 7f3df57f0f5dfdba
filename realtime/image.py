"""Pure image steps shared by sources and the face path: any frame to BGR uint8, and the
square (optionally rotated) grey face crop.

Pure functions of numpy and OpenCV: same input, same output, no state. The crop is the thing
the network sees, in training and live, so it is defined once, here.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

__all__ = ["crop_face", "normalize_frame", "region"]


def normalize_frame(frame: Any, *, name: str = "frame") -> np.ndarray:
    """Return ``frame`` as a C-contiguous BGR uint8 HxWx3 array.

    Accepts BGR HxWx3, grayscale HxW or HxWx1, and BGRA HxWx4 (alpha dropped). Anything else
    (float or other dtypes, NaN, empty, wrong shape) raises ValueError naming ``name``. A frame
    that is already fine is returned as is, without a copy.
    """
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        hint = ""
        if np.issubdtype(frame.dtype, np.floating):
            nan = " and contains NaN" if frame.size and np.isnan(frame).any() else ""
            hint = (f" (float frames{nan} are refused: scale to 0-255 and convert, e.g. "
                    "np.clip(frame * 255, 0, 255).astype(np.uint8))")
        raise ValueError(f"{name} has dtype {frame.dtype}; expected uint8 BGR{hint}")
    if frame.size == 0:
        raise ValueError(f"{name} is empty (shape {frame.shape})")
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.ndim == 3:
        channels = frame.shape[2]
        if channels == 3:
            return np.ascontiguousarray(frame)
        if channels == 1:
            return cv2.cvtColor(np.ascontiguousarray(frame[:, :, 0]), cv2.COLOR_GRAY2BGR)
        if channels == 4:
            return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_BGRA2BGR)
    raise ValueError(
        f"{name} has shape {frame.shape}; expected HxW (gray), HxWx1, HxWx3 (BGR) or HxWx4 (BGRA)"
    )


def region(image: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """Pixels of ``image`` in [x0, x1) x [y0, y1); parts outside the frame replicate its edge."""
    h, w = image.shape[:2]
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if cx0 >= cx1 or cy0 >= cy1:
        raise ValueError(f"box {(x0, y0, x1, y1)} lies wholly outside the {w}x{h} frame")
    roi = image[cy0:cy1, cx0:cx1]
    if (cx0, cy0, cx1, cy1) == (x0, y0, x1, y1):
        return roi
    return cv2.copyMakeBorder(roi, cy0 - y0, y1 - cy1, cx0 - x0, x1 - cx1, cv2.BORDER_REPLICATE)


def crop_face(
    frame_bgr: np.ndarray,
    box: tuple[int, int, int, int],
    crop_size: int,
    angle_deg: float = 0.0,
) -> np.ndarray:
    """Cut ``box`` (x0, y0, x1, y1 frame pixels, x1/y1 exclusive) out of a BGR frame.

    Returns a ``(crop_size, crop_size)`` grayscale uint8 crop: the region is converted to grey
    and resized with ``cv2.INTER_AREA``. Parts of the box outside the frame replicate the edge
    pixels. With ``angle_deg`` != 0 the box is first rotated about its centre by that angle
    (counter-clockwise in the image, as ``cv2.getRotationMatrix2D``), so that a face whose eye
    line is tilted by ``angle_deg`` comes out level. Pure function: same input, same crop.
    """
    image = normalize_frame(frame_bgr, name="frame_bgr")
    if int(crop_size) != crop_size or crop_size < 8:
        raise ValueError(f"crop_size must be an integer >= 8, got {crop_size!r}")
    x0, y0, x1, y1 = (int(v) for v in box)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"box {box} is empty: need x1 > x0 and y1 > y0")
    if not math.isfinite(angle_deg):
        raise ValueError(f"angle_deg must be finite, got {angle_deg!r}")
    if angle_deg == 0.0:
        gray = cv2.cvtColor(region(image, x0, y0, x1, y1), cv2.COLOR_BGR2GRAY)
    else:
        h, w = image.shape[:2]
        if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
            raise ValueError(f"box {(x0, y0, x1, y1)} lies wholly outside the {w}x{h} frame")
        bw, bh = x1 - x0, y1 - y0
        cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
        m = cv2.getRotationMatrix2D((cx, cy), angle_deg, 1.0)
        m[0, 2] -= x0
        m[1, 2] -= y0
        rotated = cv2.warpAffine(image, m, (bw, bh), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REPLICATE)
        gray = cv2.cvtColor(rotated, cv2.COLOR_BGR2GRAY)
    size = int(crop_size)
    if gray.shape == (size, size):
        return np.ascontiguousarray(gray)
    return cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA)
