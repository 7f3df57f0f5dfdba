"""``python -m export synth``: SynthME, a synthetic long-video micro/macro-expression benchmark.

Real face photographs are brought to life: mediapipe's face mesh is run once per portrait, and
action-unit-like displacement fields built from its landmarks are blended per frame with
onset -> apex -> offset profiles and applied with one image remap. Micro-expressions (1/6 to
1/2 s, low amplitude) and macro-expressions (over 1/2 s to 4 s, large amplitude) are the ground
truth; blinks, head motion, drift, lighting changes, sensor noise, talking-like mouth motion and
video compression are distractors labelled as no expression. Torch-free.

    python -m export synth --out DIR --seed 0 --fps 30 --portraits /path/to/faces
    python -m export synth --demo clip.mp4          # 18 s demo clip + clip.csv ground truth
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .dataset import (
    SUPPORTED_FPS,
    DemoClip,
    SynthConfig,
    SynthSummary,
    generate,
    make_demo_clip,
)
from .faces import PortraitError

__all__ = ["SynthConfig", "SynthSummary", "DemoClip", "generate", "make_demo_clip",
           "PortraitError", "add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, help="output folder of the dataset")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes)")
    parser.add_argument("--fps", type=int, default=30, choices=SUPPORTED_FPS,
                        help="frame rate: 30 (like CAS(ME)^2) or 200 (like SAMM)")
    parser.add_argument("--subjects", type=int, default=None,
                        help="number of subjects (default: distinct faces found, 8 to 10)")
    parser.add_argument("--videos-per-subject", type=int, default=None,
                        help="videos per subject (default 3 at 30 fps, 2 at 200 fps)")
    parser.add_argument("--duration-s", type=float, default=None,
                        help="seconds per video (default 35 at 30 fps, 15 at 200 fps)")
    parser.add_argument("--portraits", nargs="+", default=[], metavar="PATH",
                        help="portrait images/videos or folders of them (default: portraits "
                             "shipped by installed packages, i.e. matplotlib's Grace Hopper)")
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
        cfg = SynthConfig(
            out_dir=args.out, seed=args.seed, fps=args.fps, subjects=args.subjects,
            videos_per_subject=args.videos_per_subject, duration_s=args.duration_s,
            portraits=tuple(args.portraits), width_px=args.width, height_px=args.height,
            distractors=not args.no_distractors, micro_fraction=args.micro_fraction,
            quiet=args.quiet)
        generate(cfg)
    except (ValueError, OSError) as exc:
        print(f"python -m export synth: error: {exc}", file=sys.stderr)
        return 2
    return 0
