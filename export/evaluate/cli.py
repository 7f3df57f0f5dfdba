"""The ``evaluate`` command line: interval files (torch-free) or a checkpoint on videos."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from export.cachedir import cache_help, default_cache_dir
from export.datasets import FORMATS
from realtime.metrics import IntervalFileError, format_table, read_intervals_csv, score


def add_arguments(parser: argparse.ArgumentParser) -> None:
    files = parser.add_argument_group("interval files")
    files.add_argument("--gt", metavar="CSV", help="ground-truth intervals "
                       "(subject,video,onset,offset,type)")
    files.add_argument("--pred", metavar="CSV", help="spotted intervals, same columns")
    parser.add_argument("--iou", type=float, default=0.5, metavar="R",
                        help="IoU threshold for a true positive, in (0, 1] (default 0.5, Eq. 8)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    model = parser.add_argument_group("model on videos")
    model.add_argument("--checkpoint", metavar="FILE", help="checkpoint to evaluate")
    model.add_argument("--data", metavar="ROOT", help="dataset root (with --checkpoint)")
    model.add_argument("--format", default="auto", choices=FORMATS)
    model.add_argument("--cache", default=default_cache_dir(), metavar="DIR", help=cache_help())
    model.add_argument("--subjects", default="", help="comma list: evaluate only these subjects")
    model.add_argument("--onnx", metavar="DIR",
                       help="run the exported graphs in DIR with ONNX Runtime instead of PyTorch")
    model.add_argument("--live", action="store_true",
                       help="with --onnx DIR --data ROOT (no checkpoint): decode every video "
                            "and run the live spotter on it (its face cropper, the graphs' "
                            "recommended post-processing, resampling of faster sources), as "
                            "`python -m realtime spot --source VIDEO` does; torch-free")
    model.add_argument("--out", metavar="DIR",
                       help="write results.md/json, intervals CSVs and timeline PNGs here")


def _fail(message: str) -> int:
    print(f"evaluate: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    if not (0.0 < args.iou <= 1.0):
        return _fail(f"--iou must be in (0, 1], got {args.iou}")
    if args.live:
        from export.evaluate.live import run_live

        return run_live(args)
    if args.checkpoint:
        return run_model(args)
    return run_intervals(args)


def run_intervals(args: argparse.Namespace) -> int:
    """``evaluate --gt GT.csv --pred PRED.csv [--iou R] [--json]``."""
    if not args.gt or not args.pred:
        return _fail("give --gt and --pred interval CSV files")
    try:
        gt = read_intervals_csv(args.gt)
        pred = read_intervals_csv(args.pred)
    except IntervalFileError as exc:
        return _fail(str(exc))
    problem = _video_mismatch(gt, pred)
    if problem is not None:
        return _fail(problem)
    result = score(gt, pred, iou_threshold=args.iou)
    if args.json:
        print(json.dumps(result.to_dict() | {"n_gt": len(gt), "n_pred": len(pred)}, indent=2))
    else:
        print(f"MEGC 2020 spotting, IoU >= {args.iou:g}: {len(gt)} ground-truth and "
              f"{len(pred)} spotted intervals\n")
        print(format_table(result))
    return 0


def _names(videos: set[tuple[str, str]], most: int = 3) -> str:
    shown = ", ".join(f"{s}/{v}" for s, v in sorted(videos)[:most])
    return shown + (f" and {len(videos) - most} more" if len(videos) > most else "")


def _video_mismatch(gt: list, pred: list) -> str | None:
    """An error when no spotted interval's video is a ground-truth video (a score of 0 that
    says nothing); a warning on stderr when only some are."""
    gt_v = {(i.subject, i.video) for i in gt}
    pred_v = {(i.subject, i.video) for i in pred}
    if pred_v and not pred_v & gt_v:
        return (f"no predicted video matches a ground-truth video (ground truth: "
                f"{_names(gt_v)}; predicted: {_names(pred_v)}); check the subject and video "
                "columns")
    if pred_v - gt_v:
        print(f"evaluate: warning: {len(pred_v - gt_v)} predicted video(s) have no ground truth "
              f"and count as false positives: {_names(pred_v - gt_v)}", file=sys.stderr)
    return None


def run_model(args: argparse.Namespace) -> int:
    """``evaluate --checkpoint FILE --data ROOT [--onnx DIR] [--out DIR]``."""
    from export.checkpoint import CheckpointError, model_from_checkpoint
    from export.evaluate.files import write_report
    from export.evaluate.predict import OnnxPredictor, Predictor, TorchPredictor, evaluate_videos
    from export.videos import load_videos
    from realtime.engine import EngineError

    try:
        model, _ = model_from_checkpoint(args.checkpoint)
        predictor: Predictor = TorchPredictor(model)
        if args.onnx:
            onnx = OnnxPredictor(Path(args.onnx))
            if onnx.input_transform != model.config.input_transform:
                raise ValueError(f"{args.onnx}: the graphs take "
                                 f"{onnx.input_transform.describe()} but {args.checkpoint} "
                                 f"takes {model.config.input_transform.describe()}; export "
                                 "them again")
            predictor = onnx
        videos, _ = load_videos(Path(args.data), args.format, Path(args.cache), model.config,
                                transform=not predictor.applies_input_transform)
    except (CheckpointError, EngineError, ValueError, FileNotFoundError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    subjects = [s for s in args.subjects.split(",") if s]
    if subjects:
        videos = [v for v in videos if v.subject in subjects]
    if not args.onnx:
        print("evaluate: running the model in PyTorch; --onnx DIR (graphs made by `python -m "
              "export onnx`) is 3-4x faster on a CPU", file=sys.stderr)
    report = evaluate_videos(predictor, videos, iou=args.iou, progress=sys.stderr.isatty())
    if args.out:
        write_report(report, Path(args.out))
    print(json.dumps(report.scores_dict(), indent=2) if args.json else report.table)
    return 0
