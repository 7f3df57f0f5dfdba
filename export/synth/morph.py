"""Real smile appearance: a landmark-aligned morph from a person's neutral photo to their smile.

For a paired person the neutral and the (aligned) smiling photo are both placed on the world
canvas, each with its own 468 face-mesh landmarks. At strength ``s`` (0 = neutral, 1 = the real
smile) the landmarks are ``L(s) = L_n + s (L_s - L_n)``; both photos are warped piecewise-affinely
(a Delaunay triangulation of the neutral landmarks plus fixed points around the face) onto
``L(s)`` and cross-dissolved inside a feathered face mask with weight ``s``. At ``s = 1`` the face
is the smiling photo itself: teeth, cheek bulge and eye crinkle that no warp of the neutral
photo has.

Like the action-unit fields, the two backward fields are precomputed at a few strengths and
interpolated in between, so a frame costs field blends and remaps, never a triangulation.
"""

from __future__ import annotations

import cv2
import numpy as np

from .actions import EYE_CENTRE_PAIRS, MOUTH_CORNERS

MORPH_LEVELS = (0.25, 0.5, 0.75, 1.0)
_DEDUP_PX = 0.25  # landmarks closer than this are one triangulation vertex


def _delaunay(points: np.ndarray, rect: tuple[int, int, int, int]) -> np.ndarray:
    """Triangles (T, 3) as indices into ``points`` (OpenCV's Subdiv2D on unique points)."""
    x0, y0, x1, y1 = rect
    keep: list[int] = []
    for i, p in enumerate(points):
        if not keep or np.min(np.hypot(*(points[keep] - p).T)) >= _DEDUP_PX:
            keep.append(i)
    # Subdiv2D adds three virtual vertices outside its rectangle; a rectangle far larger than
    # the points keeps them from displacing triangles along the convex hull
    size = max(x1 - x0, y1 - y0)
    sub = cv2.Subdiv2D((x0 - 20 * size, y0 - 20 * size, 41 * size, 41 * size))
    kept = points[keep]
    for p in kept:
        sub.insert((float(p[0]), float(p[1])))
    tris = []
    for t in sub.getTriangleList().reshape(-1, 3, 2):
        d = np.hypot(kept[None, :, 0] - t[:, None, 0], kept[None, :, 1] - t[:, None, 1])
        j = d.argmin(1)
        if d[np.arange(3), j].max() > 0.5 or len(set(j.tolist())) < 3:
            continue  # a triangle touching Subdiv2D's outer virtual vertices
        tris.append([keep[k] for k in j])
    return np.asarray(tris, np.int64)


