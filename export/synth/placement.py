"""Placing a found face on a video's world canvas: size, position, mirror, tone (a Variant).

Split from :mod:`.faces` (which finds faces and people): this module turns a found face into the
:class:`~.faces.Identity` a video is rendered from.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .faces import (
    CHIN,
    FOREHEAD_TOP,
    LEFT_EYE_CORNERS,
    RIGHT_EYE_CORNERS,
    FaceFound,
    Identity,
    PortraitError,
    face_mesh_landmarks,
)


@dataclass(frozen=True)
class Variant:
    """How an identity is varied: mirror, tone, size and placement of the face."""

    flip: bool = False
    gain: float = 1.0
    gamma: float = 1.0
    colour_bgr: tuple[float, float, float] = (1.0, 1.0, 1.0)
    face_frac: float = 0.5  # forehead-to-chin height / frame height
    offset_frac: tuple[float, float] = (0.0, 0.0)  # face centre shift, fraction of frame size
    roll_deg: float = 0.0

    def describe(self) -> str:
        parts = ["flip"] if self.flip else []
        if (self.gain, self.gamma, self.colour_bgr) != (1.0, 1.0, (1.0, 1.0, 1.0)):
            parts.append(f"tone(gain={self.gain:.2f},gamma={self.gamma:.2f})")
        parts.append(f"face={self.face_frac:.2f}")
        return "+".join(parts)


def place_identity(face: FaceFound, name: str, width_px: int, height_px: int,
                   variant: Variant = Variant(), margin_px: int | None = None,
                   smiling: FaceFound | None = None) -> Identity:
    """Put a found face upright on a world canvas of the frame size plus a margin.

    The face is scaled so that forehead-to-chin spans ``variant.face_frac`` of the frame height,
    centred (plus ``offset_frac``), mirrored and toned as the variant says; the face mesh is then
    run again on the canvas so that landmarks match the pixels exactly. ``smiling`` (the aligned
    smiling photo of the same person, see :func:`align_smile`) is placed with the same transform.
    """
    if margin_px is None:
        margin_px = int(round(0.12 * max(width_px, height_px))) + 8
    canvas = _place_picture(face, face.picture, width_px, height_px, variant, margin_px)
    placed = face_mesh_landmarks(canvas)
    if placed is None:
        raise PortraitError(f"portrait {face.source} face {face.face_index}: the face mesh "
                            f"fails on the face resized to {width_px}x{height_px} "
                            f"(variant {variant.describe()}); try a larger frame size")
    smile_canvas = smile_lm = None
    if smiling is not None:
        smile_canvas = _place_picture(face, smiling.picture, width_px, height_px, variant,
                                      margin_px)
        smile_lm = face_mesh_landmarks(smile_canvas)
        if smile_lm is None:
            smile_canvas = None
    return Identity(name, face.source, face.face_index, face.frame_index, variant.describe(),
                    canvas, placed, margin_px, width_px, height_px, smile_canvas, smile_lm)


def _place_picture(face: FaceFound, picture: np.ndarray, width_px: int, height_px: int,
                   variant: Variant, margin_px: int) -> np.ndarray:
    """The canvas of ``picture`` placed by the geometry of ``face``'s landmarks."""
    lm = face.landmarks_px
    r = lm[list(RIGHT_EYE_CORNERS)].mean(0)
    left = lm[list(LEFT_EYE_CORNERS)].mean(0)
    roll = float(np.degrees(np.arctan2(left[1] - r[1], left[0] - r[0])))
    face_h = float(np.linalg.norm(lm[CHIN] - lm[FOREHEAD_TOP]))
    scale = variant.face_frac * height_px / face_h
    centre_src = 0.5 * (lm[CHIN] + lm[FOREHEAD_TOP])
    pre = 1.0
    if scale < 0.8:  # shrink with area averaging first so the warp does not alias
        pre = scale * 1.25
        picture = cv2.resize(picture, None, fx=pre, fy=pre, interpolation=cv2.INTER_AREA)
        centre_src = centre_src * pre
    cw, ch = width_px + 2 * margin_px, height_px + 2 * margin_px
    target = np.array([cw / 2 + variant.offset_frac[0] * width_px,
                       ch / 2 + variant.offset_frac[1] * height_px])
    m = cv2.getRotationMatrix2D((float(centre_src[0]), float(centre_src[1])),
                                roll - variant.roll_deg, scale / pre)
    m[:, 2] += target - centre_src
    canvas = cv2.warpAffine(picture, m, (cw, ch), flags=cv2.INTER_CUBIC,
                            borderMode=cv2.BORDER_REFLECT_101)
    if variant.flip:
        canvas = np.ascontiguousarray(canvas[:, ::-1])
    return _tone(canvas, variant)


def _tone(bgr: np.ndarray, v: Variant) -> np.ndarray:
    if (v.gain, v.gamma, v.colour_bgr) == (1.0, 1.0, (1.0, 1.0, 1.0)):
        return bgr
    x = bgr.astype(np.float32) / 255.0
    x = np.power(x, v.gamma) * v.gain * np.asarray(v.colour_bgr, np.float32)
    return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)
