"""The shared vocabulary: expression types, Interval, suffixes, natural sort, checks, options."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import realtime.vocab as V
from realtime.vocab import (
    EXPRESSION_TYPES,
    TABLE_ORDER,
    Interval,
    check_bool,
    check_choice,
    check_class_names,
    check_expression,
    check_fps,
    check_int,
    check_number,
    check_threads,
    natural_key,
    option_error,
    option_message,
)


def test_expression_orders() -> None:
    assert EXPRESSION_TYPES == ("micro", "macro")  # the model's class order
    assert TABLE_ORDER == ("macro", "micro")  # the paper's Table 2
    assert V.DEFAULT_CLASS_NAMES == ("none", *EXPRESSION_TYPES)


def test_vocab_imports_nothing_heavy() -> None:
    tree = ast.parse(Path(V.__file__).read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree)
                 if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= {"__future__", "numbers", "re", "collections", "dataclasses", "pathlib",
                        "typing"}


@pytest.mark.parametrize("names, order", [
    (["img10.png", "img2.png", "img1.png"], ["img1.png", "img2.png", "img10.png"]),
    (["B2", "a10", "a9"], ["a9", "a10", "B2"]),
    (["s10", "s9", "s1"], ["s1", "s9", "s10"]),
    (["a", "a1", "1a"], ["1a", "a", "a1"]),
])
def test_natural_key(names: list[str], order: list[str]) -> None:
    assert sorted(names, key=natural_key) == order
    assert sorted((Path("/x") / n for n in names), key=natural_key) == [Path("/x") / n
                                                                         for n in order]


def test_suffix_predicates() -> None:
    assert V.is_image_file("a/B.PNG") and not V.is_image_file("clip.mp4")
    assert V.is_video_file(Path("clip.MP4")) and not V.is_video_file("x.png")
    assert all(s.startswith(".") and s == s.lower() for s in V.IMAGE_SUFFIXES + V.VIDEO_SUFFIXES)


@pytest.mark.parametrize("value, low, high, kw, message", [
    (True, 0, None, {}, "n must be an int >= 0, got True"),
    (1.0, 0, None, {}, "n must be an int >= 0, got 1.0"),
    (-1, 0, None, {}, "n must be an int >= 0, got -1"),
    (65, 1, 64, {}, "n must be an int in [1, 64], got 65"),
    (None, 1, 64, {}, "n must be an int in [1, 64], got None"),
    (0, 1, None, {"optional": True}, "n must be None or an int >= 1, got 0"),
    (11, None, 10, {"note": "(0: off)"}, "n must be an int <= 10 (0: off), got 11"),
    ("3", None, None, {"what": "an int frame index"}, "n must be an int frame index, got '3'"),
])
def test_check_int_refuses(value: object, low: int | None, high: int | None,
                           kw: dict, message: str) -> None:
    with pytest.raises(ValueError) as info:
        check_int("n", value, low, high, **kw)
    assert str(info.value) == message


def test_check_int_accepts() -> None:
    assert check_int("n", 3, 0, 3) == 3
    value = check_int("n", np.int64(7), 0)
    assert value == 7 and type(value) is int
    assert check_int("n", None, optional=True) is None


@pytest.mark.parametrize("value, kw, message", [
    (float("nan"), {}, "x must be a number, got nan"),
    (float("inf"), {"low": 0}, "x must be a number >= 0, got inf"),
    (False, {}, "x must be a number, got False"),
    (0, {"low": 0, "low_open": True, "what": "a finite number"},
     "x must be a finite number > 0, got 0"),
    (1.0, {"low": 0, "high": 1, "high_open": True}, "x must be a number in [0, 1), got 1.0"),
    (6.0, {"low": 0.01, "high": 5.0}, "x must be a number in [0.01, 5.0], got 6.0"),
    ("0.5", {"optional": True, "low": 0, "high": 1, "what": "a probability"},
     "x must be None or a probability in [0, 1], got '0.5'"),
])
def test_check_number_refuses(value: object, kw: dict, message: str) -> None:
    with pytest.raises(ValueError) as info:
        check_number("x", value, **kw)
    assert str(info.value) == message


def test_check_number_accepts() -> None:
    assert check_number("x", 1, 0, 1) == 1.0
    assert check_number("x", np.float32(0.5), 0, 1, low_open=True, high_open=True) == 0.5
    assert check_number("x", None, optional=True) is None


def test_small_checks() -> None:
    assert check_bool("flag", True) is True
    with pytest.raises(ValueError, match="flag must be True or False, got 1"):
        check_bool("flag", 1)
    assert check_choice("mode", "cpu", ("auto", "cpu")) == "cpu"
    with pytest.raises(ValueError, match="mode must be one of auto, cpu, got 'gpu'"):
        check_choice("mode", "gpu", ("auto", "cpu"))
    assert check_threads(None) is None and check_threads(256) == 256
    for bad in (0, 257, True, 2.0):
        with pytest.raises(ValueError, match=r"threads must be None or an int in \[1, 256\]"):
            check_threads(bad)
    assert check_fps(30) == 30.0
    for bad in (0, -1, float("nan"), True, "30"):
        with pytest.raises(ValueError, match="fps must be a finite number > 0"):
            check_fps(bad)
    assert check_expression("type", "micro") == "micro"
    with pytest.raises(ValueError, match="type must be 'micro' or 'macro', got 'meso'"):
        check_expression("type", "meso")


@pytest.mark.parametrize("names, match", [
    (("none",), ">= 2 non-empty"),
    (("none", "micro", "micro"), "unique"),
    (("none", "meso"), r"class_names\[1:\]"),
    (("none", ""), "non-empty"),
])
def test_check_class_names(names: tuple[str, ...], match: str) -> None:
    assert check_class_names(["none", "macro"]) == ("none", "macro")
    with pytest.raises(ValueError, match=match):
        check_class_names(names)


def test_option_message_whole_words() -> None:
    options = {"frames": "--frames", "live_frames": "--live-frames", "threads": "--threads",
               "merge_gap_frames": "--merge-gap"}
    assert option_message("live_frames must be >= 0, got -1", options) \
        == "--live-frames must be >= 0, got -1"
    assert option_message("frames must be an int", options) == "--frames must be an int"
    assert option_message("merge_gap_frames must be an int >= 0", options) \
        == "--merge-gap must be an int >= 0"
    assert option_message("use --threads; threads must be", options) \
        == "use --threads; --threads must be"
    assert option_message("FaceCropConfig.frames x", {}) == "FaceCropConfig.frames x"
    err = option_error(ValueError("threads must be None"), options)
    assert isinstance(err, ValueError) and str(err) == "--threads must be None"


def test_interval() -> None:
    it = Interval("s1", "v1", 3, 7, "macro")
    assert it.length_frames == 5 and it.apex is None
    assert Interval("s1", "v1", 3, 3, "micro", apex=3).apex == 3
    assert type(Interval("s", "v", np.int64(1), np.int64(2), "micro").onset) is int
    assert it == Interval("s1", "v1", 3, 7, "macro")


@pytest.mark.parametrize("args, match", [
    ((0, 1, "meso"), "type must be 'micro' or 'macro'"),
    ((-1, 1, "micro"), "onset must be >= 0"),
    ((5, 4, "micro"), r"offset must be >= onset \(5\)"),
    ((1.0, 4, "micro"), "onset must be an int frame index"),
    ((1, True, "micro"), "offset must be an int frame index"),
])
def test_interval_refuses(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Interval("s", "v", *args)


def test_interval_apex_inside() -> None:
    with pytest.raises(ValueError, match=r"apex must lie in \[onset=2, offset=4\], got 5"):
        Interval("s", "v", 2, 4, "micro", apex=5)
    with pytest.raises(ValueError, match="apex must be an int frame index"):
        Interval("s", "v", 2, 4, "micro", apex=2.5)


@pytest.mark.parametrize("kwargs,match", [
    ({"onset": -1, "offset": 3}, "onset"),
    ({"onset": 5, "offset": 4}, "offset"),
    ({"onset": 1.5, "offset": 4}, "onset"),
    ({"onset": 1, "offset": 4, "type": "Micro"}, "type"),
])
def test_interval_validation(kwargs: dict, match: str) -> None:  # moved from test_metrics
    args = {"subject": "s", "video": "v", "type": "micro"} | kwargs
    with pytest.raises(ValueError, match=match):
        Interval(**args)


def test_empty_what_gives_just_the_range() -> None:
    with pytest.raises(ValueError) as info:
        check_int("--threads", 0, 1, 256, what="")
    assert str(info.value) == "--threads must be in [1, 256], got 0"
    with pytest.raises(ValueError) as info:
        check_number("t", 2, 0, 1, optional=True, what="")
    assert str(info.value) == "t must be None or in [0, 1], got 2"
