"""``python -m export baseline``: training-free spotters on the same face crops as the model.

``--method framediff`` (the default): the block frame-difference baseline (:mod:`.framediff`).
``--method offd``: the optical-flow peer (:mod:`.offd`): landmark-anchored regions, DIS flow,
head-motion compensation, blink masking; its two thresholds are fitted on the training subjects
only (``--fit-split train`` of a SynthME2 dataset's ``split.csv``, or ``--fit-subjects``) and it
is scored on ``--split``/``--subjects``. Both print the paper-style table.

    python -m export baseline --data data/synthme2_30 --split test
    python -m export baseline --method offd --data data/synthme2_30 --split test
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from export.cachedir import cache_help, default_cache_dir

from .framediff import BaselineConfig, evaluate_baseline, motion_signal, spot_video
from .offd import (
    VARIANTS,
    OffdConfig,
    VideoSignals,
    false_alarms,
    fit_thresholds,
    score_signals,
    video_signals,
)

__all__ = ["BaselineConfig", "motion_signal", "spot_video", "evaluate_baseline", "OffdConfig",
           "video_signals", "fit_thresholds", "score_signals", "read_split", "add_arguments",
           "run"]


def read_split(data: Path) -> dict[str, str]:
    """subject -> split from a dataset's ``split.csv`` (SynthME2); empty when there is none."""
    path = Path(data) / "split.csv"
    if not path.is_file():
        return {}
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and not {"subject", "split"} <= set(rows[0]):
        raise ValueError(f"{path}: needs the columns subject,split")
    return {r["subject"]: r["split"] for r in rows}


def _names(text: str) -> list[str]:
    return [s for s in (text or "").split(",") if s]


def choose_subjects(all_subjects: set[str], split: dict[str, str], names: str,
                    split_name: str, what: str) -> set[str]:
    """Subjects named by a comma list and/or a split name (``what`` names the option)."""
    wanted = set(_names(names))
    unknown = sorted(wanted - all_subjects)
    if unknown:
        raise ValueError(f"{what}: unknown subjects {unknown}")
    if split_name:
        if not split:
            raise ValueError(f"{what}: split {split_name!r} asked, but the dataset has no "
                             "split.csv (name the subjects instead)")
        in_split = {s for s, sp in split.items() if sp == split_name} & all_subjects
        if not in_split:
            valid = sorted(set(split.values()))
            raise ValueError(f"{what}: no subject in split {split_name!r} (splits: {valid})")
        wanted |= in_split
    return wanted


def fit_subjects(args: argparse.Namespace, all_subjects: set[str], split: dict[str, str]
                 ) -> set[str]:
    """The subjects OF-FD's thresholds are fitted on (``--fit-subjects`` or ``--fit-split``,
    thinned to ``--fit-limit`` evenly spaced ones)."""
    chosen = sorted(choose_subjects(all_subjects, split, args.fit_subjects,
                                    "" if args.fit_subjects else args.fit_split, "--fit-split"))
    limit = getattr(args, "fit_limit", 0) or 0
    if limit < 0:
        raise ValueError(f"--fit-limit {limit}: must be >= 0")
    if limit and len(chosen) > limit:
        idx = np.linspace(0, len(chosen) - 1, limit).round().astype(int)
        chosen = [chosen[i] for i in sorted(set(idx.tolist()))]
    return set(chosen)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", default="framediff", choices=["framediff", "offd"],
                        help="framediff: block frame differences; offd: optical flow in "
                             "landmark regions (thresholds fitted on training subjects)")
    parser.add_argument("--data", required=True, type=Path, help="dataset root")
    parser.add_argument("--format", default="auto", choices=["auto", "casme2", "samm", "generic"])
    parser.add_argument("--cache", type=Path, default=default_cache_dir(), help=cache_help())
    parser.add_argument("--subjects", default="", help="comma list: score only these subjects")
    parser.add_argument("--split", default="", help="score only this split of split.csv "
                                                    "(e.g. test)")
    parser.add_argument("--p", type=float, default=BaselineConfig.p,
                        help="framediff: peak threshold = median + P x (max - median) of each "
                             f"video's smoothed difference signal (default {BaselineConfig.p})")
    parser.add_argument("--fit-split", default="train",
                        help="offd: fit the thresholds on this split (default train)")
    parser.add_argument("--fit-subjects", default="",
                        help="offd: fit on these subjects instead (comma list)")
    parser.add_argument("--fit-limit", type=int, default=0,
                        help="offd: fit on at most N of those subjects (evenly spaced in sorted "
                             "order), to save time")
    parser.add_argument("--report-split", default="validation",
                        help="offd: also print the fitted thresholds' F1 on this split")
    parser.add_argument("--thresholds", default="",
                        help="offd: MICRO,MACRO thresholds to use instead of fitting")
    parser.add_argument("--preset", default=OffdConfig.preset, choices=["ultrafast", "fast",
                                                                        "medium"],
                        help="offd: OpenCV DIS preset")
    parser.add_argument("--micro-lag-s", type=float, default=OffdConfig.micro_lag_s,
                        help="offd: flow against the crop this many seconds earlier, for micro-"
                             "expressions (default "
                             f"{OffdConfig.micro_lag_s})")
    parser.add_argument("--macro-lag-s", type=float, default=OffdConfig.macro_lag_s,
                        help="offd: flow against the crop this many seconds earlier, for macro-"
                             "expressions (default "
                             f"{OffdConfig.macro_lag_s})")
    parser.add_argument("--intervals-out", type=Path, default=None,
                        help="offd: write the scored split's intervals (merging) as CSV")
    parser.add_argument("--false-alarm-clips", nargs="+", default=[], metavar="CLIP",
                        help="offd: also report detections per minute of face on these "
                             "unlabelled clips (files or folders; every detection is a false "
                             "alarm)")
    parser.add_argument("--iou", type=float, default=0.5,
                        help="IoU a spotted interval needs with a true one to count (MEGC 2020: "
                             "0.5)")
    parser.add_argument("--json", action="store_true",
                        help="print the scores as JSON instead of Markdown tables")


