"""Overlay drawing: pure function leaves its input alone, box/bars/flash/status land where
promised, and the flash state lasts exactly flash_frames frames."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest

from realtime.events import Event
from realtime.overlay import EXPRESSION_COLORS, STATUS_COLORS, Overlay, draw_overlay

CLASSES = ("none", "micro", "macro")


def gray(h: int = 240, w: int = 320) -> np.ndarray:
    return np.full((h, w, 3), 50, np.uint8)


def event(kind: str = "onset", expression: str = "micro") -> Event:
    if kind == "onset":
        return Event("onset", expression, 10, None, 11, 0.3, None, None, 0.8, 0.7)
    return Event("segment", expression, 10, 14, 12, 0.3, 0.47, 5 / 30, 0.8, 0.7, cut_short=True)


@dataclass
class Out:
    """Stand-in for a spotter FrameOutput (the overlay reads these fields only)."""

    face: object = None
    face_status: str = "ok"
    probs: np.ndarray | None = None
    label: str | None = None
    events: tuple = ()
    break_reason: str | None = None


def test_draw_overlay_returns_an_annotated_copy() -> None:
    image = gray()
    before = image.copy()
    out = draw_overlay(image, box=(100, 60, 200, 160), face_status="ok", class_names=CLASSES,
                       probs=np.array([0.1, 0.7, 0.2]), label="micro", status_text="30 fps")
    np.testing.assert_array_equal(image, before)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert not np.array_equal(out, image)
    # The box outline is drawn in the status colour, its inside left alone.
    assert tuple(out[110, 100]) == STATUS_COLORS["ok"]
    np.testing.assert_array_equal(out[110, 150], image[110, 150])
    # Status line: something drawn near the bottom-left corner.
    assert (out[-20:, :120] != 50).any()


def test_in_place_drawing() -> None:
    image = gray()
    out = draw_overlay(image, box=(10, 10, 50, 50), copy=False)
    assert out is image and tuple(image[30, 10]) == STATUS_COLORS["ok"]


def test_probability_bars_follow_the_probabilities() -> None:
    low = draw_overlay(gray(), class_names=CLASSES, probs=np.array([0.9, 0.05, 0.05]),
                       label="none")
    high = draw_overlay(gray(), class_names=CLASSES, probs=np.array([0.05, 0.9, 0.05]),
                        label="micro")
    micro = np.array(EXPRESSION_COLORS["micro"], np.uint8)
    assert (high == micro).all(axis=2).sum() > 3 * max((low == micro).all(axis=2).sum(), 1)


def test_flash_border_colour() -> None:
    out = draw_overlay(gray(), flash_color=EXPRESSION_COLORS["macro"], flash_caption="macro")
    for y, x in ((0, 0), (0, 160), (239, 319), (120, 0)):
        assert tuple(out[y, x]) == EXPRESSION_COLORS["macro"]


@pytest.mark.parametrize("bad", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32),
                                 "frame"])
def test_draw_overlay_rejects_non_bgr_images(bad) -> None:
    with pytest.raises(ValueError, match="BGR uint8"):
        draw_overlay(bad)


def test_overlay_flash_lasts_flash_frames_and_bars_persist_until_a_break() -> None:
    ov = Overlay(CLASSES, flash_frames=3)
    probs = np.array([0.2, 0.5, 0.3])
    face = SimpleNamespace(box=(100, 60, 200, 160))
    ov.draw(gray(), Out(face=face, probs=probs, label="micro", events=(event(),)))
    assert ov.flashing and ov.flash_color == EXPRESSION_COLORS["micro"]
    assert "onset" in ov.flash_caption
    frames = [ov.draw(gray(), Out(face=face)) for _ in range(3)]
    assert [tuple(f[0, 0]) == EXPRESSION_COLORS["micro"] for f in frames] == [True, True, False]
    assert ov.label == "micro" and ov.probs is probs  # kept between classified frames
    ov.draw(gray(), Out(face=None, face_status="no_face", break_reason="no_face",
                        events=(event("segment", "macro"),)))
    assert ov.probs is None and ov.label is None
    assert ov.flash_color == EXPRESSION_COLORS["macro"] and "cut short" in ov.flash_caption


def test_overlay_rejects_bad_flash_frames() -> None:
    with pytest.raises(ValueError, match="flash_frames"):
        Overlay(CLASSES, flash_frames=-1)


def test_each_overlay_layer_can_be_left_out() -> None:
    """Issue 15: the page's toggles. Each layer off leaves its pixels alone; none at all
    leaves the frame untouched; the default draws everything."""
    def draw(layers=None) -> np.ndarray:
        kwargs = {} if layers is None else {"layers": layers}
        return draw_overlay(gray(), box=(100, 60, 200, 160), face_status="ok",
                            class_names=CLASSES, probs=np.array([0.1, 0.7, 0.2]),
                            label="micro", flash_color=(0, 0, 255), flash_caption="micro 1-5",
                            **kwargs)

    everything = draw()
    np.testing.assert_array_equal(everything, draw(("box", "label", "bars", "flash")))
    np.testing.assert_array_equal(draw(()), gray())
    assert tuple(draw(("box",))[110, 100]) == STATUS_COLORS["ok"]
    assert tuple(draw(("label", "bars", "flash"))[110, 100]) == (50, 50, 50)
    assert tuple(draw(("flash",))[0, 160]) == (0, 0, 255)
    assert tuple(draw(("box", "label", "bars"))[0, 160]) == (50, 50, 50)
    label_only, bars_only = draw(("label",)), draw(("bars",))
    top, bars = (slice(0, 12), slice(0, 120)), (slice(13, 32), slice(30, 90))  # at 240 px
    assert (label_only[top] != 50).any() and (label_only[bars] == 50).all()
    assert (bars_only[bars] != 50).any() and (bars_only[top] == 50).all()


@pytest.mark.parametrize("layers", [("box", "halo"), "box"])
def test_unknown_overlay_layers_are_refused(layers) -> None:
    with pytest.raises(ValueError, match="layer"):
        draw_overlay(gray(), layers=layers)
