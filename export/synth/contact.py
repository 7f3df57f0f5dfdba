"""The contact sheet of a generated dataset: each subject's neutral face, apex and change."""

from __future__ import annotations

import cv2
import numpy as np

from .render import Renderer
from .schedule import MACRO, MICRO, VideoPlan

TILE_PX = 112


def _face_tile(img: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return cv2.resize(img[y0:y1, x0:x1], (TILE_PX, TILE_PX), interpolation=cv2.INTER_AREA)


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    tile = tile.copy()
    cv2.putText(tile, text, (3, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 0, 0), 2, cv2.LINE_AA)
    cv2.putText(tile, text, (3, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (80, 255, 80), 1,
                cv2.LINE_AA)
    return tile


def contact_row(renderer: Renderer, subject: str) -> np.ndarray:
    """Neutral, then (apex, amplified |apex - neutral|) for a micro, a macro and a blink."""
    ident = renderer.identity
    lm = ident.landmarks_px - ident.margin_px
    cx, cy = lm.mean(0)
    half = 0.62 * float(lm[:, 1].max() - lm[:, 1].min())
    box = (int(max(0, cx - half)), int(max(0, cy - half)),
           int(min(ident.width_px, cx + half)), int(min(ident.height_px, cy + half)))
    neutral = renderer.frame(0, expressions=False, distractors=False, noise=False)
    tiles = [_label(_face_tile(neutral, box), f"{subject} neutral")]
    plan: VideoPlan = renderer.plan
    picks = []
    for kind in (MICRO, MACRO):
        e = next((e for e in plan.expressions if e.kind == kind), None)
        picks.append((kind, e.apex if e else None, e.prototype if e else "", True, False))
    blink = next((d for d in plan.distractors if d.kind == "blink"), None)
    picks.append(("blink", blink.start + int(blink.params["close_frames"]) - 1 if blink else None,
                  "", False, True))
    for kind, n, name, expr, dist in picks:
        if n is None:
            tiles += [np.zeros((TILE_PX, TILE_PX, 3), np.uint8)] * 2
            continue
        if dist:  # a blink alone: no pose, light or noise, only the blink itself
            acts = {k: a for k, a in renderer.actions_at(n, False, True).items()
                    if k[0] == "BLINK"}
            img = renderer.warp(acts, (0.0, 0.0, 0.0, 1.0))
        else:
            img = renderer.frame(n, expressions=expr, distractors=False, noise=False)
        diff = cv2.absdiff(img, neutral).astype(np.float32)
        gain = 8.0 if kind == MICRO else 4.0
        diff = np.clip(diff.max(axis=2) * gain, 0, 255).astype(np.uint8)
        tiles.append(_label(_face_tile(img, box), f"{kind} {n} {name}"[:24]))
        tiles.append(_label(_face_tile(cv2.cvtColor(diff, cv2.COLOR_GRAY2BGR), box),
                            f"|diff| x{gain:g}"))
    return np.hstack(tiles)


def stack_rows(rows: list[np.ndarray]) -> np.ndarray:
    width = max(r.shape[1] for r in rows)
    return np.vstack([np.pad(r, ((0, 2), (0, width - r.shape[1]), (0, 0))) for r in rows])
