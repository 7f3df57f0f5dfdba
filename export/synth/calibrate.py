"""Calibrated motion: every expression's peak displacement, measured on the 128-px face crop.

The network and the optical-flow peer see the face through the live half's crop
(:class:`realtime.face.FaceCropper`, 128x128), so motion is calibrated there: the crop box of a
video's rest frame gives the frame-to-crop scale, and an expression's *peak displacement* is the
largest pixel displacement its warp makes at the apex (for action units: the summed backward
field, whose peaks sit on the moved landmarks; for smile morphs: the largest landmark move).
Micro-expressions are scaled to the target drawn in the plan (about 0.35-1.4 px, the range
reported for real micro-expressions at a 128-px face); macro-expressions are raised to at least
``macro_min_peak_px`` (2.2 px).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .actions import LEVELS, FieldBank
from .morph import SmileMorph
from .schedule import MACRO, MICRO, Expression, PlanConfig, VideoPlan

CROP_PX = 128
MAX_AU_AMPLITUDE = LEVELS[-1]
MAX_MICRO_MORPH = 0.6


def crop_scale(rest_frame: np.ndarray, cropper=None) -> float:
    """Crop pixels per frame pixel: 128 / the side of the live cropper's box on this frame."""
    from realtime.face import FaceCropConfig, FaceCropper

    own = cropper is None
    cropper = cropper or FaceCropper(FaceCropConfig(crop_size=CROP_PX))
    try:
        cropper.reset()
        res = cropper.process(rest_frame)
    finally:
        if own:
            cropper.close()
    if res.box is None:
        raise ValueError("the live face cropper finds no face on the rest frame")
    x0, y0, x1, y1 = res.box
    return CROP_PX / float(max(x1 - x0, y1 - y0))


def au_peak_px(bank: FieldBank, aus: tuple[tuple[str, str, float], ...]) -> float:
    """Largest displacement (canvas px) of the summed action-unit fields at their amplitudes."""
    total = None
    for au, side, amp in aus:
        f = bank.field(au, side, amp)
        total = f.copy() if total is None else total + f
    if total is None:
        return 0.0
    return float(np.sqrt((total.astype(np.float64) ** 2).sum(axis=2)).max())


def _scaled(aus, k: float) -> tuple[tuple[str, str, float], ...]:
    return tuple((au, s, round(min(a * k, MAX_AU_AMPLITUDE), 4)) for au, s, a in aus)


def calibrate_expression(e: Expression, bank: FieldBank, morph: SmileMorph | None,
                         scale: float, cfg: PlanConfig) -> Expression:
    """The expression with amplitudes (or morph strength) set to its peak-displacement target,
    and ``peak_px`` the resulting measured peak on the crop."""
    if e.morph > 0:
        if morph is None:
            raise ValueError(f"expression {e.prototype} at {e.onset}: a smile morph needs a "
                             "paired identity")
        unit = morph.peak_displacement_px(1.0) * scale
        strength = e.morph
        if e.kind == MICRO:
            strength = min(e.peak_px / max(unit, 1e-6), MAX_MICRO_MORPH)
        return replace(e, morph=round(float(strength), 4),
                       peak_px=round(float(strength * unit), 4))
    aus = e.aus
    peak = au_peak_px(bank, aus) * scale
    for _ in range(3):  # fields are mildly nonlinear in amplitude: a few fixed-point steps
        if e.kind == MICRO:
            k = e.peak_px / max(peak, 1e-6)
        elif e.kind == MACRO and peak < cfg.macro_min_peak_px:
            k = 1.05 * cfg.macro_min_peak_px / max(peak, 1e-6)
        else:
            break
        if abs(k - 1.0) < 0.02:
            break
        aus = _scaled(aus, k)
        peak = au_peak_px(bank, aus) * scale
    return replace(e, aus=aus, peak_px=round(float(peak), 4))


def calibrate_plan(plan: VideoPlan, bank: FieldBank, morph: SmileMorph | None, scale: float,
                   cfg: PlanConfig) -> VideoPlan:
    """Every expression of a plan calibrated (see :func:`calibrate_expression`)."""
    return replace(plan, expressions=tuple(
        calibrate_expression(e, bank, morph, scale, cfg) for e in plan.expressions))