def piecewise_affine_backward(tris: np.ndarray, dst: np.ndarray, src: np.ndarray,
                              origin_px: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Backward field (h, w, 2): each pixel of the ``dst`` mesh -> where to sample in ``src``.

    Pixels that no triangle of ``dst`` covers get zero displacement.
    """
    h, w = shape
    index = np.full((h, w), -1, np.int32)
    rel = dst - origin_px
    for t, tri in enumerate(tris):
        pts = np.round(rel[tri] * 16.0).astype(np.int32)
        cv2.fillConvexPoly(index, pts, int(t), lineType=cv2.LINE_8, shift=4)
    d = np.concatenate([dst[tris], np.ones((len(tris), 3, 1))], axis=2)  # (T, 3, 3)
    coef = np.linalg.pinv(d) @ src[tris]  # (T, 3, 2): [x y 1] @ coef = source point
    out = np.zeros((h, w, 2), np.float32)
    ys, xs = np.nonzero(index >= 0)
    c = coef[index[ys, xs]]
    px = xs + origin_px[0]
    py = ys + origin_px[1]
    out[ys, xs, 0] = px * c[:, 0, 0] + py * c[:, 1, 0] + c[:, 2, 0] - px
    out[ys, xs, 1] = px * c[:, 0, 1] + py * c[:, 1, 1] + c[:, 2, 1] - py
    return out


class SmileMorph:
    """Neutral -> smile morph fields of one placed paired identity over a canvas ROI.

    ``roi`` is (x0, y0, x1, y1) in canvas pixels (the field bank's), so morph fields add to the
    action-unit fields directly.
    """

    def __init__(self, neutral_lm: np.ndarray, smile_lm: np.ndarray,
                 roi: tuple[int, int, int, int]) -> None:
        self.neutral_lm = np.asarray(neutral_lm, np.float64)
        self.smile_lm = np.asarray(smile_lm, np.float64)
        if self.neutral_lm.shape != self.smile_lm.shape:
            raise ValueError(f"landmark shapes differ: {self.neutral_lm.shape} vs "
                             f"{self.smile_lm.shape}")
        self.roi = roi
        x0, y0, x1, y1 = roi
        self.origin = np.array([x0, y0], np.float64)
        self.shape = (y1 - y0, x1 - x0)
        ring = self._fixed_points()
        self._fixed = ring
        self._n_all = np.vstack([self.neutral_lm, ring])
        self._s_all = np.vstack([self.smile_lm, ring])
        self.tris = _delaunay(self._n_all, roi)
        self._levels: np.ndarray | None = None  # (L, h, w, 4): neutral field, smile field
        self._mask = self._face_mask()

    @property
    def iod_px(self) -> float:
        lm = self.neutral_lm
        r = lm[list(EYE_CENTRE_PAIRS["R"])].mean(0)
        left = lm[list(EYE_CENTRE_PAIRS["L"])].mean(0)
        return float(np.linalg.norm(left - r))

    def _fixed_points(self) -> np.ndarray:
        """Points that never move: the ROI border and a box a little outside the landmarks."""
        x0, y0, x1, y1 = self.roi
        pts = []
        for t in np.linspace(0.0, 1.0, 7):
            pts += [(x0 + t * (x1 - 1 - x0), y0), (x0 + t * (x1 - 1 - x0), y1 - 1),
                    (x0, y0 + t * (y1 - 1 - y0)), (x1 - 1, y0 + t * (y1 - 1 - y0))]
        lm = self.neutral_lm
        pad = 0.25 * self.iod_px
        bx0, by0 = np.maximum(lm.min(0) - pad, [x0 + 1, y0 + 1])
        bx1, by1 = np.minimum(lm.max(0) + pad, [x1 - 2, y1 - 2])
        for t in np.linspace(0.0, 1.0, 6):
            pts += [(bx0 + t * (bx1 - bx0), by0), (bx0 + t * (bx1 - bx0), by1),
                    (bx0, by0 + t * (by1 - by0)), (bx1, by0 + t * (by1 - by0))]
        return np.unique(np.round(np.asarray(pts, np.float64), 3), axis=0)

    def _face_mask(self) -> np.ndarray:
        """Where the smiling photo is blended in: the landmark hull, feathered, (h, w) float32."""
        hull = cv2.convexHull(np.round(self.neutral_lm - self.origin).astype(np.int32))
        mask = np.zeros(self.shape, np.float32)
        cv2.fillConvexPoly(mask, hull, 1.0)
        sigma = 0.12 * self.iod_px
        return cv2.GaussianBlur(mask, (0, 0), sigma)

    def _stack(self) -> np.ndarray:
        if self._levels is None:
            out = []
            for s in MORPH_LEVELS:
                mid = self._n_all + s * (self._s_all - self._n_all)
                fn = piecewise_affine_backward(self.tris, mid, self._n_all, self.origin,
                                               self.shape)
                fs = piecewise_affine_backward(self.tris, mid, self._s_all, self.origin,
                                               self.shape)
                out.append(np.concatenate([fn, fs], axis=2))
            self._levels = np.stack(out)
        return self._levels

    def fields(self, strength: float) -> tuple[np.ndarray, np.ndarray]:
        """(backward fields (h, w, 4): neutral xy, smile xy; blend weight (h, w)) at a strength.

        The smile field at strength ``s`` tends to the full smile-to-neutral offset as ``s``
        falls to 0, but its blend weight falls to 0 with it.
        """
        s = float(np.clip(strength, 0.0, 1.0))
        stack = self._stack()
        if s <= MORPH_LEVELS[0]:
            t = s / MORPH_LEVELS[0]
            f = stack[0].copy()
            f[..., :2] *= t
            # smile part: interpolate between the s=0 field (src = smile mesh at neutral
            # geometry, i.e. the neutral->smile offset) and the first level
            f0 = self._smile_at_zero()
            f[..., 2:] = f0 * (1.0 - t) + stack[0][..., 2:] * t
        else:
            k = min(int(np.searchsorted(MORPH_LEVELS, s)) - 1, len(MORPH_LEVELS) - 2)
            t = (s - MORPH_LEVELS[k]) / (MORPH_LEVELS[k + 1] - MORPH_LEVELS[k])
            f = stack[k] * (1.0 - t) + stack[k + 1] * t
        return f, (s * self._mask).astype(np.float32)

    def _smile_at_zero(self) -> np.ndarray:
        if not hasattr(self, "_f0"):
            self._f0 = piecewise_affine_backward(self.tris, self._n_all, self._s_all,
                                                 self.origin, self.shape)
        return self._f0

    def peak_displacement_px(self, strength: float = 1.0) -> float:
        """Largest landmark displacement at a strength, in canvas pixels."""
        d = np.linalg.norm(self.smile_lm - self.neutral_lm, axis=1)
        return float(strength * d.max())

    def corner_displacement_iod(self) -> float:
        """Mean mouth-corner displacement of the full smile over the inter-ocular distance."""
        idx = [MOUTH_CORNERS["R"][0], MOUTH_CORNERS["L"][0]]
        d = np.linalg.norm(self.smile_lm[idx] - self.neutral_lm[idx], axis=1)
        return float(d.mean() / self.iod_px)
