"""realtime.bench.config: BenchConfig refuses bad settings naming the field; its JSON form;
``--resize`` parsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from realtime.bench.config import BenchConfig, parse_size

BASE = {"source": Path("clip.mp4"), "weights": Path("weights")}


@pytest.mark.parametrize("field, value", [
    ("provider", "tpu"), ("frames", 7), ("frames", True), ("runs", 0), ("runs", 101),
    ("warmup_frames", -1), ("long_frames", 2.0), ("live_frames", -1), ("live_fps", 0.5),
    ("live_fps", float("nan")), ("threads", 0), ("threads", 257), ("threshold", 1.01),
    ("threshold", False), ("resize", (640,)), ("resize", (8, 480)), ("resize", (640.0, 480)),
])
def test_bad_settings_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"^{field} must be"):
        BenchConfig(**BASE, **{field: value})


def test_good_settings_and_their_json_form() -> None:
    cfg = BenchConfig(**BASE, provider="cpu", frames=8, runs=100, warmup_frames=0,
                      resize=(640, 480), threads=256, long_frames=0, live_frames=0,
                      live_fps=1000, checkpoint=Path("m.pt"), threshold=0)
    d = cfg.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["source"] == "clip.mp4" and d["checkpoint"] == "m.pt" and d["int8"] is None
    assert d["resize"] == [640, 480] and d["threads"] == 256 and d["eager"] is True
    assert list(d) == [f for f in BenchConfig.__dataclass_fields__]


@pytest.mark.parametrize("text, size", [("640x480", (640, 480)), ("320X240", (320, 240)),
                                        ("16*8192", (16, 8192))])
def test_parse_size(text: str, size: tuple[int, int]) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text, needle", [("640by480", "must look like 640x480"),
                                          ("640x480x3", "must look like 640x480"),
                                          ("15x480", "must be in [16, 8192]")])
def test_parse_size_refuses_naming_the_option(text: str, needle: str) -> None:
    with pytest.raises(ValueError, match=r"^--resize") as err:
        parse_size(text)
    assert needle in str(err.value)
