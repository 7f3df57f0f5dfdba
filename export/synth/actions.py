"""Action-unit-like deformation fields built from one face's 468 mesh landmarks.

Each action (a FACS-like action unit on one side of the face, an eye blink, ...) says how some
landmarks move, in face units: ``u`` points from the subject's right eye to the left eye, ``v``
points down, and one unit is the distance between the eye centres (IOD). Landmarks can also be
*pinned* (held still) so that, for example, the lower lid does not follow a closing upper lid.

A dense field comes from Gaussian radial basis functions centred on the moved landmarks,
normalised where several overlap (so a row of brow points moves the brow by the stated amount,
not by their sum) and fading to zero away from them. Fields are *backward* maps (each output
pixel says where in the rest image to sample), centred on where the landmarks move *to*; large
motions (a blink, a jaw drop) are therefore not a linear function of amplitude, so every field is
precomputed at a few amplitudes and interpolated in between.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# --- landmark groups (mediapipe face mesh, 468 points; "R" = subject's right = image left) ---
BROW = {
    "R": (70, 63, 105, 66, 107, 46, 53, 52, 65, 55),
    "L": (300, 293, 334, 296, 336, 276, 283, 282, 295, 285),
}
UPPER_LID = {"R": (246, 161, 160, 159, 158, 157, 173), "L": (466, 388, 387, 386, 385, 384, 398)}
LOWER_LID = {"R": (7, 163, 144, 145, 153, 154, 155), "L": (249, 390, 373, 374, 380, 381, 382)}
EYE_CORNERS = {"R": (33, 133), "L": (263, 362)}
LID_CREASE = {"R": (247, 30, 29, 27, 28, 56, 190), "L": (467, 260, 259, 257, 258, 286, 414)}
UPPER_LIP_OUTER = (185, 40, 39, 37, 0, 267, 269, 270, 409)
UPPER_LIP_INNER = (191, 80, 81, 82, 13, 312, 311, 310, 415)
LOWER_LIP_OUTER = (146, 91, 181, 84, 17, 314, 405, 321, 375)
LOWER_LIP_INNER = (95, 88, 178, 87, 14, 317, 402, 318, 324)
MOUTH_CORNERS = {"R": (61, 78), "L": (291, 308)}
NEAR_CORNERS = {"R": (185, 146, 191, 95), "L": (409, 375, 415, 324)}
NOSE_SIDES = {
    "R": (48, 64, 98, 115, 220, 129, 49, 102),
    "L": (278, 294, 327, 344, 440, 358, 279, 331),
}
NOSE_BRIDGE = (6, 168, 197, 195, 5, 4, 1)
GLABELLA = (9, 8, 151)
EYE_CENTRE_PAIRS = {"R": (33, 133), "L": (362, 263)}

SIDES = ("R", "L")
SIDE_SIGN = {"R": -1.0, "L": 1.0}

# Amplitudes at which each field is precomputed (1.0 = the nominal macro-expression peak).
LEVELS = (0.25, 0.5, 1.0, 1.6)


@dataclass(frozen=True)
class FaceFrame:
    """Face coordinate frame: origin between the eye centres, unit = inter-ocular distance."""

    origin_px: np.ndarray
    u_axis: np.ndarray
    v_axis: np.ndarray
    iod_px: float

    @classmethod
    def from_landmarks(cls, lm: np.ndarray) -> FaceFrame:
        r = lm[list(EYE_CENTRE_PAIRS["R"])].mean(0)
        left = lm[list(EYE_CENTRE_PAIRS["L"])].mean(0)
        d = left - r
        iod = float(np.linalg.norm(d))
        if iod < 4.0:
            raise ValueError(f"face too small: eye distance {iod:.1f} px (need >= 4)")
        u = d / iod
        v = np.array([-u[1], u[0]])
        return cls(0.5 * (r + left), u, v, iod)

    def uv(self, lm: np.ndarray) -> np.ndarray:
        """Landmarks (N, 2) px -> face coordinates (N, 2)."""
        rel = lm - self.origin_px
        return np.stack([rel @ self.u_axis, rel @ self.v_axis], axis=1) / self.iod_px

    def to_px_vec(self, duv: np.ndarray) -> np.ndarray:
        """Displacements in face units (N, 2) -> pixels (N, 2)."""
        duv = np.atleast_2d(duv)
        return (duv[:, :1] * self.u_axis + duv[:, 1:] * self.v_axis) * self.iod_px


@dataclass(frozen=True)
class Handles:
    """Landmarks that move (forward displacement in px) or stay, with the RBF width in px."""

    points_px: np.ndarray  # (N, 2)
    disp_px: np.ndarray  # (N, 2); zero rows are pins
    sigma_px: float


class _Geom:
    """What an action definition needs: landmarks, face frame, and group helpers."""

    def __init__(self, lm: np.ndarray) -> None:
        self.lm = lm
        self.frame = FaceFrame.from_landmarks(lm)
        self.uv = self.frame.uv(lm)
        self.iod = self.frame.iod_px

    def pts(self, idx) -> np.ndarray:
        return self.lm[list(idx)]

    def handles(self, idx, duv, sigma_iod: float, weights=None) -> Handles:
        idx = list(idx)
        duv = np.broadcast_to(np.asarray(duv, dtype=np.float64), (len(idx), 2)).copy()
        if weights is not None:
            duv *= np.asarray(weights, dtype=np.float64)[:, None]
        return Handles(self.lm[idx], self.frame.to_px_vec(duv), sigma_iod * self.iod)

    def pins(self, idx, sigma_iod: float) -> Handles:
        idx = list(idx)
        return Handles(self.lm[idx], np.zeros((len(idx), 2)), sigma_iod * self.iod)

    def region(self, u_range, v_range, side: str | None = None, exclude=()) -> list[int]:
        """Landmark indices inside a face-coordinate box (|u| range when a side is given)."""
        uu, vv = self.uv[:, 0], self.uv[:, 1]
        if side is not None:
            uu = uu * SIDE_SIGN[side]
        keep = (uu >= u_range[0]) & (uu <= u_range[1]) & (vv >= v_range[0]) & (vv <= v_range[1])
        ex = set(exclude)
        return [i for i in np.flatnonzero(keep) if i not in ex]

    def side_weights(self, idx, side: str) -> np.ndarray:
        """1 on the given side, 0 on the other, a smooth split across the midline."""
        u = self.uv[list(idx), 0] * SIDE_SIGN[side]
        return np.clip(0.5 + u / 0.12, 0.0, 1.0)


# --- action definitions: (geometry, side) -> list of Handles ---

def _brow_inner_weight(g: _Geom, side: str) -> np.ndarray:
    u = np.abs(g.uv[list(BROW[side]), 0])
    return np.clip((u.max() - u) / max(u.max() - u.min(), 1e-6), 0.0, 1.0)


def _au1(g: _Geom, s: str) -> list[Handles]:
    w = _brow_inner_weight(g, s)
    fore = g.region((0.0, 0.45), (-1.2, -0.45), side=s)
    return [g.handles(BROW[s], (0.0, -0.11), 0.16, 0.25 + 0.75 * w),
            g.handles(fore, (0.0, -0.03), 0.2, g.side_weights(fore, s)),
            g.pins(LOWER_LID[s], 0.08)]


def _au2(g: _Geom, s: str) -> list[Handles]:
    w = 1.0 - _brow_inner_weight(g, s)
    return [g.handles(BROW[s], (0.0, -0.11), 0.16, 0.25 + 0.75 * w),
            g.handles(LID_CREASE[s], (0.0, -0.03), 0.1),
            g.pins(LOWER_LID[s], 0.08)]


def _au4(g: _Geom, s: str) -> list[Handles]:
    w = _brow_inner_weight(g, s)
    sign = SIDE_SIGN[s]
    duv = np.stack([-sign * 0.05 * w, 0.04 + 0.04 * w], axis=1)
    return [g.handles(BROW[s], duv, 0.15),
            g.handles(LID_CREASE[s], (0.0, 0.02), 0.08),
            g.pins(LOWER_LID[s], 0.08), g.pins(NOSE_BRIDGE[:3], 0.12)]


def _au5(g: _Geom, s: str) -> list[Handles]:
    return [g.handles(UPPER_LID[s], (0.0, -0.035), 0.07), g.pins(LOWER_LID[s], 0.05)]


def _au6(g: _Geom, s: str) -> list[Handles]:
    cheek = g.region((0.25, 0.85), (0.25, 0.8), side=s,
                     exclude=NOSE_SIDES["R"] + NOSE_SIDES["L"] + NOSE_BRIDGE)
    sign = SIDE_SIGN[s]
    return [g.handles(cheek, (0.0, -0.065), 0.16),
            g.handles(LOWER_LID[s], (0.0, -0.035), 0.07),
            g.handles(EYE_CORNERS[s][:1], (-sign * 0.015, -0.01), 0.08),
            g.pins(UPPER_LID[s], 0.06)]


def _au7(g: _Geom, s: str) -> list[Handles]:
    return [g.handles(LOWER_LID[s], (0.0, -0.045), 0.07),
            g.handles(UPPER_LID[s], (0.0, 0.015), 0.06),
            g.pins(BROW[s], 0.1)]


def _au9(g: _Geom, s: str) -> list[Handles]:
    sign = SIDE_SIGN[s]
    lip = g.side_weights(UPPER_LIP_OUTER, s)
    inner_brow = list(BROW[s][3:5]) + list(BROW[s][8:10])
    return [g.handles(NOSE_SIDES[s], (-sign * 0.015, -0.08), 0.1),
            g.handles(UPPER_LIP_OUTER, (0.0, -0.04), 0.1, lip),
            g.handles(inner_brow, (0.0, 0.035), 0.12),
            g.pins(NOSE_BRIDGE[-3:], 0.08)]


def _au10(g: _Geom, s: str) -> list[Handles]:
    idx = UPPER_LIP_OUTER + UPPER_LIP_INNER
    u = np.abs(g.uv[list(idx), 0])
    centre = np.clip(1.0 - u / max(u.max(), 1e-6), 0.2, 1.0)
    return [g.handles(idx, (0.0, -0.085), 0.1, centre * g.side_weights(idx, s)),
            g.pins(LOWER_LIP_OUTER + LOWER_LIP_INNER, 0.07)]


def _corner(g: _Geom, s: str, du: float, dv: float, sigma: float) -> list[Handles]:
    sign = SIDE_SIGN[s]
    return [g.handles(MOUTH_CORNERS[s], (sign * du, dv), sigma),
            g.handles(NEAR_CORNERS[s], (sign * du * 0.6, dv * 0.6), sigma)]


def _au12(g: _Geom, s: str) -> list[Handles]:
    # corner pull 0.105 IOD at amplitude 1: the median mouth-corner displacement of the 85 real
    # neutral -> smile pairs of the London set (face mesh on both photos, aligned)
    cheek = g.region((0.3, 0.8), (0.45, 0.85), side=s,
                     exclude=NOSE_SIDES["R"] + NOSE_SIDES["L"])
    return _corner(g, s, 0.086, -0.061, 0.15) + [
        g.handles(cheek, (0.0, -0.025), 0.15), g.pins((0, 17, 13, 14), 0.08)]


def _au14(g: _Geom, s: str) -> list[Handles]:
    return _corner(g, s, 0.045, -0.015, 0.09) + [g.pins((0, 17), 0.08)]


def _au15(g: _Geom, s: str) -> list[Handles]:
    return _corner(g, s, 0.025, 0.095, 0.13) + [g.pins((0, 13), 0.08)]


def _au17(g: _Geom, s: str) -> list[Handles]:
    lower = g.region((-0.35, 0.35), (1.0, 2.5), exclude=LOWER_LIP_INNER + LOWER_LIP_OUTER)
    v = g.uv[lower, 1]
    lip_v = g.uv[list(LOWER_LIP_OUTER), 1].max()
    chin = [i for i, vv in zip(lower, v) if vv > lip_v + 0.12]
    return [g.handles(chin, (0.0, -0.08), 0.18, g.side_weights(chin, s)),
            g.handles(LOWER_LIP_OUTER, (0.0, -0.055), 0.1, g.side_weights(LOWER_LIP_OUTER, s)),
            g.pins(UPPER_LIP_INNER, 0.06)]


def _au20(g: _Geom, s: str) -> list[Handles]:
    return _corner(g, s, 0.09, 0.02, 0.13) + [g.pins((0, 17), 0.08)]


def _au23(g: _Geom, s: str) -> list[Handles]:
    w_up = g.side_weights(UPPER_LIP_INNER, s)
    w_lo = g.side_weights(LOWER_LIP_INNER, s)
    return _corner(g, s, -0.04, 0.0, 0.08) + [
        g.handles(UPPER_LIP_INNER, (0.0, 0.012), 0.05, w_up),
        g.handles(LOWER_LIP_INNER, (0.0, -0.012), 0.05, w_lo)]


def _au25(g: _Geom, s: str) -> list[Handles]:
    lo = LOWER_LIP_INNER + LOWER_LIP_OUTER
    u = np.abs(g.uv[list(lo), 0])
    centre = np.clip(1.0 - u / max(u.max(), 1e-6), 0.15, 1.0) * g.side_weights(lo, s)
    up = g.side_weights(UPPER_LIP_INNER, s)
    return [g.handles(lo, (0.0, 0.08), 0.09, centre),
            g.handles(UPPER_LIP_INNER, (0.0, -0.015), 0.06, up),
            g.pins(MOUTH_CORNERS[s], 0.06), g.pins(NOSE_SIDES[s][:3], 0.1)]


def _au26(g: _Geom, s: str) -> list[Handles]:
    mouth_v = g.uv[[13, 14], 1].mean()
    chin_v = g.uv[152, 1]
    below = g.region((-2.0, 2.0), (mouth_v + 0.02, 3.0), exclude=UPPER_LIP_INNER)
    ramp = np.clip((g.uv[below, 1] - mouth_v) / max(chin_v - mouth_v, 1e-6), 0.0, 1.0)
    weight = (0.55 + 0.45 * ramp) * g.side_weights(below, s)
    lips = LOWER_LIP_INNER + LOWER_LIP_OUTER
    return [g.handles(below, (0.0, 0.2), 0.16, weight),
            g.handles(lips, (0.0, 0.2), 0.08, g.side_weights(lips, s)),
            g.pins(UPPER_LIP_INNER + UPPER_LIP_OUTER + MOUTH_CORNERS[s][:1], 0.07),
            g.pins(NOSE_SIDES[s], 0.1)]


def _blink(g: _Geom, s: str) -> list[Handles]:
    """Blink handles for inspection only: the field itself is built by :func:`blink_field`."""
    up, lo = g.pts(UPPER_LID[s]), g.pts(LOWER_LID[s])
    return [Handles(up, lo - up, 0.05 * g.iod), Handles(lo, np.zeros_like(lo), 0.05 * g.iod)]


ACTIONS: dict[str, tuple[str, Callable[[_Geom, str], list[Handles]]]] = {
    "AU1": ("inner brow raiser", _au1),
    "AU2": ("outer brow raiser", _au2),
    "AU4": ("brow lowerer", _au4),
    "AU5": ("upper lid raiser", _au5),
    "AU6": ("cheek raiser", _au6),
    "AU7": ("lid tightener", _au7),
    "AU9": ("nose wrinkler", _au9),
    "AU10": ("upper lip raiser", _au10),
    "AU12": ("lip corner puller", _au12),
    "AU14": ("dimpler", _au14),
    "AU15": ("lip corner depressor", _au15),
    "AU17": ("chin raiser", _au17),
    "AU20": ("lip stretcher", _au20),
    "AU23": ("lip tightener", _au23),
    "AU25": ("lips part", _au25),
    "AU26": ("jaw drop", _au26),
    "BLINK": ("eye blink (distractor)", _blink),
}
EXPRESSION_AUS = tuple(k for k in ACTIONS if k.startswith("AU"))


def dense_backward_field(handles: list[Handles], amplitude: float, origin_px: np.ndarray,
                         shape: tuple[int, int]) -> np.ndarray:
    """Backward displacement field (h, w, 2) float32 over a region whose (0, 0) is origin_px.

    Each handle is a Gaussian centred where its landmark moves to (rest + amplitude * disp),
    carrying the vector back to the rest position; overlapping Gaussians are averaged.
    """
    h, w = shape
    num = np.zeros((2, h, w), np.float64)
    den = np.zeros((h, w), np.float64)
    for hd in handles:
        sigma = hd.sigma_px
        r = int(np.ceil(3.0 * sigma))
        centres = hd.points_px + amplitude * hd.disp_px - origin_px
        backs = -amplitude * hd.disp_px
        for (cx, cy), (bx, by) in zip(centres, backs):
            x0, x1 = max(0, int(cx) - r), min(w, int(cx) + r + 2)
            y0, y1 = max(0, int(cy) - r), min(h, int(cy) + r + 2)
            if x0 >= x1 or y0 >= y1:
                continue
            gx = np.exp(-0.5 * ((np.arange(x0, x1) - cx) / sigma) ** 2)
            gy = np.exp(-0.5 * ((np.arange(y0, y1) - cy) / sigma) ** 2)
            g = gy[:, None] * gx[None, :]
            den[y0:y1, x0:x1] += g
            if bx or by:
                num[0, y0:y1, x0:x1] += bx * g
                num[1, y0:y1, x0:x1] += by * g
    return (num / np.maximum(den, 1.0)).transpose(1, 2, 0).astype(np.float32)


@dataclass(frozen=True)
class _EyeGeometry:
    """Per-pixel lid geometry of one eye over the bounding box where a blink can move pixels."""

    box: tuple[int, int, int, int]  # y0, y1, x0, x1 inside the field region
    vv: np.ndarray
    upper: np.ndarray
    opening: np.ndarray
    top: np.ndarray
    inside: np.ndarray


def _eye_geometry(g: _Geom, side: str, origin_px: np.ndarray,
                  shape: tuple[int, int]) -> _EyeGeometry:
    up_uv = g.uv[list(UPPER_LID[side] + EYE_CORNERS[side])]
    lo_uv = g.uv[list(LOWER_LID[side] + EYE_CORNERS[side])]
    up_uv = up_uv[np.argsort(up_uv[:, 0])]
    lo_uv = lo_uv[np.argsort(lo_uv[:, 0])]
    u_min, u_max = max(up_uv[0, 0], lo_uv[0, 0]), min(up_uv[-1, 0], lo_uv[-1, 0])
    h, w = shape
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    rel = np.stack([xs + origin_px[0], ys + origin_px[1]], -1) - g.frame.origin_px
    uu = rel @ g.frame.u_axis / g.iod
    vv = rel @ g.frame.v_axis / g.iod
    upper = np.interp(uu, up_uv[:, 0], up_uv[:, 1])
    lower = np.interp(uu, lo_uv[:, 0], lo_uv[:, 1])
    opening = np.maximum(lower - upper, 0.0)
    top = upper - np.maximum(1.3 * opening, 0.06)  # skin above this line does not move
    inside = (uu > u_min) & (uu < u_max) & (opening > 0)
    ys_in, xs_in = np.nonzero(inside & (vv >= top) & (vv <= lower))
    if len(ys_in) == 0:
        box = (0, 0, 0, 0)
    else:
        box = (int(ys_in.min()), int(ys_in.max()) + 1, int(xs_in.min()), int(xs_in.max()) + 1)
    y0, y1, x0, x1 = box
    cut = (slice(y0, y1), slice(x0, x1))
    return _EyeGeometry(box, vv[cut], upper[cut], opening[cut], top[cut], inside[cut])


def blink_field(g: _Geom, side: str, amplitude: float, origin_px: np.ndarray,
                shape: tuple[int, int], eye: _EyeGeometry | None = None) -> np.ndarray:
    """Backward field (h, w, 2) of an eyelid closed by ``amplitude`` (1 = fully closed).

    The eyeball stays; the upper lid slides down over it. Between a line above the lid and the
    lid's new position the lid skin is stretched down (a linear map along the face's vertical);
    below the new lid position nothing moves, so the lid edge stays a sharp occlusion boundary,
    which a smooth RBF field cannot give.
    """
    a = float(np.clip(amplitude, 0.0, 1.0))
    out = np.zeros((shape[0], shape[1], 2), np.float32)
    if a <= 0.0:
        return out
    e = eye or _eye_geometry(g, side, origin_px, shape)
    y0, y1, x0, x1 = e.box
    lid = e.upper + a * e.opening  # where the lid edge is now
    band = e.inside & (e.vv >= e.top) & (e.vv <= lid)
    src_v = e.top + (e.vv - e.top) * (e.upper - e.top) / np.maximum(lid - e.top, 1e-9)
    dv = np.where(band, src_v - e.vv, 0.0) * g.iod
    out[y0:y1, x0:x1, 0] = (dv * g.frame.v_axis[0]).astype(np.float32)
    out[y0:y1, x0:x1, 1] = (dv * g.frame.v_axis[1]).astype(np.float32)
    return out


class FieldBank:
    """Lazily computed backward fields of one face, per (action, side) and amplitude level.

    Fields cover ``roi`` (x0, y0, x1, y1) of the canvas only; :meth:`field` returns the field at
    any amplitude by interpolating between the precomputed levels (linear below the first).
    """

    def __init__(self, landmarks_px: np.ndarray, canvas_shape: tuple[int, int]) -> None:
        self.geom = _Geom(np.asarray(landmarks_px, dtype=np.float64))
        lm = self.geom.lm
        pad = 0.6 * self.geom.iod
        h, w = canvas_shape
        x0 = int(max(0, np.floor(lm[:, 0].min() - pad)))
        y0 = int(max(0, np.floor(lm[:, 1].min() - pad)))
        x1 = int(min(w, np.ceil(lm[:, 0].max() + pad)))
        y1 = int(min(h, np.ceil(lm[:, 1].max() + pad)))
        self.roi = (x0, y0, x1, y1)
        self._levels: dict[tuple[str, str], np.ndarray] = {}
        self._eyes: dict[str, _EyeGeometry] = {}

    @property
    def iod_px(self) -> float:
        return self.geom.iod

    def handles(self, action: str, side: str) -> list[Handles]:
        if action not in ACTIONS:
            raise ValueError(f"action {action!r}: unknown; valid: {', '.join(ACTIONS)}")
        if side not in SIDES:
            raise ValueError(f"side {side!r}: must be one of {SIDES}")
        return ACTIONS[action][1](self.geom, side)

    def _blink(self, side: str, amplitude: float) -> np.ndarray:
        # amplitude quantised to 1e-3 (invisible) so that fields are reproducible and reusable
        a = int(round(float(np.clip(amplitude, 0.0, 1.0)) * 1000)) / 1000.0
        x0, y0, x1, y1 = self.roi
        origin, shape = np.array([x0, y0], np.float64), (y1 - y0, x1 - x0)
        if side not in self._eyes:
            self._eyes[side] = _eye_geometry(self.geom, side, origin, shape)
        return blink_field(self.geom, side, a, origin, shape, self._eyes[side])

    def _stack(self, action: str, side: str) -> np.ndarray:
        key = (action, side)
        if key not in self._levels:
            x0, y0, x1, y1 = self.roi
            hs = self.handles(action, side)
            origin = np.array([x0, y0], np.float64)
            self._levels[key] = np.stack([
                dense_backward_field(hs, a, origin, (y1 - y0, x1 - x0)) for a in LEVELS])
        return self._levels[key]

    def field(self, action: str, side: str, amplitude: float) -> np.ndarray:
        """Backward field (h, w, 2) over the ROI at the given amplitude (1 = macro peak)."""
        if action == "BLINK":
            return self._blink(side, amplitude)
        stack = self._stack(action, side)
        a = float(amplitude)
        if a <= LEVELS[0]:
            return stack[0] * (a / LEVELS[0])
        if a >= LEVELS[-1]:
            return stack[-1] * (a / LEVELS[-1])
        k = int(np.searchsorted(LEVELS, a)) - 1
        t = (a - LEVELS[k]) / (LEVELS[k + 1] - LEVELS[k])
        return stack[k] * (1.0 - t) + stack[k + 1] * t
