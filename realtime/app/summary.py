"""The run summary shown when a recording ends or a server source stops: expressions by type,
face time, expressions per minute, a whole-run timeline with the event lane and, for a clip
with ground truth (the demo), the truth beside the detections (and in a lane of its own) with
the MEGC 2020 score."""

from __future__ import annotations

import base64
import collections
import html
from collections.abc import Sequence

import cv2
import numpy as np

from realtime.app.analysis import Analysis
from realtime.app.eventlog import plural
from realtime.metrics import score
from realtime.vocab import Interval

FACE_STATUSES_CLASSIFIED = ("ok", "at_edge")  # face statuses whose frames are classified
RUN_TIMELINE_SIZE = (720, 200)  # width, height (px) of the summary's whole-run timeline


def run_summary_html(analysis: Analysis, ground_truth: Sequence[Interval] | None = None) -> str:
    """The summary of a finished run as HTML (``class="run-summary"``)."""
    segments = [e for e in analysis.log.shown() if e.kind == "segment"]
    by_type = collections.Counter(e.expression for e in segments)
    fps = run_fps(analysis)
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
    image = run_timeline(analysis, ground_truth)
    lines.append(f'<img class="run-timeline" alt="Whole-run timeline: class probabilities, '
                 f'the expressions found{" and the ground truth" if ground_truth else ""}" '
                 f'src="{png_data_url(image)}" style="width:100%;max-width:'
                 f'{RUN_TIMELINE_SIZE[0]}px;margin-top:0.4em">')
    return f'<div class="run-summary">{"<br>".join(lines)}</div>'


def run_fps(analysis: Analysis) -> float:
    """The run's frame rate (the followed face's merger's; 30 before the first face)."""
    merger = analysis.merger
    return merger.fps if merger is not None else 30.0


def truth_spans(ground_truth: Sequence[Interval], fps: float) -> list[tuple[float, float, str]]:
    """(start s, end s, type) of ground-truth intervals (inclusive frames) at ``fps``."""
    return [(i.onset / fps, (i.offset + 1) / fps, i.type) for i in ground_truth]


def run_timeline(analysis: Analysis, ground_truth: Sequence[Interval] | None = None,
                 cursor_s: float | None = None) -> np.ndarray:
    """RGB whole-run timeline of ``analysis``: probabilities, the found expressions' lane and,
    with ``ground_truth``, the truth's lane."""
    truth = None if not ground_truth else truth_spans(ground_truth, run_fps(analysis))
    width, height = RUN_TIMELINE_SIZE
    return analysis.record.render(analysis.log.spans(analysis.last_time_s), truth,
                                  width_px=width, height_px=height, cursor_s=cursor_s)


def png_data_url(rgb: np.ndarray) -> str:
    """An RGB image as a ``data:image/png`` URL (travels inside the HTML)."""
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("the timeline image could not be encoded")
    return "data:image/png;base64," + base64.b64encode(data.tobytes()).decode("ascii")


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
