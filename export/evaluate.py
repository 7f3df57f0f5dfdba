"""``python -m export evaluate``: score spotted intervals with the MEGC 2020 metric.

Interval-file mode (torch-free)::

    python -m export evaluate --gt GT.csv --pred PRED.csv [--iou 0.5] [--json]

Both files have the columns ``subject,video,onset,offset,type`` (inclusive 0-based frames,
type micro/macro; extra columns are ignored). Prints a table shaped like the paper's Table 2, or
its JSON form with ``--json``.

Model mode (``--checkpoint``) lives in :mod:`export.evaluate_model`, imported only when asked
for, so this module never imports torch at import time.
"""

from __future__ import annotations

import argparse
import json
import sys

from realtime.metrics import IntervalFileError, format_table, read_intervals_csv, score


def add_arguments(parser: argparse.ArgumentParser) -> None:
    files = parser.add_argument_group("interval files")
    files.add_argument("--gt", metavar="CSV", help="ground-truth intervals "
                       "(subject,video,onset,offset,type)")
    files.add_argument("--pred", metavar="CSV", help="spotted intervals, same columns")
    parser.add_argument("--iou", type=float, default=0.5, metavar="R",
                        help="IoU threshold for a true positive, in (0, 1] (default 0.5, Eq. 8)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    model = parser.add_argument_group("model on videos (run() hands over to export.evaluate_model)")
    model.add_argument("--checkpoint", metavar="FILE", help="checkpoint to evaluate")
    model.add_argument("--data", metavar="ROOT", help="dataset root (with --checkpoint)")
    model.add_argument("--format", default="auto", choices=["auto", "casme2", "samm", "generic"])
    model.add_argument("--cache", default="cache", metavar="DIR", help="face-crop cache folder")
    model.add_argument("--subjects", default="", help="comma list: evaluate only these subjects")
    model.add_argument("--onnx", metavar="DIR",
                       help="run the exported graphs in DIR with ONNX Runtime instead of PyTorch")
    model.add_argument("--out", metavar="DIR",
                       help="write results.md/json, intervals CSVs and timeline PNGs here")


def _fail(message: str) -> int:
    print(f"evaluate: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    if getattr(args, "checkpoint", None):
        from export.evaluate_model import run_model_evaluation

        return run_model_evaluation(args)
    if not args.gt or not args.pred:
        return _fail("give --gt and --pred interval CSV files")
    if not (0.0 < args.iou <= 1.0):
        return _fail(f"--iou must be in (0, 1], got {args.iou}")
    try:
        gt = read_intervals_csv(args.gt)
        pred = read_intervals_csv(args.pred)
    except IntervalFileError as exc:
        return _fail(str(exc))
    result = score(gt, pred, iou_threshold=args.iou)
    if args.json:
        print(json.dumps(result.to_dict() | {"n_gt": len(gt), "n_pred": len(pred)}, indent=2))
    else:
        print(f"MEGC 2020 spotting, IoU >= {args.iou:g}: {len(gt)} ground-truth and "
              f"{len(pred)} spotted intervals\n")
        print(format_table(result))
    return 0
