"""Overlay drawing for the spotter's video output and the Gradio page.

:func:`draw_overlay` is a pure function: a BGR frame plus what to show (face box, class
probabilities, a flash colour, a status line) in, an annotated copy out. :class:`Overlay` holds
the little state that spans frames: the last classified probabilities (the window's middle frame
lags the newest by (K - 1) / 2 frames, so the bars show the latest result until the next one or a
break) and the flash that marks each event for a few frames.

Torch-free: numpy and opencv only.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from realtime.vocab import check_int

if TYPE_CHECKING:
    from realtime.spotter import FrameOutput

# BGR colours.
EXPRESSION_COLORS: dict[str, tuple[int, int, int]] = {
    "micro": (255, 0, 255),  # magenta
    "macro": (0, 165, 255),  # orange
    "expression": (0, 215, 255),  # yellow (duration relabelling, type not known yet)
    "none": (160, 160, 160),
}
STATUS_COLORS: dict[str, tuple[int, int, int]] = {
    "ok": (0, 200, 0),
    "at_edge": (0, 215, 255),
    "too_small": (0, 0, 255),
    "unconfirmed": (128, 128, 128),  # a weak detection not yet confirmed: grey, not classified
}
# Layers of the overlay, each of which can be switched off (all are drawn by default).
LAYER_BOX, LAYER_LABEL, LAYER_BARS, LAYER_FLASH = "box", "label", "bars", "flash"
LAYERS = (LAYER_BOX, LAYER_LABEL, LAYER_BARS, LAYER_FLASH)
_TEXT = (255, 255, 255)
_SHADOW = (0, 0, 0)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _scale(image: np.ndarray) -> float:
    """Text scale that stays readable from 320x240 to 4K."""
    return float(np.clip(min(image.shape[:2]) / 720.0, 0.35, 2.0))


def _text(image: np.ndarray, text: str, org: tuple[int, int], scale: float,
          color: tuple[int, int, int] = _TEXT) -> None:
    thick = max(1, round(2 * scale))
    cv2.putText(image, text, org, _FONT, 0.6 * scale, _SHADOW, thick + 2, cv2.LINE_AA)
    cv2.putText(image, text, org, _FONT, 0.6 * scale, color, thick, cv2.LINE_AA)


def draw_face_box(image: np.ndarray, box: Sequence[int], status: str = "ok") -> None:
    """Draw the face crop box (x0, y0, x1, y1; x1/y1 exclusive) in place, coloured by status."""
    x0, y0, x1, y1 = (int(v) for v in box)
    color = STATUS_COLORS.get(status, (0, 200, 0))
    thick = max(1, round(2 * _scale(image)))
    cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), color, thick, cv2.LINE_8)
    if status != "ok":
        _text(image, status.replace("_", " "), (max(x0, 2), max(y0 - 6, 14)), _scale(image),
              color)


def draw_probability_bars(image: np.ndarray, class_names: Sequence[str],
                          probs: np.ndarray | None, label: str | None = None, *,
                          show_label: bool = True, show_bars: bool = True) -> None:
    """Draw the current label and one bar per class in the top-left corner, in place
    (``show_label``/``show_bars`` False leaves either out; the bars keep their place)."""
    s = _scale(image)
    x, y = round(10 * s), round(26 * s)
    head = "label: --" if label is None else f"label: {label}"
    if probs is not None and label in class_names:
        head += f" ({float(probs[list(class_names).index(label)]):.2f})"
    if show_label:
        _text(image, head, (x, y), s, EXPRESSION_COLORS.get(label or "", _TEXT))
    if probs is None or not show_bars:
        return
    bar_w, bar_h = round(140 * s), max(4, round(12 * s))
    for i, name in enumerate(class_names):
        top = y + round(10 * s) + i * (bar_h + round(8 * s))
        p = float(np.clip(probs[i], 0.0, 1.0)) if i < len(probs) else 0.0
        color = EXPRESSION_COLORS.get(name, (200, 200, 200))
        left = x + round(60 * s)
        cv2.rectangle(image, (left, top), (left + bar_w, top + bar_h), (60, 60, 60), -1)
        cv2.rectangle(image, (left, top), (left + round(bar_w * p), top + bar_h), color, -1)
        _text(image, name, (x, top + bar_h), s * 0.8)


def draw_flash(image: np.ndarray, color: tuple[int, int, int], caption: str | None = None,
               thickness_px: int | None = None) -> None:
    """Draw a coloured border (an event just happened) and an optional caption, in place."""
    h, w = image.shape[:2]
    t = thickness_px if thickness_px is not None else max(4, round(min(h, w) / 60))
    cv2.rectangle(image, (0, 0), (w - 1, h - 1), color, 2 * t)
    if caption:
        s = _scale(image)
        (tw, _), _ = cv2.getTextSize(caption, _FONT, 0.6 * s, max(1, round(2 * s)))
        _text(image, caption, (max((w - tw) // 2, t + 2), t + round(28 * s)), s, color)


def draw_status(image: np.ndarray, text: str) -> None:
    """Draw a small status line (fps, latency, provider) at the bottom left, in place."""
    s = _scale(image) * 0.8
    _text(image, text, (round(10 * s), image.shape[0] - round(12 * s)), s)


def draw_overlay(image: np.ndarray, *, box: Sequence[int] | None = None,
                 face_status: str | None = None, class_names: Sequence[str] = (),
                 probs: np.ndarray | None = None, label: str | None = None,
                 flash_color: tuple[int, int, int] | None = None,
                 flash_caption: str | None = None, status_text: str | None = None,
                 copy: bool = True, layers: Collection[str] = LAYERS) -> np.ndarray:
    """Return ``image`` (BGR uint8 HxWx3) annotated: face box, label and probability bars,
    event flash, status line. With ``copy=False`` the image is drawn on in place. ``layers``:
    which of :data:`LAYERS` to draw (the status line is always drawn when given)."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 \
            or image.dtype != np.uint8:
        got = (f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray)
               else type(image).__name__)
        raise ValueError(f"image must be a BGR uint8 HxWx3 array, got {got}")
    if isinstance(layers, str):
        raise ValueError(f"layers must be a collection of layer names (of {list(LAYERS)}), "
                         f"got the string {layers!r}")
    unknown = set(layers) - set(LAYERS)
    if unknown:
        raise ValueError(f"unknown overlay layers {sorted(unknown)}; valid: {list(LAYERS)}")
    out = image.copy() if copy else image
    show_box = LAYER_BOX in layers
    if show_box and box is not None:
        draw_face_box(out, box, face_status or "ok")
    elif show_box and face_status is not None:
        _text(out, face_status.replace("_", " "), (round(10 * _scale(out)),
                                                    round(60 * _scale(out))), _scale(out),
              (0, 0, 255))
    if class_names and (LAYER_LABEL in layers or LAYER_BARS in layers):
        draw_probability_bars(out, class_names, probs, label,
                              show_label=LAYER_LABEL in layers, show_bars=LAYER_BARS in layers)
    if flash_color is not None and LAYER_FLASH in layers:
        draw_flash(out, flash_color, flash_caption)
    if status_text:
        draw_status(out, status_text)
    return out


