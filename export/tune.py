"""Post-processing chosen on validation subjects, applied once to the test subjects.

The paper fixes its post-processing (merge gap, duration relabelling); a model with a different
input may need another. This command predicts every validation and test video of a dataset with
its own ``split.csv`` once (the exported graphs through the live engine), scores a grid of merge
gaps, expression thresholds and duration relabelling on the **validation** subjects, and reports
the best setting's score on the **test** subjects next to the default setting's. The test split
never takes part in the choice.

``--into CHECKPOINT`` stores the chosen setting in the checkpoint's metadata
(``metadata["postprocess"]``, a :class:`realtime.postprocess.PostprocessSetting` with the gap in
seconds); ``python -m export onnx`` then writes it into the graphs' contract, and the live
engine (``spot``, the page, ``Spotter``) uses it unless the user overrides it.
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

from export.cachedir import cache_help, default_cache_dir
from export.datasets import DatasetError, read_split
from export.evaluate.predict import OnnxPredictor, predict_video
from export.model import ModelConfig
from export.videos import TrainVideo, load_videos
from realtime.metrics import score
from realtime.postprocess import (
    PostprocessConfig,
    PostprocessSetting,
    labels_from_probs,
    postprocess,
)
from realtime.vocab import Interval

GAPS = (1, 3, 6, 10, 15, 20, 30, 45, 60, 90)
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
    parser.add_argument("--cache", type=Path, default=None, help=cache_help())
    parser.add_argument("--json", type=Path, default=None, help="write the full result here")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="ONNX Runtime CPU threads (default: one per physical core)")
    parser.add_argument("--recommended", action="store_true",
                        help="choose nothing: score the graphs' own recommended setting (their "
                             "contract) on the test subjects (every video when the dataset has "
                             "no split.csv), e.g. an int8 backbone's gate or a check set")
    parser.add_argument("--on", default="test", choices=("test", "validation"),
                        help="with --recommended: the subjects to score (default test; "
                             "validation to compare variants, e.g. int8 calibrations, without "
                             "looking at test)")
    parser.add_argument("--into", type=Path, default=None, metavar="CHECKPOINT",
                        help="store the chosen setting in this checkpoint's metadata (export "
                             "the graphs again afterwards to carry it into their contract)")


def setting_of(best: Setting, fps: float, data: Path, n_subjects: int, f1: float
               ) -> PostprocessSetting:
    """The chosen grid point as a frame-rate-free setting with its provenance."""
    gap, threshold, relabel = best
    return PostprocessSetting(
        merge_gap_s=round(gap / fps, 4), relabel_by_duration=relabel,
        expression_threshold=threshold,
        chosen_on=(f"chosen on {n_subjects} validation subjects of {data.name} by export tune "
                   f"(validation overall F1 {f1:.3f})"))


def store(checkpoint: Path, setting: PostprocessSetting, result: dict[str, Any]) -> None:
    """Write the setting (and the scores behind it) into the checkpoint's metadata."""
    from export.checkpoint import update_metadata

    update_metadata(checkpoint, {"postprocess": setting.to_dict(),
                                 "postprocess_tuning": {k: result[k] for k in (
                                     "best_on_validation", "test_with_best", "test_default")}})


PAPER_SETTINGS: dict[str, Setting] = {"no_merging": (0, None, False),
                                      "merging": (1, None, False),
                                      "duration_relabel": (1, None, True)}


def _load(args: argparse.Namespace) -> tuple[OnnxPredictor, dict[str, str], list[TrainVideo]]:
    """Predictor, split and videos; ValueError/DatasetError/OSError on bad input."""
    split = read_split(args.data)
    predictor = OnnxPredictor(args.graphs, threads=args.threads)
    if args.into is not None:
        from export.checkpoint import CheckpointError, load_checkpoint

        try:
            load_checkpoint(args.into)  # refuse a bad --into before minutes of prediction
        except CheckpointError as exc:
            raise ValueError(f"--into: {exc}") from None
    cache = args.cache if args.cache is not None else default_cache_dir()
    videos, _ = load_videos(args.data, "generic", cache, ModelConfig(), progress=False,
                            transform=False)
    if args.recommended and not split:  # a check set: every video is scored
        split = {v.subject: "test" for v in videos}
    needed = {args.on} if args.recommended else {"validation", "test"}
    if not needed <= set(split.values()):
        raise DatasetError(f"{args.data}/split.csv needs {' and '.join(sorted(needed))} subjects"
                           + ("" if args.recommended else
                              " (--recommended scores a dataset without one in full)"))
    return predictor, split, videos


