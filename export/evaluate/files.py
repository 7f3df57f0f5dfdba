"""A report's files: ``results.md`` / ``results.json``, ``intervals_<variant>.csv``,
``ground_truth.csv`` and one timeline PNG per video."""

from __future__ import annotations

import json
from pathlib import Path

from export.evaluate.report import Report
from export.evaluate.timeline import plot_timeline
from realtime.metrics import write_intervals_csv


def timeline_name(subject: str, video: str) -> str:
    """File name of a video's timeline: ``<subject>_<video>.png``, without repeating the
    subject when the video's name already starts with it (SynthME's ``s01_v01``)."""
    stem = video if video == subject or video.startswith(f"{subject}_") else \
        f"{subject}_{video}"
    return f"{stem.replace('/', '_')}.png"


def write_report(report: Report, out_dir: Path, plots: bool = True) -> None:
    """``results.md``, ``results.json``, the interval CSVs and (``plots``) timeline PNGs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.md").write_text(report.table + "\n")
    (out_dir / "results.json").write_text(json.dumps(
        {"scores": report.scores_dict(), "videos": [v.key for v in report.videos]}, indent=2))
    for name, intervals in report.intervals.items():
        write_intervals_csv(out_dir / f"intervals_{name.replace(' ', '_')}.csv", intervals)
    write_intervals_csv(out_dir / "ground_truth.csv", report.gt)
    if plots:
        pdir = out_dir / "timelines"
        pdir.mkdir(exist_ok=True)
        merged = report.intervals["merging"]
        for v in report.videos:
            mine = [i for i in merged if i.subject == v.subject and i.video == v.video]
            plot_timeline(v, mine, report.class_names, pdir / timeline_name(v.subject, v.video))