class Overlay:
    """Frame-to-frame overlay state: last probabilities and the event flash.

    class_names: the model's class order. flash_frames: how many frames an event's border stays.
    Call :meth:`draw` once per frame with that frame's :class:`~realtime.spotter.FrameOutput`.
    """

    def __init__(self, class_names: Sequence[str], flash_frames: int = 8) -> None:
        self.class_names = tuple(class_names)
        self.flash_frames = check_int("flash_frames", flash_frames, 0, 1000)
        self.reset()

    def reset(self) -> None:
        self.probs: np.ndarray | None = None
        self.label: str | None = None
        self.flash_left = 0
        self.flash_color: tuple[int, int, int] | None = None
        self.flash_caption: str | None = None

    def update(self, output: FrameOutput | Any) -> None:
        """Take in one frame's output: new probabilities, breaks and events."""
        if output.break_reason is not None:
            self.probs, self.label = None, None
        if output.probs is not None:
            self.probs, self.label = output.probs, output.label
        if self.flash_left > 0:
            self.flash_left -= 1
        for event in output.events:
            self.flash_left = self.flash_frames
            self.flash_color = EXPRESSION_COLORS.get(event.expression, (255, 255, 255))
            if event.kind == "onset":
                self.flash_caption = f"{event.expression} onset @ {event.onset_frame}"
            else:
                self.flash_caption = (f"{event.expression} {event.onset_frame}-"
                                      f"{event.offset_frame}"
                                      + (" (cut short)" if event.cut_short else ""))

    @property
    def flashing(self) -> bool:
        return self.flash_left > 0

    def draw(self, image: np.ndarray, output: FrameOutput | Any | None = None,
             status_text: str | None = None, copy: bool = True,
             layers: Collection[str] = LAYERS) -> np.ndarray:
        """Update with ``output`` (when given) and return the annotated frame (``layers``:
        see :func:`draw_overlay`; the flash counts down whether drawn or not)."""
        if output is not None:
            self.update(output)
        face = None if output is None else output.face
        return draw_overlay(
            image, box=None if face is None else face.box,
            face_status=None if output is None else output.face_status,
            class_names=self.class_names, probs=self.probs, label=self.label,
            flash_color=self.flash_color if self.flashing else None,
            flash_caption=self.flash_caption if self.flashing else None,
            status_text=status_text, copy=copy, layers=layers)


