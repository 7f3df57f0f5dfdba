"""Turn an identity and a video plan into frames: one field blend and one remap per frame.

Per frame: sum the active actions' precomputed backward fields, compose them with the head pose
(an affine map around the face centre), remap the world canvas once, then apply lighting and
sensor noise. Rendering is a deterministic function of (identity, plan, noise seed).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import cv2
import numpy as np

from .actions import FieldBank
from .faces import Identity
from .morph import SmileMorph
from .schedule import VideoPlan, blink_profile, drift_value, step_profile, talk_amplitudes

NOISE_BANK_SIZE = 48  # x4 mirrorings = 192 noise patterns, drawn per frame


class Renderer:
    """Renders the frames of one planned video of one identity."""

    def __init__(self, identity: Identity, plan: VideoPlan, noise_seed: int,
                 bank: FieldBank | None = None, morph: SmileMorph | None = None) -> None:
        self.identity = identity
        self.plan = plan
        self.bank = bank or FieldBank(identity.landmarks_px, identity.canvas.shape[:2])
        if morph is None and identity.paired:
            morph = SmileMorph(identity.landmarks_px, identity.smile_landmarks_px, self.bank.roi)
        if morph is None and any(e.morph > 0 for e in plan.expressions):
            raise ValueError(f"identity {identity.name}: the plan has smile morphs but the "
                             "identity has no smiling photo")
        self.morph = morph
        w, h = identity.width_px, identity.height_px
        self.width_px, self.height_px = w, h
        xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        self._xs, self._ys = xs, ys
        self._xn = (xs - w / 2) / w
        self._yn = (ys - h / 2) / h
        self._centre = identity.face_centre_px.astype(np.float64)
        self._canvas = identity.canvas
        ch, cw = identity.canvas.shape[:2]
        self._u_full = np.zeros((ch, cw, 2), np.float32)
        rng = np.random.default_rng(noise_seed)
        self._noise = (rng.standard_normal((NOISE_BANK_SIZE, h, w, 3)).astype(np.float32)
                       if plan.noise_sigma > 0 else None)
        self._noise_pick = rng.integers(0, NOISE_BANK_SIZE, size=(plan.num_frames, 3))
        self._by_kind: dict[str, list] = {"blink": [], "head": [], "light": [], "talk": []}
        for d in plan.distractors:
            self._by_kind[d.kind].append(d)

    # --- per-frame state ---
    def actions_at(self, n: int, expressions: bool = True,
                   distractors: bool = True) -> dict[tuple[str, str], float]:
        """(action, side) -> amplitude at frame n."""
        acts: dict[tuple[str, str], float] = {}
        if expressions:
            for e in self.plan.expressions:
                p = e.profile(n)
                if p > 0.0:
                    for au, side, amp in e.aus:
                        acts[(au, side)] = acts.get((au, side), 0.0) + amp * p
        if distractors:
            for d in self._by_kind["blink"]:
                a = blink_profile(d, n)
                if a > 0.0:
                    for side in str(d.params["sides"]):
                        acts[("BLINK", side)] = acts.get(("BLINK", side), 0.0) + a
            for d in self._by_kind["talk"]:
                for au, a in talk_amplitudes(d, n, self.plan.fps).items():
                    if a > 0.0:
                        for side in ("R", "L"):
                            acts[(au, side)] = acts.get((au, side), 0.0) + a
        return acts

    def morph_at(self, n: int, expressions: bool = True) -> float:
        """Neutral -> smile morph strength at frame n (0 = neutral photo, 1 = smiling photo)."""
        if not expressions:
            return 0.0
        return float(sum(e.morph * e.profile(n) for e in self.plan.expressions if e.morph))

    def truth_at(self, n: int) -> dict[str, float | str]:
        """Per-frame ground truth: label, smile morph strength, AU and blink intensities.

        AU intensities are the largest of the two sides, in the field units of ``actions.py``
        (1 = nominal macro peak); talking's mouth actions count, blinks have their own column.
        """
        label = "none"
        for e in self.plan.expressions:
            if e.onset <= n <= e.offset:
                label = e.kind
        acts = self.actions_at(n)
        row: dict[str, float | str] = {"label": label, "smile": self.morph_at(n)}
        for (au, _side), a in acts.items():
            key = "blink" if au == "BLINK" else au
            row[key] = max(float(row.get(key, 0.0)), float(a))
        return row

    def pose_at(self, n: int, distractors: bool = True) -> tuple[float, float, float, float]:
        """(tx_px, ty_px, rot_deg, scale) of the head at frame n."""
        if not distractors or not self.plan.drift:
            return 0.0, 0.0, 0.0, 1.0
        t = n / self.plan.fps
        dr = self.plan.drift
        tx, ty = drift_value(dr["tx_px"], t), drift_value(dr["ty_px"], t)
        rot, scale = drift_value(dr["rot_deg"], t), 1.0
        for d in self._by_kind["head"]:
            s = step_profile(d, n)
            if s:
                tx += s * float(d.params["dx_px"])
                ty += s * float(d.params["dy_px"])
                rot += s * float(d.params["rot_deg"])
                scale += s * float(d.params["scale"])
        return tx, ty, rot, scale

    def light_at(self, n: int, distractors: bool = True) -> tuple[float, float, float]:
        """(gain, grad_x, grad_y) of the lighting at frame n."""
        if not distractors or not self.plan.drift:
            return 1.0, 0.0, 0.0
        gain = 1.0 + drift_value(self.plan.drift["gain"], n / self.plan.fps)
        gx = gy = 0.0
        for d in self._by_kind["light"]:
            s = step_profile(d, n)
            if s:
                gain += s * float(d.params["gain"])
                gx += s * float(d.params["grad_x"])
                gy += s * float(d.params["grad_y"])
        return gain, gx, gy

    # --- rendering ---
    def frame(self, n: int, expressions: bool = True, distractors: bool = True,
              noise: bool = True) -> np.ndarray:
        """BGR uint8 frame n; switches leave out expressions, distractors or noise."""
        if not 0 <= n < self.plan.num_frames:
            raise IndexError(f"frame {n}: video has {self.plan.num_frames} frames")
        acts = self.actions_at(n, expressions, distractors)
        pose = self.pose_at(n, distractors)
        img = self.warp(acts, pose, self.morph_at(n, expressions))
        gain, gx, gy = self.light_at(n, distractors)
        sigma = self.plan.noise_sigma if (noise and distractors) else 0.0
        if gain == 1.0 and gx == 0.0 and gy == 0.0 and sigma == 0.0:
            return img
        out = img.astype(np.float32)
        if gx or gy:
            light = gain * (1.0 + gx * self._xn + gy * self._yn)
            out *= light[:, :, None]
        elif gain != 1.0:
            out *= gain
        if sigma > 0.0 and self._noise is not None:
            k, fy, fx = self._noise_pick[n]
            nz = self._noise[k]
            if fy % 2:
                nz = nz[::-1]
            if fx % 2:
                nz = nz[:, ::-1]
            out += sigma * nz
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)

    def warp(self, acts: dict[tuple[str, str], float],
             pose: tuple[float, float, float, float], smile: float = 0.0) -> np.ndarray:
        """The identity's face with action-unit activations ``acts``, head ``pose`` and smile
        strength ``smile`` applied (no noise, lighting or codec: the clean frame)."""
        m = self.identity.margin_px
        tx, ty, rot, scale = pose
        active = [(k, a) for k, a in acts.items() if abs(a) > 1e-9]
        if smile > 1e-6 and self.morph is not None:
            return self._warp_morph(active, pose, smile)
        if not active and pose == (0.0, 0.0, 0.0, 1.0):
            return self.identity.rest_frame()
        # frame pixel -> world canvas: undo translation, then rotation/scale about the face centre
        c = self._centre
        th = math.radians(rot)
        cos_t, sin_t = math.cos(th) / scale, math.sin(th) / scale
        fx = self._xs + (m - c[0] - tx)
        fy = self._ys + (m - c[1] - ty)
        map_x = (cos_t * fx - sin_t * fy + c[0]).astype(np.float32)
        map_y = (sin_t * fx + cos_t * fy + c[1]).astype(np.float32)
        if active:
            x0, y0, x1, y1 = self.bank.roi
            u = self._u_full
            u[y0:y1, x0:x1] = 0.0
            for (action, side), a in active:
                u[y0:y1, x0:x1] += self.bank.field(action, side, a)
            # the field lives on the canvas: sample it where each frame pixel looks
            uv = cv2.remap(u, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=0)
            map_x = map_x + uv[:, :, 0]
            map_y = map_y + uv[:, :, 1]
        return cv2.remap(self._canvas, map_x, map_y, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT_101)

    def _pose_maps(self, pose: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
        """Frame pixel -> world canvas maps of a head pose."""
        m = self.identity.margin_px
        tx, ty, rot, scale = pose
        c = self._centre
        th = math.radians(rot)
        cos_t, sin_t = math.cos(th) / scale, math.sin(th) / scale
        fx = self._xs + (m - c[0] - tx)
        fy = self._ys + (m - c[1] - ty)
        return ((cos_t * fx - sin_t * fy + c[0]).astype(np.float32),
                (sin_t * fx + cos_t * fy + c[1]).astype(np.float32))

    def _warp_morph(self, active: list, pose: tuple[float, float, float, float],
                    smile: float) -> np.ndarray:
        """Frame of a smile morph: both photos warped onto the in-between mesh, blended."""
        assert self.morph is not None and self.identity.smile_canvas is not None
        map_x, map_y = self._pose_maps(pose)
        x0, y0, x1, y1 = self.bank.roi
        ch, cw = self._canvas.shape[:2]
        if not hasattr(self, "_u4"):
            self._u4 = np.zeros((ch, cw, 4), np.float32)
            self._alpha = np.zeros((ch, cw), np.float32)
        f, alpha = self.morph.fields(smile)
        u4 = self._u4
        u4[y0:y1, x0:x1] = f
        for (action, side), a in active:
            g = self.bank.field(action, side, a)
            u4[y0:y1, x0:x1, :2] += g
            u4[y0:y1, x0:x1, 2:] += g
        self._alpha[y0:y1, x0:x1] = alpha
        uv = cv2.remap(u4, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                       borderValue=0)
        a = cv2.remap(self._alpha, map_x, map_y, cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        neutral = cv2.remap(self._canvas, map_x + uv[..., 0], map_y + uv[..., 1],
                            cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        smiling = cv2.remap(self.identity.smile_canvas, map_x + uv[..., 2], map_y + uv[..., 3],
                            cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        a3 = a[:, :, None]
        out = neutral.astype(np.float32) * (1.0 - a3) + smiling.astype(np.float32) * a3
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)

    def frames(self, **switches: bool) -> Iterator[np.ndarray]:
        for n in range(self.plan.num_frames):
            yield self.frame(n, **switches)
