"""The shared vocabulary of both halves: expression types, the interval type, file suffixes,
natural sort, argument checks and option-name error messages.

Everything here is pure Python (no numpy, no OpenCV) so that any module, live or training,
may import it without cost or cycle. One definition per thing:

- expression types in the model's class order (``none, micro, macro``); tables print macro
  first (:data:`TABLE_ORDER`, the paper's Table 2);
- :class:`Interval`, the one inclusive frame range of one video that the metric scores and the
  datasets annotate (``Event.to_interval``, ``Segment.to_interval`` convert to it);
- the image and video file suffixes that sources, datasets and the page accept;
- bool-safe checks of ints, numbers, flags, choices and thread counts whose messages name the
  argument and its valid range (``"threads must be None or an int in [1, 256], got 0"``);
- :func:`option_error`, which rewrites a config field's name into the command-line option that
  set it, so a command-line user reads ``--merge-gap must be ...``.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Literal, overload

# ----------------------------------------------------------------------------- expressions

ExpressionType = Literal["micro", "macro"]
MICRO: ExpressionType = "micro"
MACRO: ExpressionType = "macro"
NO_EXPRESSION = "none"  # class 0 of every model
EXPRESSION_TYPES: tuple[ExpressionType, ...] = (MICRO, MACRO)  # the model's class order
TABLE_ORDER: tuple[ExpressionType, ...] = (MACRO, MICRO)  # column order of reports (Table 2)
DEFAULT_CLASS_NAMES: tuple[str, ...] = (NO_EXPRESSION, MICRO, MACRO)

# ----------------------------------------------------------------------------- files

IMAGE_SUFFIXES: tuple[str, ...] = (".bmp", ".jpeg", ".jpg", ".pgm", ".png", ".ppm", ".tif",
                                   ".tiff", ".webp")
VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg",
                                   ".mpeg", ".wmv", ".flv", ".ogv", ".y4m")

MAX_THREADS = 256  # the largest thread count any command accepts


def natural_key(name: str | PurePath) -> tuple[tuple[int, int, str], ...]:
    """Sort key that puts ``img2`` before ``img10`` (datasets number frames without padding).

    A path sorts by its file name; letters compare case-insensitively, digit runs as numbers.
    """
    text = name.name if isinstance(name, PurePath) else str(name)
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part.lower())
                 for part in re.split(r"(\d+)", text) if part)


def is_image_file(path: str | PurePath) -> bool:
    """Whether the name ends in one of :data:`IMAGE_SUFFIXES` (any case)."""
    return PurePath(path).suffix.lower() in IMAGE_SUFFIXES


def is_video_file(path: str | PurePath) -> bool:
    """Whether the name ends in one of :data:`VIDEO_SUFFIXES` (any case)."""
    return PurePath(path).suffix.lower() in VIDEO_SUFFIXES


# ----------------------------------------------------------------------------- argument checks


def _bound(value: float) -> str:
    return str(value)


def _range_text(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return (f" in {'(' if low_open else '['}{_bound(low)}, "
                f"{_bound(high)}{')' if high_open else ']'}")
    if low is not None:
        return f" {'>' if low_open else '>='} {_bound(low)}"
    if high is not None:
        return f" {'<' if high_open else '<='} {_bound(high)}"
    return ""


def _fail(name: str, value: Any, what: str, optional: bool, note: str) -> ValueError:
    valid = " ".join(f"{'None or ' if optional else ''}{what} {note}".split())
    return ValueError(f"{name} must be {valid}, got {value!r}")


def is_int(value: Any) -> bool:
    """An integer that is not a bool (numpy integers count)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A real number that is not a bool (ints, floats, numpy scalars count; NaN too)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@overload
def check_int(name: str, value: Any, low: int | None = ..., high: int | None = ..., *,
              optional: Literal[False] = ..., what: str = ..., note: str = ...) -> int: ...
@overload
def check_int(name: str, value: Any, low: int | None = ..., high: int | None = ..., *,
              optional: Literal[True], what: str = ..., note: str = ...) -> int | None: ...
def check_int(name: str, value: Any, low: int | None = None, high: int | None = None, *,
              optional: bool = False, what: str = "an int", note: str = "") -> int | None:
    """``value`` as an int in ``[low, high]`` (either bound may be None); bools are refused.

    ``optional`` also accepts None; ``what`` names the kind in the message ("an int frame
    index"; "" for just the range), ``note`` is appended to it ("(0: skip)"). Raises ValueError
    naming ``name``.
    """
    if value is None and optional:
        return None
    ok = is_int(value) and (low is None or value >= low) and (high is None or value <= high)
    if not ok:
        raise _fail(name, value, what + _range_text(low, high, False, False), optional, note)
    return int(value)


