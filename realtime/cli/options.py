"""Options and start-up shared by the live commands (``spot``, ``serve``, ``bench``, ``batch``).

The three commands take the same engine options, each with its own help text where the
meaning differs (``bench`` also runs torch on its threads):

- ``--weights DIR``: the folder of the exported ONNX graphs;
- ``--provider auto|cuda|cpu``: the ONNX Runtime device;
- ``--threads N``: CPU threads, checked by :func:`check_threads_option`;
- ``--max-faces N`` (``spot``, ``batch``): faces followed at once, :func:`max_faces_option`,
  and the spotter it means, :func:`follow_faces`.

:func:`quiet_logs` silences mediapipe/TFLite start-up chatter and OpenCV's own warnings (our
errors name the problem), unless the user set the variables already, and prints the warnings of
this project's own loggers as one ``warning: ...`` line each.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from realtime.vocab import MAX_THREADS, check_int

EXIT_OK = 0
EXIT_ERROR = 2
EXIT_OUTPUT_FAILED = 3  # the run finished, but an output (stdout, a file, the video) failed
EXIT_INTERRUPTED = 130
PROVIDERS = ("auto", "cuda", "cpu")
PROVIDER_HELP = "ONNX Runtime device (auto: CUDA when usable, else CPU)"
THREADS_HELP = "ONNX Runtime CPU threads (default: one per physical core)"


def add_weights_option(parser: argparse.ArgumentParser, *, metavar: str | None = None) -> None:
    """``--weights DIR`` (default: the shipped graphs, :data:`realtime.spotter.DEFAULT_WEIGHTS`)."""
    from realtime.spotter import DEFAULT_WEIGHTS

    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, metavar=metavar,
                        help=f"folder of the exported ONNX graphs (default: {DEFAULT_WEIGHTS})")


def add_provider_option(parser: argparse.ArgumentParser, *, help: str = PROVIDER_HELP) -> None:
    """``--provider auto|cuda|cpu`` (default auto)."""
    parser.add_argument("--provider", choices=PROVIDERS, default="auto", help=help)


def add_threads_option(parser: argparse.ArgumentParser, *, help: str = THREADS_HELP) -> None:
    """``--threads N`` (default None: the library's choice); check it with
    :func:`check_threads_option`."""
    parser.add_argument("--threads", type=int, default=None, metavar="N", help=help)


def add_engine_options(parser: argparse.ArgumentParser, *, provider_help: str = PROVIDER_HELP,
                       threads_help: str = THREADS_HELP, weights_metavar: str | None = None
                       ) -> None:
    """``--weights``, ``--provider`` and ``--threads`` in that order (one call for a command
    that lists them together)."""
    add_weights_option(parser, metavar=weights_metavar)
    add_provider_option(parser, help=provider_help)
    add_threads_option(parser, help=threads_help)


def check_threads_option(threads: int | None) -> int | None:
    """The parsed ``--threads``: None, or an int in [1, MAX_THREADS] (ValueError naming the
    option otherwise)."""
    if threads is None:
        return None
    return check_int("--threads", threads, 1, MAX_THREADS, what="")


def quiet_logs(verbose: bool = False) -> None:
    """Keep stderr to our own one-line messages: silence mediapipe/TFLite start-up logs,
    OpenCV's warnings and FFmpeg's own log (a half-delivered stream makes FFmpeg print a line
    per read attempt: 44 MB in 5 s), unless ``verbose`` or the user set the variables already.

    FFmpeg is silenced through OpenCV's ``OPENCV_FFMPEG_LOGLEVEL`` (-8 = AV_LOG_QUIET), read
    when OpenCV first opens a capture, so this works after ``import cv2`` too.
    """
    if not verbose:
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    import cv2

    cv2.setLogLevel(3 if verbose else 0)  # 3 = warnings
    own_warnings_as_lines()


@contextlib.contextmanager
def hush_native_stderr(enabled: bool = True) -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the block: native libraries (mediapipe's
    TFLite and absl start-up lines) write there directly, past Python. Keep the block short
    (building the detector, its first run): Python's own stderr is hushed as well meanwhile."""
    if not enabled:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (embedded, captured): nothing to hush
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def own_warnings_as_lines() -> None:
    """Warnings of the ``realtime`` and ``export`` loggers as ``warning: message`` on stderr
    (once per process; a handler the user configured on the root logger still gets them)."""
    for name in ("realtime", "export"):
        logger = logging.getLogger(name)
        if any(getattr(h, "_stsnet_lines", False) for h in logger.handlers):
            continue
        handler = logging.StreamHandler()
        handler.setLevel(logging.WARNING)
        handler.setFormatter(_LowerLevelFormatter())
        handler._stsnet_lines = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = logging.getLogger().hasHandlers()


class _LowerLevelFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


MAX_FACES_HELP = ("follow up to N faces at once, each with its own events (face_id 1, 2, ... "
                  "after the first face; default: all, up to 4); 1: the single-face path "
                  "(the tracked, else the largest face)")


def add_max_faces_option(parser: argparse.ArgumentParser, *, help: str = MAX_FACES_HELP) -> None:
    """``--max-faces N`` (default None: :data:`realtime.tracks.DEFAULT_MAX_FACES`); read it
    with :func:`max_faces_option`."""
    parser.add_argument("--max-faces", type=int, default=None, metavar="N", help=help)


def max_faces_option(value: int | None) -> int:
    """The parsed ``--max-faces``: the default bound when absent, else checked (ValueError
    naming the option)."""
    from realtime.tracks import DEFAULT_MAX_FACES, check_max_faces

    return DEFAULT_MAX_FACES if value is None else check_max_faces(value, "--max-faces")


def follow_faces(spotter: Any, max_faces: int) -> Any:
    """What spots a stream for ``--max-faces N``: ``spotter`` itself for 1 (the single-face
    path), else a :class:`~realtime.multiface.MultiSpotter` following up to N faces with it."""
    if max_faces == 1:
        return spotter
    from realtime.multiface import MultiSpotter

    return MultiSpotter(spotter, max_faces=max_faces)


# Post-processing fields named in errors -> the options that set them.
POSTPROCESS_OPTION_NAMES = {"merge_gap_frames": "--merge-gap",
                            "min_length_frames": "--min-length",
                            "expression_threshold": "--threshold"}


def add_postprocess_options(parser: argparse.ArgumentParser) -> None:
    """``--merge-gap``, ``--min-length``, ``--relabel/--no-relabel``, ``--threshold``: each,
    when absent, keeps the model's recommended setting (read from the graphs' contract)."""
    parser.add_argument("--merge-gap", type=int, default=None, metavar="N",
                        help="fill runs of up to N no-expression frames between equal "
                             "expressions (default: the model's recommended gap, converted "
                             "from seconds at the source's rate; the paper's is 1)")
    parser.add_argument("--min-length", type=int, default=None, metavar="N",
                        help="drop expression segments shorter than N frames (default: the "
                             "model's, usually 1)")
    parser.add_argument("--relabel", action=argparse.BooleanOptionalAction, default=None,
                        help="micro/macro from segment duration (<= 0.5 s is micro) instead "
                             "of the classifier (default: what the model recommends)")
    parser.add_argument("--threshold", default=None, metavar="P",
                        help="expression probability threshold in [0, 1], or 'argmax' "
                             "(default: the model's recommendation)")


def postprocess_choice(args: argparse.Namespace) -> object:
    """The :class:`~realtime.postprocess.PostprocessChoice` of the options; errors name them."""
    from realtime.postprocess import PostprocessChoice, parse_threshold_option
    from realtime.vocab import option_error

    try:
        return PostprocessChoice(merge_gap_frames=args.merge_gap,
                                 min_length_frames=args.min_length,
                                 relabel_by_duration=args.relabel,
                                 threshold=parse_threshold_option(args.threshold))
    except ValueError as exc:
        raise option_error(exc, POSTPROCESS_OPTION_NAMES) from None


def describe_choice(choice: object, recommended: object, fps: float) -> str:
    """One line: the post-processing a run uses and whether it is the model's own."""
    from realtime.postprocess import MODEL, PostprocessChoice, PostprocessSetting, describe_settings

    assert isinstance(choice, PostprocessChoice) and isinstance(recommended, PostprocessSetting)
    rate = fps if fps and fps > 0 else 30.0
    config, threshold = choice.resolve(recommended, rate)
    own = choice == PostprocessChoice(threshold=MODEL)
    where = (f"the model's recommendation, {recommended.chosen_on}" if own
             else "options over the model's recommendation")
    return (describe_settings(config, threshold, rate)
            + f", minimum length {config.min_length_frames} frame(s) ({where})")