def _signals_for(videos: list[Any], cfg: OffdConfig, cache: Path, data: Path,
                 progress: bool = True) -> list[VideoSignals]:
    """Flow signals of every video, cached on disk (they do not depend on the thresholds)."""
    from tqdm import tqdm

    key = hashlib.sha1(json.dumps([str(Path(data).resolve()), cfg.micro_lag_s,
                                   cfg.macro_lag_s, cfg.preset, cfg.region_pad_iod]
                                  ).encode()).hexdigest()[:12]
    folder = Path(cache) / "offd_signals" / key
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for v in tqdm(videos, desc="offd flow", unit="video", disable=not progress,
                  file=sys.stderr):
        f = folder / f"{v.subject}__{v.video}.npz"
        if f.is_file():
            z = np.load(f)
            sig = VideoSignals(v.subject, v.video, v.fps, z["micro"], z["macro"],
                               np.asarray(v.valid, bool), tuple(z["names"].tolist()),
                               tuple(v.annotations))
        else:
            sig = video_signals(v.crops, v.valid, v.fps, v.subject, v.video, cfg, v.annotations)
            np.savez(f, micro=sig.micro, macro=sig.macro, names=np.array(sig.names))
        out.append(sig)
    return out


def _run_offd(args: argparse.Namespace, videos: list[Any], split: dict[str, str],
              scored: set[str]) -> int:
    import cv2

    from realtime.metrics import format_table, table_dict, write_intervals_csv

    cv2.setNumThreads(1)
    cfg = OffdConfig(preset=args.preset, micro_lag_s=args.micro_lag_s,
                     macro_lag_s=args.macro_lag_s)
    all_subjects = {v.subject for v in videos}
    fitted = None
    if args.thresholds:
        try:
            mi, ma = (float(x) for x in args.thresholds.split(","))
        except ValueError:
            raise ValueError(f"--thresholds {args.thresholds!r}: give MICRO,MACRO "
                             "numbers") from None
        cfg = replace(cfg, micro_threshold=mi, macro_threshold=ma)
        fit_set: set[str] = set()
    else:
        fit_set = fit_subjects(args, all_subjects, split)
        overlap = sorted(fit_set & scored)
        if overlap and scored != all_subjects:
            raise ValueError(f"fit and scored subjects overlap: {overlap[:5]}... (fit on "
                             "training subjects, score others)")
    needed = [v for v in videos if v.subject in fit_set | scored
              or split.get(v.subject) == args.report_split]
    signals = _signals_for(needed, cfg, args.cache, args.data)
    lines = []
    if fit_set:
        fit_sig = [s for s in signals if s.subject in fit_set]
        cfg = fit_thresholds(fit_sig, cfg, iou=args.iou)
        fitted = score_signals(fit_sig, cfg, "merging", args.iou)[0]
        lines.append(f"thresholds fitted on {len(fit_set)} subjects ({len(fit_sig)} videos): "
                     f"micro {cfg.micro_threshold:g}, macro {cfg.macro_threshold:g}; fit-set "
                     f"overall F1 {fitted.overall.f1:.4f} (merging)")
    if args.report_split and split:
        rep = [s for s in signals if split.get(s.subject) == args.report_split
               and s.subject not in fit_set]
        if rep:
            r = score_signals(rep, cfg, "merging", args.iou)[0]
            lines.append(f"{args.report_split} split ({len(rep)} videos): overall F1 "
                         f"{r.overall.f1:.4f}, macro {r.macro.f1:.4f}, micro {r.micro.f1:.4f} "
                         "(merging)")
    eval_sig = [s for s in signals if s.subject in scored]
    runs = {}
    for variant in VARIANTS:
        runs[variant], pred = score_signals(eval_sig, cfg, variant, args.iou)
        if variant == "merging" and args.intervals_out is not None:
            write_intervals_csv(args.intervals_out, pred)
    alarms = [false_alarms(str(c), cfg) for c in _clips(args.false_alarm_clips)]
    if args.json:
        print(json.dumps({"method": "offd", "micro_threshold": cfg.micro_threshold,
                          "macro_threshold": cfg.macro_threshold, "notes": lines,
                          "table": table_dict(runs),
                          "false_alarms": [dict(asdict(a), per_minute=a.per_minute)
                                           for a in alarms]}, indent=2))
    else:
        print("\n".join(lines))
        print(f"scored: {len(scored)} subjects, {len(eval_sig)} videos")
        print(format_table(runs))
        if alarms:
            print("\n| clip | face frames | detections (micro / macro) | per minute of face |")
            print("|---|---:|---:|---:|")
            for a in alarms:
                print(f"| {a.clip} | {a.face_frames} | {a.detections} ({a.micro} / {a.macro}) "
                      f"| {a.per_minute:.1f} |")
            minutes = sum(a.face_minutes for a in alarms)
            total = sum(a.detections for a in alarms)
            if minutes > 0:
                print(f"| all | {sum(a.face_frames for a in alarms)} | {total} | "
                      f"{total / minutes:.1f} |")
    return 0