@overload
def check_number(name: str, value: Any, low: float | None = ..., high: float | None = ..., *,
                 low_open: bool = ..., high_open: bool = ..., optional: Literal[False] = ...,
                 what: str = ..., note: str = ...) -> float: ...
@overload
def check_number(name: str, value: Any, low: float | None = ..., high: float | None = ..., *,
                 low_open: bool = ..., high_open: bool = ..., optional: Literal[True],
                 what: str = ..., note: str = ...) -> float | None: ...
def check_number(name: str, value: Any, low: float | None = None, high: float | None = None, *,
                 low_open: bool = False, high_open: bool = False, optional: bool = False,
                 what: str = "a number", note: str = "") -> float | None:
    """``value`` as a finite float within the bounds (``low_open``/``high_open``: exclusive).

    Bools, NaN and infinities are refused; messages as :func:`check_int`.
    """
    if value is None and optional:
        return None
    ok = is_number(value) and abs(float(value)) < float("inf")  # NaN fails both tests below
    if ok:
        v = float(value)
        ok = v == v and (low is None or (v > low if low_open else v >= low)) and (
            high is None or (v < high if high_open else v <= high))
    if not ok:
        raise _fail(name, value, what + _range_text(low, high, low_open, high_open), optional,
                    note)
    return float(value)


def check_bool(name: str, value: Any) -> bool:
    """``value`` when it is True or False (not 0/1, not a string); ValueError otherwise."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` when it is one of ``choices``; the message lists them."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def check_threads(value: Any, name: str = "threads") -> int | None:
    """A CPU thread count: None (the library's default) or an int in [1, MAX_THREADS]."""
    return check_int(name, value, 1, MAX_THREADS, optional=True)


def check_fps(fps: Any, name: str = "fps") -> float:
    """A frame rate: a finite number > 0."""
    return check_number(name, fps, 0, low_open=True, what="a finite number")


def check_class_names(class_names: Iterable[str]) -> tuple[str, ...]:
    """Validate a model's class order: class 0 is "no expression", the others micro and/or
    macro, each once."""
    names = tuple(class_names)
    if len(names) < 2 or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"class_names must be >= 2 non-empty strings, got {names!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"class_names must be unique, got {names!r}")
    if any(n not in EXPRESSION_TYPES for n in names[1:]):
        raise ValueError(f"class_names[1:] must each be 'micro' or 'macro' (class 0 is the "
                         f"no-expression class), got {names!r}")
    return names


def check_expression(name: str, value: Any) -> ExpressionType:
    """``value`` when it is "micro" or "macro"."""
    if value not in EXPRESSION_TYPES:
        raise ValueError(f"{name} must be 'micro' or 'macro', got {value!r}")
    return value  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------- option names


def option_message(message: str, options: Mapping[str, str]) -> str:
    """``message`` with each whole-word config field name replaced by its option.

    ``options`` maps field names to options, e.g. ``{"merge_gap_frames": "--merge-gap"}``;
    a name inside a longer identifier (``live_frames`` for ``frames``) or an option already
    written out (``--threads``) is left alone.
    """
    if not options:
        return message
    names = sorted(options, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, names)) + r")(?![\w-])")
    return pattern.sub(lambda m: options[m.group(1)], message)


def option_error(exc: BaseException, options: Mapping[str, str]) -> ValueError:
    """A ValueError saying what ``exc`` says, in command-line option names (raise it
    ``from None``: the field names were an implementation detail)."""
    return ValueError(option_message(str(exc), options))


# ----------------------------------------------------------------------------- intervals


@dataclass(frozen=True)
class Interval:
    """One expression interval: inclusive 0-based frames ``onset..offset`` of one video.

    What the MEGC metric scores and what datasets annotate. ``apex`` (the peak frame, within
    the interval) is kept where the annotation has one; scoring ignores it. Convert other
    shapes with ``Event.to_interval`` and ``Segment.to_interval``.
    """

    subject: str
    video: str
    onset: int
    offset: int
    type: ExpressionType
    apex: int | None = None

    def __post_init__(self) -> None:
        check_expression("type", self.type)
        for name in ("onset", "offset"):
            object.__setattr__(self, name, check_int(name, getattr(self, name),
                                                     what="an int frame index"))
        if self.onset < 0:
            raise ValueError(f"onset must be >= 0, got {self.onset}")
        if self.offset < self.onset:
            raise ValueError(f"offset must be >= onset ({self.onset}), got {self.offset}")
        if self.apex is not None:
            apex = check_int("apex", self.apex, what="an int frame index")
            if not self.onset <= apex <= self.offset:
                raise ValueError(f"apex must lie in [onset={self.onset}, offset={self.offset}],"
                                 f" got {apex}")
            object.__setattr__(self, "apex", apex)

    @property
    def length_frames(self) -> int:
        """Frames covered, both ends included."""
        return self.offset - self.onset + 1
