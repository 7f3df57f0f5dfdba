"""``python -m realtime bench``: options, their check, the run and where the report goes."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from realtime.bench.config import (
    DEFAULT_FRAMES,
    DEFAULT_LIVE_FPS,
    DEFAULT_LONG_FRAMES,
    DEFAULT_RUNS,
    DEFAULT_WARMUP,
    INT8_FILE,
    BenchConfig,
    BenchError,
    parse_size,
)
from realtime.cli.options import EXIT_ERROR, EXIT_OK, add_engine_options, quiet_logs
from realtime.vocab import option_error

# BenchConfig field -> the option that sets it (for error messages).
OPTION_NAMES = {"frames": "--frames", "runs": "--runs", "warmup_frames": "--warmup",
                "long_frames": "--long-frames", "live_frames": "--live-frames",
                "live_fps": "--live-fps", "threads": "--threads", "threshold": "--threshold"}


def _add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", type=Path, default=None, metavar="CLIP",
                        help="video file with one face (default: the built-in demo clip)")
    add_engine_options(parser, weights_metavar="DIR",
                       provider_help="ONNX Runtime device (cuda: error when CUDA is not usable)",
                       threads_help="CPU threads for ONNX Runtime and torch (default: physical "
                                    "cores)")


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES, metavar="N",
                        help=f"measured frames per run (default {DEFAULT_FRAMES})")
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, metavar="R",
                        help=f"runs per measurement, medians reported (default {DEFAULT_RUNS})")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, metavar="N",
                        help=f"untimed frames at the start of each run (default {DEFAULT_WARMUP})")
    parser.add_argument("--resize", default=None, metavar="WxH",
                        help="re-encode the clip at this size first (e.g. 640x480)")
    parser.add_argument("--long-frames", type=int, default=DEFAULT_LONG_FRAMES, metavar="N",
                        help=f"frames of the memory-growth run (default {DEFAULT_LONG_FRAMES}; "
                             "0: skip)")
    parser.add_argument("--live-frames", type=int, default=None, metavar="N",
                        help="frames of the simulated live camera run (default: one pass over "
                             "the clip; 0: skip)")
    parser.add_argument("--live-fps", type=float, default=DEFAULT_LIVE_FPS, metavar="FPS",
                        help=f"frame rate of the simulated live camera (default "
                             f"{DEFAULT_LIVE_FPS:g})")


def _add_comparison_and_output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--int8", default="auto", metavar="FILE|auto|none",
                        help=f"int8 backbone to compare (auto: WEIGHTS/{INT8_FILE} when present)")
    parser.add_argument("--checkpoint", type=Path, default=None, metavar="FILE.pt",
                        help="checkpoint for the PyTorch eager reference (default: a matching "
                             ".pt next to the graphs, else random weights; speed is the same)")
    parser.add_argument("--threshold", type=float, default=None, metavar="P",
                        help="the spotter's expression probability threshold (default: argmax); "
                             "e.g. to make a random-weight model fire so that event delays can "
                             "be measured (speed is unaffected)")
    parser.add_argument("--no-eager", action="store_true",
                        help="skip the PyTorch eager per-window reference")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="write all numbers as JSON")
    parser.add_argument("--md", type=Path, default=None, metavar="FILE",
                        help="write the Markdown tables")
    parser.add_argument("--png", type=Path, default=None, metavar="FILE",
                        help="write the latency histogram")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--faces", default=None, metavar="N,N,...",
                        help="instead of the single-face benchmark: the several-faces path "
                             "with these numbers of faces side by side (the clip tiled), "
                             "e.g. 1,2,4 (realtime.bench.faces; uses --frames, --warmup, "
                             "--runs, --json, --md)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The bench command's options (clip and engine, run lengths, comparisons, outputs)."""
    _add_engine_arguments(parser)
    _add_run_arguments(parser)
    _add_comparison_and_output_arguments(parser)


