"""Post-processing chosen on validation subjects, applied once to the test subjects.

The paper fixes its post-processing (merge gap, duration relabelling); a model with a different
input may need another. This command predicts every validation and test video of a dataset with
its own ``split.csv`` once (the exported graphs through the live engine), scores a grid of merge
gaps, expression thresholds and duration relabelling on the **validation** subjects, and reports
the best setting's score on the **test** subjects next to the default setting's. The test split
never takes part in the choice.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from export.datasets import DatasetError, read_split
from export.evaluate.predict import OnnxPredictor, predict_video
from export.model import ModelConfig
from export.videos import TrainVideo, load_videos
from realtime.metrics import score
from realtime.postprocess import PostprocessConfig, labels_from_probs, postprocess
from realtime.vocab import Interval

GAPS = (1, 3, 6, 10, 15, 20, 30)
THRESHOLDS: tuple[float | None, ...] = (None, 0.4, 0.5, 0.6, 0.7)
Setting = tuple[int, float | None, bool]  # merge gap (frames), expression threshold, relabel


def score_setting(preds: list[tuple[TrainVideo, np.ndarray]], names: tuple[str, ...],
                  setting: Setting) -> dict[str, Any]:
    """MEGC score of ``preds`` (videos with their per-frame probabilities) under one setting."""
    gap, threshold, relabel = setting
    cfg = PostprocessConfig(merge_gap_frames=gap, relabel_by_duration=relabel)
    gt, spotted = [], []
    for v, p in preds:
        gt += [a.to_interval() for a in v.annotations]
        segs = postprocess(labels_from_probs(p, threshold), v.fps, cfg, names, probs=p)
        spotted += [Interval(v.subject, v.video, s.onset, s.offset, s.expression) for s in segs]
    return score(gt, spotted).to_dict()


def choose(val: list[tuple[TrainVideo, np.ndarray]], names: tuple[str, ...],
           grid: list[Setting]) -> list[tuple[float, Setting]]:
    """Every setting's overall F1 on the validation videos, best first."""
    ranked = [(score_setting(val, names, s)["overall"]["f1"], s) for s in grid]
    return sorted(ranked, key=lambda r: -r[0])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--graphs", required=True, type=Path, help="exported graph folder")
    parser.add_argument("--data", required=True, type=Path,
                        help="dataset root with a split.csv (train/validation/test)")
    parser.add_argument("--cache", type=Path, default=Path("cache"), help="face-crop cache")
    parser.add_argument("--json", type=Path, default=None, help="write the full result here")


def run(args: argparse.Namespace) -> int:
    try:
        split = read_split(args.data)
        if not {"validation", "test"} <= set(split.values()):
            raise DatasetError(f"{args.data}/split.csv needs validation and test subjects")
        predictor = OnnxPredictor(args.graphs)
        videos, _ = load_videos(args.data, "generic", args.cache, ModelConfig(), progress=False,
                                transform=False)
    except (DatasetError, ValueError, OSError) as exc:
        print(f"tune: error: {exc}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    preds = {"validation": [], "test": []}
    for v in videos:
        part = split.get(v.subject)
        if part in preds:
            preds[part].append((v, predict_video(predictor, v.crops, v.valid)))
    names = predictor.class_names
    grid = list(itertools.product(GAPS, THRESHOLDS, (False, True)))
    ranked = choose(preds["validation"], names, grid)
    best = ranked[0][1]
    result = {
        "graphs": str(args.graphs), "predict_s": round(time.perf_counter() - t0, 1),
        "best_on_validation": {"merge_gap_frames": best[0], "threshold": best[1],
                               "relabel_by_duration": best[2],
                               "validation": score_setting(preds["validation"], names, best)},
        "top5_on_validation": [[f1, *s] for f1, s in ranked[:5]],
        "test_with_best": score_setting(preds["test"], names, best),
        "test_default": score_setting(preds["test"], names, (1, None, False)),
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    t, d = result["test_with_best"], result["test_default"]
    print(f"chosen on validation: merge gap {best[0]} frames, threshold {best[1]}, "
          f"relabel {best[2]}")
    for name, sc in (("test, chosen setting", t), ("test, default setting", d)):
        print(f"{name}: overall F1 {sc['overall']['f1']:.4f}, macro {sc['macro']['f1']:.4f}, "
              f"micro {sc['micro']['f1']:.4f}")
    return 0
