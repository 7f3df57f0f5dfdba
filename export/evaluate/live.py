"""``evaluate --live``: a dataset's videos through the live spotter, scored like ``spot --gt``.

The cached evaluation (``--checkpoint``, ``tune``) predicts the face-crop cache at the video's
own rate. This path instead decodes every video with :func:`realtime.sources.open_source`,
crops faces with the live cropper and runs :class:`realtime.spotter.Spotter` with the graphs'
recommended post-processing (their contract), resampling sources faster than the training
rate (a 200 fps SAMM-like video seen at 30 fps, ``realtime/resample.py``): what a user gets
from ``python -m realtime spot --source VIDEO`` for each video, pooled into one MEGC table.
Torch-free: only the ONNX graphs and the realtime half.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from realtime.metrics import format_table, score
from realtime.vocab import Interval


def spot_video(spotter: Any, video: Any) -> tuple[list[Interval], dict[str, Any]]:
    """Segment intervals of one dataset video (every frame, not paced) and run facts."""
    from realtime.sources import open_source

    spec = video.source
    spotter.reset()
    t0 = time.perf_counter()
    intervals = []
    with open_source(spec, fps=video.fps, live=False) as source:
        for event in spotter.run(source):
            if event.kind == "segment":
                intervals.append(event.to_interval(video.subject, video.video))
    rs = spotter.resampler
    facts = {"subject": video.subject, "video": video.video, "fps": video.fps,
             "segments": len(intervals), "seconds": round(time.perf_counter() - t0, 1),
             "model_frames": None if rs is None else rs.kept,
             "skipped_frames": None if rs is None else rs.skipped}
    return intervals, facts


def run_live(args: argparse.Namespace) -> int:
    """``evaluate --live --onnx DIR --data ROOT [--subjects ...] [--out DIR] [--json]``."""
    from export.datasets import DatasetError, load_dataset
    from realtime.engine import EngineError
    from realtime.spotter import Spotter

    if not args.onnx or not args.data:
        print("evaluate: error: --live needs --onnx DIR and --data ROOT", file=sys.stderr)
        return 2
    try:
        dataset = load_dataset(Path(args.data), args.format)
        wanted = {s.strip() for s in args.subjects.split(",") if s.strip()}
        videos = [v for v in dataset.videos if not wanted or v.subject in wanted]
        if not videos:
            raise DatasetError(f"no video of subjects {sorted(wanted)} in {args.data}")
        spotter = Spotter(Path(args.onnx), provider="cpu")
    except (DatasetError, EngineError, ValueError, OSError) as exc:
        print(f"evaluate: error: {exc}", file=sys.stderr)
        return 2
    gt: list[Interval] = []
    spotted: list[Interval] = []
    runs = []
    with spotter:
        for video in videos:
            gt += [a.to_interval() for a in video.annotations]
            intervals, facts = spot_video(spotter, video)
            spotted += intervals
            runs.append(facts)
            print(f"  {video.subject}/{video.video}: {facts['segments']} segments "
                  f"({facts['seconds']} s)", file=sys.stderr)
        setting = spotter.recommended.to_dict()
    result = score(gt, spotted, iou_threshold=args.iou)
    report = {"graphs": str(args.onnx), "data": str(args.data), "setting": setting,
              "videos": runs, "score": result.to_dict()}
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "live.json").write_text(json.dumps(report, indent=1))
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"live spotter, post-processing: {spotter.recommended.describe(30.0)}; resampled: "
              f"{sum(1 for r in runs if r['model_frames'] is not None)} of {len(runs)} videos")
        print(format_table(result))
    return 0