def _int8_choice(choice: str, weights: Path) -> Path | None:
    """``--int8``: auto (WEIGHTS/backbone_int8.onnx when there), none, or a file (as given,
    else in WEIGHTS); ValueError naming the option when the file is not there."""
    if choice == "auto":
        cand = weights / INT8_FILE
        return cand if cand.is_file() else None
    if choice == "none":
        return None
    int8 = Path(choice)
    if not int8.is_absolute() and not int8.is_file():
        int8 = weights / int8
    if not int8.is_file():
        raise ValueError(f"--int8: {choice} not found (in {weights} or as a path)")
    return int8


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """Turn parsed arguments into a validated :class:`BenchConfig` (ValueError naming the
    option when a setting is bad; DemoMissingError when there is no clip)."""
    from realtime.demo import demo_clip

    source = args.source if args.source is not None else demo_clip().video
    int8 = _int8_choice(str(args.int8), Path(args.weights))
    try:
        return BenchConfig(
            source=Path(source), weights=Path(args.weights), provider=args.provider,
            frames=args.frames, runs=args.runs, warmup_frames=args.warmup,
            resize=parse_size(args.resize) if args.resize else None, threads=args.threads,
            long_frames=args.long_frames, live_frames=args.live_frames, live_fps=args.live_fps,
            eager=not args.no_eager, checkpoint=args.checkpoint, int8=int8,
            threshold=args.threshold)
    except ValueError as exc:
        raise option_error(exc, OPTION_NAMES) from None


def _command_line() -> str:
    """The command as typed, for the report (``python -m realtime bench`` and its options)."""
    if len(sys.argv) > 2 and sys.argv[1] == "bench":
        return ("python -m realtime bench " + " ".join(sys.argv[2:])).strip()
    return "python -m realtime bench"


def _write(path: Path | None, text: str) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _run_faces(args: argparse.Namespace, say: Any) -> int:
    """``--faces``: the several-faces benchmark (realtime.bench.faces) instead of the rest."""
    from realtime.bench.faces import (
        FacesBenchConfig,
        format_faces_markdown,
        parse_face_counts,
        run_faces_bench,
    )
    from realtime.demo import demo_clip

    try:
        cfg = FacesBenchConfig(
            source=Path(args.source if args.source is not None else demo_clip().video),
            weights=Path(args.weights), provider=args.provider, threads=args.threads,
            counts=parse_face_counts(args.faces), frames=args.frames,
            warmup_frames=args.warmup, runs=args.runs)
        result = run_faces_bench(cfg, say, _command_line())
    except _bench_errors() as exc:
        print(f"error: {option_error(exc, OPTION_NAMES) if isinstance(exc, ValueError) else exc}",
              file=sys.stderr)
        return EXIT_ERROR
    md = format_faces_markdown(result)
    _write(args.json, json.dumps(result, indent=2) + "\n")
    _write(args.md, md)
    print(md)
    return EXIT_OK


def _bench_errors() -> tuple[type[BaseException], ...]:
    from realtime.contract import ContractError
    from realtime.demo import DemoMissingError
    from realtime.engine import EngineError
    from realtime.sources import SourceError

    return (BenchError, EngineError, ContractError, SourceError, DemoMissingError, ValueError)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark; print the Markdown, write the JSON/Markdown/PNG files asked for."""
    quiet_logs()
    from realtime.bench.report import format_markdown, write_histogram
    from realtime.bench.runner import run_bench
    from realtime.contract import ContractError
    from realtime.demo import DemoMissingError
    from realtime.engine import EngineError
    from realtime.sources import SourceError

    def say(text: str) -> None:
        if not args.quiet:
            print(text, file=sys.stderr, flush=True)

    if getattr(args, "faces", None) is not None:
        return _run_faces(args, say)
    try:
        cfg = config_from_args(args)
        result, latencies = run_bench(cfg, say, _command_line())
    except (BenchError, EngineError, ContractError, SourceError, DemoMissingError,
            ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    md = format_markdown(result)
    _write(args.json, json.dumps(result, indent=2) + "\n")
    _write(args.md, md)
    if args.png is not None:
        args.png.parent.mkdir(parents=True, exist_ok=True)
        write_histogram(result, latencies, args.png)
    print(md)
    return EXIT_OK