def _one_rate(videos: list[tuple[TrainVideo, np.ndarray]]) -> float:
    rates = {round(v.fps, 3) for v, _ in videos}
    if len(rates) != 1:
        raise ValueError(f"the videos have several frame rates {sorted(rates)}")
    return rates.pop()


def paper_columns(test: list[tuple[TrainVideo, np.ndarray]], names: tuple[str, ...]
                  ) -> dict[str, dict[str, Any]]:
    """The paper's three columns (Tables 2-4: no merging, merging G=1, duration relabel)."""
    return {k: score_setting(test, names, s) for k, s in PAPER_SETTINGS.items()}


def tuned_result(preds: dict[str, list[tuple[TrainVideo, np.ndarray]]], names: tuple[str, ...],
                 data: Path) -> tuple[dict[str, Any], PostprocessSetting]:
    """Choose on validation, score on test; the result dict and the chosen setting."""
    grid = list(itertools.product(GAPS, THRESHOLDS, (False, True)))
    ranked = choose(preds["validation"], names, grid)
    best = ranked[0][1]
    n_val = len({v.subject for v, _ in preds["validation"]})
    setting = setting_of(best, _one_rate(preds["validation"]), data, n_val, ranked[0][0])
    return {
        "best_on_validation": {"merge_gap_frames": best[0], "threshold": best[1],
                               "relabel_by_duration": best[2],
                               "validation": score_setting(preds["validation"], names, best)},
        "top5_on_validation": [[f1, *s] for f1, s in ranked[:5]],
        "test_with_best": score_setting(preds["test"], names, best),
        "test_default": score_setting(preds["test"], names, (1, None, False)),
        "setting": setting.to_dict(),
    }, setting


def recommended_result(preds: dict[str, list[tuple[TrainVideo, np.ndarray]]],
                       names: tuple[str, ...], setting: PostprocessSetting,
                       part: str = "test") -> dict[str, Any]:
    """The graphs' own recommended setting scored on ``part``'s subjects (no choice is made)."""
    fps = _one_rate(preds[part])
    point = (setting.merge_gap_frames(fps), setting.expression_threshold,
             setting.relabel_by_duration)
    return {"setting": setting.to_dict(), f"{part}_with_recommended":
            score_setting(preds[part], names, point)}


def _print_scores(result: dict[str, Any]) -> None:
    for key in ("test_with_best", "test_with_recommended", "validation_with_recommended",
                "test_default"):
        if key in result:
            sc = result[key]
            print(f"{key.replace('_', ' ')}: overall F1 {sc['overall']['f1']:.4f}, macro "
                  f"{sc['macro']['f1']:.4f}, micro {sc['micro']['f1']:.4f}")


def run(args: argparse.Namespace) -> int:
    try:
        predictor, split, videos = _load(args)
    except (DatasetError, ValueError, OSError) as exc:
        print(f"tune: error: {exc}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    if args.on != "test" and not args.recommended:
        print("tune: error: --on is for --recommended (a choice is always made on validation "
              "and scored on test)", file=sys.stderr)
        return 2
    parts = (args.on,) if args.recommended else ("validation", "test")
    preds: dict[str, list[tuple[TrainVideo, np.ndarray]]] = {p: [] for p in parts}
    for v in videos:
        part = split.get(v.subject)
        if part in preds:
            preds[part].append((v, predict_video(predictor, v.crops, v.valid)))
    names = predictor.class_names
    try:
        if args.recommended:
            result = recommended_result(preds, names, predictor.engine.contract.recommended,
                                        args.on)
        else:
            result, setting = tuned_result(preds, names, args.data)
    except ValueError as exc:
        print(f"tune: error: {exc}", file=sys.stderr)
        return 2
    result.update(graphs=str(args.graphs), predict_s=round(time.perf_counter() - t0, 1))
    if "test" in preds:
        result["test_paper"] = paper_columns(preds["test"], names)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    if args.into is not None and not args.recommended:
        store(args.into, setting, result)
        print(f"stored in {args.into}: {setting.to_dict()}")
    print("setting: " + PostprocessSetting.from_dict(result["setting"]).describe(30.0))
    _print_scores(result)
    return 0
