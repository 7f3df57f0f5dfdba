"""The run summary shown when a recording ends or a server source stops: expressions by type,
face time, expressions per minute and, for a clip with ground truth (the demo), the truth
beside the detections with the MEGC 2020 score."""

from __future__ import annotations

import collections
import html
from collections.abc import Sequence

from realtime.app.analysis import Analysis
from realtime.app.eventlog import plural
from realtime.metrics import score
from realtime.vocab import Interval

FACE_STATUSES_CLASSIFIED = ("ok", "at_edge")  # face statuses whose frames are classified


def run_summary_html(analysis: Analysis, ground_truth: Sequence[Interval] | None = None) -> str:
    """The summary of a finished run as HTML (``class="run-summary"``)."""
    segments = [e for e in analysis.log.shown() if e.kind == "segment"]
    by_type = collections.Counter(e.expression for e in segments)
    merger = analysis.spotter.merger
    fps = merger.fps if merger is not None else 30.0
    stats = analysis.spotter.stats
    face_frames = sum(stats.face_status.get(s, 0) for s in FACE_STATUSES_CLASSIFIED)
    length_s = max(analysis.frames / fps, 1e-9)
    per_min = len(segments) / (length_s / 60.0)
    kinds = ", ".join(f"{n} {t}" for t, n in sorted(by_type.items())) or "none"
    lines = [f"<b>Run summary</b>: {plural(len(segments), 'expression')} ({kinds}); face in "
             f"view {face_frames / fps:.1f} s of {length_s:.1f} s; "
             f"{per_min:.1f} expressions per minute."]
    if ground_truth:
        lines.append(_truth_html(ground_truth, segments))
    return f'<div class="run-summary">{"<br>".join(lines)}</div>'


def _truth_html(gt: Sequence[Interval], segments: Sequence) -> str:
    subject, video = gt[0].subject, gt[0].video
    pred = [e.to_interval(subject, video) for e in segments]
    result = score(gt, pred)

    def rows(items: Sequence[Interval]) -> str:
        return ", ".join(f"{i.type} {i.onset}-{i.offset}" for i in items) or "none"

    o = result.overall
    return (f"Ground truth: {html.escape(rows(gt))}. Detected: {html.escape(rows(pred))}. "
            f"MEGC 2020 score (IoU &ge; 0.5): F1 overall {o.f1:.4f}, macro "
            f"{result.macro.f1:.4f}, micro {result.micro.f1:.4f} (TP {o.tp}, FP {o.fp}, "
            f"FN {o.fn}).")
