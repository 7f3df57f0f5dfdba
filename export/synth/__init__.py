"""``python -m export synth``: SynthME2, a synthetic long-video micro/macro-expression benchmark.

Real face photographs are brought to life: mediapipe's face mesh is run once per portrait, and
action-unit-like displacement fields built from its landmarks are blended per frame with
onset -> apex -> offset profiles and applied with one image remap. People with a neutral and a
smiling photo (``NAME_neutral.jpg`` / ``NAME_smiling.jpg``) also get real smiles: a
landmark-aligned morph from one photo to the other (``morph.py``). Every expression's peak
displacement is calibrated on the 128-px face crop (``calibrate.py``): micro-expressions (1/6 to
1/2 s) about 0.35-1.4 px, macro-expressions (over 1/2 s to 4 s) above 2.2 px. Blinks, head
motion, drift, lighting changes, sensor noise, talking-like mouth motion and video compression
are distractors labelled as no expression. Subjects are split train/validation/test, disjoint,
in the metadata. Torch-free.

    python -m export synth --out data/synthme2_30 --seed 0 --fps 30 --workers 2 \
        --portraits ../shared/data/portraits --train-only-portraits ../shared/data/real
    python -m export synth --demo clip.mp4          # 18 s demo clip + clip.csv ground truth
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .dataset import SUPPORTED_FPS, SynthConfig, SynthSummary, generate
from .demo import DemoClip, make_demo_clip
from .faces import PortraitError

__all__ = ["SynthConfig", "SynthSummary", "DemoClip", "generate", "make_demo_clip",
           "PortraitError", "add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, help="output folder of the dataset")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes)")
    parser.add_argument("--fps", type=int, default=30, choices=SUPPORTED_FPS,
                        help="frame rate: 30 (like CAS(ME)^2) or 200 (like SAMM)")
    parser.add_argument("--subjects", type=int, default=None,
                        help="number of subjects (default: every person found; more than "
                             "that reuses the same faces re-toned and mirrored, not new people, "
                             "and says which)")
    parser.add_argument("--videos-per-subject", type=int, default=None,
                        help="videos per subject (default 2)")
    parser.add_argument("--duration-s", type=float, default=None,
                        help="seconds per video (default 30 at 30 fps, 15 at 200 fps)")
    parser.add_argument("--portraits", nargs="+", default=[], metavar="PATH",
                        help="portrait images/videos or folders of them, read recursively; "
                             "NAME_neutral/NAME_smiling pairs are one person (default: "
                             "matplotlib's Grace Hopper)")
    parser.add_argument("--train-only-portraits", nargs="+", default=[], metavar="PATH",
                        help="more portraits whose people always go to the train split (e.g. "
                             "people an earlier shipped model was trained on)")
    parser.add_argument("--per-split", type=int, default=None,
                        help="at most this many subjects of each split (a subset, e.g. for "
                             "200 fps), keeping every subject's split")
    parser.add_argument("--splits", default="",
                        help="comma list: generate only the subjects of these splits")
    parser.add_argument("--paired-only", action="store_true",
                        help="only people with a smiling photo")
    parser.add_argument("--morph-fraction", type=float, default=0.4,
                        help="share of a paired person's expressions that are real smile "
                             "morphs")
    parser.add_argument("--check-set", action="store_true",
                        help="the real-appearance check set: test-split paired people, smile "
                             "morphs only (macro full, micro partial), 1 video of 20 s each")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes (videos are rendered in parallel)")
    parser.add_argument("--codec", default="auto", choices=["auto", "x264", "mp4v"],
                        help="auto: H.264 through ffmpeg when found, else OpenCV mp4v")
    parser.add_argument("--keyframe-s", type=float, default=2.0,
                        help="seconds between keyframes (x264)")
    parser.add_argument("--crf", type=int, default=20, help="x264 quality (lower is better)")
    parser.add_argument("--no-frame-truth", action="store_true",
                        help="do not write the per-frame <video>.frames.csv files")
    parser.add_argument("--width", type=int, default=320, help="frame width in pixels")
    parser.add_argument("--height", type=int, default=240, help="frame height in pixels")
    parser.add_argument("--micro-fraction", type=float, default=0.35,
                        help="probability that an expression is a micro-expression")
    parser.add_argument("--no-distractors", action="store_true",
                        help="leave out blinks, head motion, lighting, talking and noise")
    parser.add_argument("--demo", type=Path, default=None, metavar="CLIP.mp4",
                        help="write only the short demo clip (and CLIP.csv) and exit")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def run(args: argparse.Namespace) -> int:
    try:
        if args.demo is not None:
            clip = make_demo_clip(args.demo, seed=args.seed, fps=args.fps,
                                  portrait=args.portraits[0] if args.portraits else None,
                                  width_px=args.width, height_px=args.height,
                                  **({"duration_s": args.duration_s} if args.duration_s else {}))
            print(f"demo clip: {clip.video_path} ({clip.num_frames} frames, "
                  f"{clip.expressions} expressions), ground truth {clip.annotations_path}")
            return 0
        if args.out is None:
            raise ValueError("--out is required (the dataset folder to write)")
        splits = tuple(x for x in args.splits.split(",") if x)
        paired_only, morph_fraction = args.paired_only, args.morph_fraction
        if args.check_set:
            splits, paired_only, morph_fraction = splits or ("test",), True, 1.0
            args.videos_per_subject = args.videos_per_subject or 1
            args.duration_s = args.duration_s or 20.0
        cfg = SynthConfig(
            out_dir=args.out, seed=args.seed, fps=args.fps, subjects=args.subjects,
            videos_per_subject=args.videos_per_subject, duration_s=args.duration_s,
            portraits=tuple(args.portraits),
            train_only_portraits=tuple(args.train_only_portraits), per_split=args.per_split,
            splits=splits, paired_only=paired_only, morph_fraction=morph_fraction,
            width_px=args.width, height_px=args.height,
            distractors=not args.no_distractors, micro_fraction=args.micro_fraction,
            workers=args.workers, codec=args.codec, keyframe_s=args.keyframe_s, crf=args.crf,
            frame_truth=not args.no_frame_truth, quiet=args.quiet)
        generate(cfg)
    except (ValueError, OSError) as exc:
        print(f"python -m export synth: error: {exc}", file=sys.stderr)
        return 2
    return 0