# -- several faces ---------------------------------------------------------------------------
# One colour per face id (BGR), cycling; none of them is an expression or a status colour.
FACE_COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 170, 0),  # azure
    (80, 220, 80),  # green
    (200, 120, 255),  # pink
    (255, 255, 0),  # cyan
    (60, 60, 230),  # red
    (255, 255, 255),  # white
)


def face_color(face_id: int | None) -> tuple[int, int, int]:
    """The colour of a face id (grey for a face not yet confirmed)."""
    return (128, 128, 128) if face_id is None else FACE_COLORS[face_id % len(FACE_COLORS)]


def draw_face_tag(image: np.ndarray, box: Sequence[int], face_id: int | None, caption: str,
                  *, flash: bool = False, show_box: bool = True) -> None:
    """Draw one face's box in its id's colour with a caption above it, in place (a thicker
    box while an event of that face flashes; ``show_box`` False: the caption only)."""
    x0, y0, x1, y1 = (int(v) for v in box)
    color = face_color(face_id)
    s = _scale(image)
    thick = max(1, round((5 if flash else 2) * s))
    if show_box:
        cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), color, thick, cv2.LINE_8)
    _text(image, caption, (max(x0, 2), max(y0 - round(8 * s), round(16 * s))), s, color)


class FacesOverlay:
    """Overlay state of several faces (:class:`~realtime.multiface.MultiSpotter`): per face
    id its last label and event flash; each face drawn in its own colour with its id, label
    and probability, and a caption naming the face on each event."""

    def __init__(self, class_names: Sequence[str], flash_frames: int = 8) -> None:
        self.class_names = tuple(class_names)
        self.flash_frames = check_int("flash_frames", flash_frames, 0, 1000)
        self._faces: dict[int | None, Overlay] = {}

    def reset(self) -> None:
        self._faces = {}

    def _caption(self, face_id: int | None, state: Overlay, status: str,
                 layers: Collection[str] = LAYERS) -> str:
        name = "face ?" if face_id is None else f"face {face_id}"
        if state.flashing and state.flash_caption and LAYER_FLASH in layers:
            return f"{name}: {state.flash_caption}"
        text = name if state.label is None or LAYER_LABEL not in layers \
            else f"{name}: {state.label}"
        if text != name and state.probs is not None and state.label in self.class_names:
            text += f" {float(state.probs[self.class_names.index(state.label)]):.2f}"
        return text if status == "ok" else f"{text} ({status.replace('_', ' ')})"

    def draw(self, image: np.ndarray, output: Any, status_text: str | None = None,
             copy: bool = True, layers: Collection[str] = LAYERS) -> np.ndarray:
        """Update with one :class:`~realtime.multiface.MultiFrameOutput` and return the
        annotated frame (BGR uint8 HxWx3). ``layers`` (see :func:`draw_overlay`): "box" the
        faces' boxes, "label" the label and probability in each caption, "flash" the event
        captions and thicker boxes; the face id is shown while "box" or "label" is on (each
        face's probability is in its caption: there are no bars)."""
        out = draw_overlay(image, copy=copy, layers=layers)  # checks both; draws nothing
        tagged = LAYER_BOX in layers or LAYER_LABEL in layers
        for face in output.faces:
            state = self._faces.get(face.face_id)
            if state is None:
                state = self._faces[face.face_id] = Overlay(self.class_names, self.flash_frames)
            state.update(face.output)
            if face.output.box is not None and tagged:
                caption = self._caption(face.face_id, state, face.output.face_status, layers)
                draw_face_tag(out, face.output.box, face.face_id, caption,
                              flash=state.flashing and LAYER_FLASH in layers,
                              show_box=LAYER_BOX in layers)
        if status_text:
            draw_status(out, status_text)
        return out