def _clips(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out += sorted(k for k in p.iterdir()
                          if k.suffix.lower() in (".mp4", ".mov", ".avi", ".mkv"))
        elif p.is_file():
            out.append(p)
        else:
            raise ValueError(f"--false-alarm-clips: {p}: no such file or folder")
    return out


@dataclass(frozen=True)
class CropVideo:
    """One video's raw face crops as the baselines read them (a subset of export.videos')."""

    subject: str
    video: str
    crops: np.ndarray
    valid: np.ndarray
    fps: float
    annotations: tuple[Any, ...]


def load_crops(data: Path, fmt: str, cache: Path, subjects: set[str] | None = None,
               progress: bool = True) -> list[CropVideo]:
    """Raw 128-px crops of the videos of ``subjects`` (all when None), through the shared
    crop cache: only those videos are cropped (same cache files as ``python -m export
    preprocess``, so a later full run reuses them)."""
    from export.datasets import load_dataset
    from export.preprocess import preprocess_dataset
    from realtime.face import FaceCropConfig

    dataset = load_dataset(data, fmt)
    if subjects is not None:
        dataset = replace(dataset, videos=tuple(v for v in dataset.videos
                                                if v.subject in subjects))
    cached = preprocess_dataset(dataset, cache, FaceCropConfig(crop_size=128), progress=progress)
    return [CropVideo(c.subject, c.video, c.crops, np.asarray(c.valid, bool), float(c.fps),
                      tuple(c.annotations)) for c in cached]


def dataset_subjects(data: Path, fmt: str) -> set[str]:
    from export.datasets import load_dataset

    return {v.subject for v in load_dataset(data, fmt).videos}


def run(args: argparse.Namespace) -> int:
    from realtime.metrics import format_table, table_dict

    try:
        split = read_split(args.data)
        all_subjects = dataset_subjects(args.data, args.format)
        scored = choose_subjects(all_subjects, split, args.subjects, args.split, "--subjects")
        scored = scored or all_subjects
        if args.method == "offd":
            need = set(scored)
            if not args.thresholds:
                need |= fit_subjects(args, all_subjects, split)
            if args.report_split and split:
                need |= {s for s, sp in split.items() if sp == args.report_split} & all_subjects
            videos = load_crops(args.data, args.format, args.cache, need)
            return _run_offd(args, videos, split, scored)
        cfg = BaselineConfig(p=args.p)
        videos = load_crops(args.data, args.format, args.cache, scored)
    except (ValueError, FileNotFoundError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = evaluate_baseline(videos, cfg, args.iou)
    runs = {"baseline": result["score"]}
    print(json.dumps(table_dict(runs), indent=2) if args.json else format_table(runs))
    return 0
