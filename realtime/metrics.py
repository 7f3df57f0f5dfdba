"""MEGC 2020 spotting metric (Fu et al. 2023, Eq. 8-15), torch-free.

An interval is an inclusive, 0-based range of frames ``[onset, offset]`` of one video. A spotted
interval is a true positive (TP) when its intersection-over-union with a ground-truth interval of
the same video and the same type (macro against macro, micro against micro) is at least the
threshold ``r`` (0.5 in the paper, Eq. 8). IoU is measured on frame sets:
``|A ∩ B| / |A ∪ B|`` with ``|[a, b]| = b - a + 1``.

Matching rule (one-to-one): within each (subject, video, type) group, every (ground truth,
prediction) pair with IoU >= r is a candidate; candidates are taken greedily by descending IoU,
ties broken by the earlier ground-truth onset, then the earlier prediction onset, then the order
in the input lists. A taken pair uses up both intervals, so each ground-truth interval is matched
at most once and each prediction at most once. Unmatched predictions are false positives (FP),
unmatched ground truth are false negatives (FN). Greedy is not a maximum matching in general, but
when neither the ground-truth intervals nor the predictions of a group overlap one another (the
usual case; post-processed segments never do) and r >= 0.5, an interval has two candidates only
in exact-half ties, and the choice cannot change the counts.

Counts are pooled over all videos ("one particularly long video") per type, and the overall
figures pool the macro and micro counts (Eq. 13-14). Precision = TP / (TP + FP),
recall = TP / (TP + FN), F1 = 2PR / (P + R); any of these whose denominator is zero is 0.0
(no predictions -> precision 0; no ground truth -> recall 0), so a run that spots nothing
scores 0 rather than raising.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from realtime.vocab import EXPRESSION_TYPES, TABLE_ORDER, Interval, check_int

CSV_COLUMNS = ("subject", "video", "onset", "offset", "type")
TABLE_ROWS = ("Total", "TP", "FP", "FN", "Precision", "Recall", "F1-score")


class IntervalFileError(ValueError):
    """An interval CSV file is missing, unreadable or malformed (the message names file/line)."""


def iou(a: Interval | tuple[int, int], b: Interval | tuple[int, int]) -> float:
    """Intersection over union of two inclusive frame intervals (0.0 when disjoint)."""
    a_on, a_off = (a.onset, a.offset) if isinstance(a, Interval) else a
    b_on, b_off = (b.onset, b.offset) if isinstance(b, Interval) else b
    inter = min(a_off, b_off) - max(a_on, b_on) + 1
    if inter <= 0:
        return 0.0
    union = (a_off - a_on + 1) + (b_off - b_on + 1) - inter
    return inter / union


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


@dataclass(frozen=True)
class Counts:
    """TP/FP/FN of one expression type (or pooled); the rates are derived from them."""

    tp: int
    fp: int
    fn: int

    def __post_init__(self) -> None:
        for name in ("tp", "fp", "fn"):
            check_int(name, getattr(self, name), 0)

    @classmethod
    def from_counts(cls, tp: int, fp: int, fn: int) -> Counts:
        """Build from published counts, e.g. a paper table's TP/FP/FN row."""
        return cls(int(tp), int(fp), int(fn))

    @property
    def total(self) -> int:
        """Number of ground-truth intervals (the paper's "Total" row, m in Eq. 9/11)."""
        return self.tp + self.fn

    @property
    def n_pred(self) -> int:
        """Number of spotted intervals (n in Eq. 10/12)."""
        return self.tp + self.fp

    @property
    def precision(self) -> float:
        return _ratio(self.tp, self.n_pred)

    @property
    def recall(self) -> float:
        return _ratio(self.tp, self.total)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "tp": self.tp, "fp": self.fp, "fn": self.fn,
                "precision": self.precision, "recall": self.recall, "f1": self.f1}


@dataclass(frozen=True)
class Match:
    """One TP: a ground-truth interval, the prediction matched to it, and their IoU."""

    gt: Interval
    pred: Interval
    iou: float


@dataclass(frozen=True)
class MatchResult:
    matches: tuple[Match, ...]
    unmatched_gt: tuple[Interval, ...]  # false negatives
    unmatched_pred: tuple[Interval, ...]  # false positives


@dataclass(frozen=True)
class SpottingScore:
    """Macro, micro and overall (pooled) counts of one run, as in the paper's Table 2."""

    macro: Counts
    micro: Counts
    iou_threshold: float = 0.5

    @property
    def overall(self) -> Counts:
        return self.macro + self.micro

    def to_dict(self) -> dict[str, Any]:
        return {"iou_threshold": self.iou_threshold, "macro": self.macro.to_dict(),
                "micro": self.micro.to_dict(), "overall": self.overall.to_dict()}


def _check_threshold(iou_threshold: float) -> float:
    t = float(iou_threshold)
    if not (0.0 < t <= 1.0) or math.isnan(t):
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold!r}")
    return t


def match_intervals(gt: Iterable[Interval], pred: Iterable[Interval],
                    iou_threshold: float = 0.5) -> MatchResult:
    """One-to-one matching of predictions to ground truth (rule in the module docstring)."""
    t = _check_threshold(iou_threshold)
    gt, pred = list(gt), list(pred)
    groups: dict[tuple[str, str, str], tuple[list[tuple[int, Interval]],
                                             list[tuple[int, Interval]]]] = defaultdict(
        lambda: ([], []))
    for i, g in enumerate(gt):
        groups[(g.subject, g.video, g.type)][0].append((i, g))
    for j, p in enumerate(pred):
        groups[(p.subject, p.video, p.type)][1].append((j, p))

    matches: list[Match] = []
    used_gt: set[int] = set()
    used_pred: set[int] = set()
    for gts, preds in groups.values():
        candidates = []
        for i, g in gts:
            for j, p in preds:
                v = iou(g, p)
                if v >= t:
                    candidates.append((-v, g.onset, p.onset, i, j, g, p, v))
        candidates.sort(key=lambda c: c[:5])
        for _, _, _, i, j, g, p, v in candidates:
            if i in used_gt or j in used_pred:
                continue
            used_gt.add(i)
            used_pred.add(j)
            matches.append(Match(g, p, v))
    return MatchResult(
        matches=tuple(matches),
        unmatched_gt=tuple(g for i, g in enumerate(gt) if i not in used_gt),
        unmatched_pred=tuple(p for j, p in enumerate(pred) if j not in used_pred),
    )


def score(gt: Iterable[Interval], pred: Iterable[Interval],
          iou_threshold: float = 0.5) -> SpottingScore:
    """Score predictions against ground truth with the MEGC 2020 protocol."""
    gt, pred = list(gt), list(pred)
    result = match_intervals(gt, pred, iou_threshold)
    per_type = {}
    for typ in TABLE_ORDER:
        tp = sum(1 for m in result.matches if m.gt.type == typ)
        per_type[typ] = Counts(
            tp=tp,
            fp=sum(1 for p in pred if p.type == typ) - tp,
            fn=sum(1 for g in gt if g.type == typ) - tp,
        )
    return SpottingScore(macro=per_type["macro"], micro=per_type["micro"],
                         iou_threshold=_check_threshold(iou_threshold))


# --------------------------------------------------------------------------- tables


def _cells(counts: Counts) -> list[str]:
    return [str(counts.total), str(counts.tp), str(counts.fp), str(counts.fn),
            f"{counts.precision:.4f}", f"{counts.recall:.4f}", f"{counts.f1:.4f}"]


def format_table(columns: SpottingScore | Mapping[str, SpottingScore]) -> str:
    """Markdown table in the shape of the paper's Table 2 (rates to 4 decimals).

    A single score gives columns Macro | Micro | Overall. A mapping of run names to scores
    (e.g. ``{"no merging": a, "merging": b, "duration relabel": c, "baseline": d}``) puts the
    runs side by side, three columns each, headed ``<name> Macro`` and so on, in mapping order.
    """
    if isinstance(columns, SpottingScore):
        named: list[tuple[str, SpottingScore]] = [("", columns)]
    else:
        named = list(columns.items())
        if not named:
            raise ValueError("format_table needs at least one run")
    header = ["Metric"]
    cells: list[list[str]] = []
    for name, s in named:
        if not isinstance(s, SpottingScore):
            raise TypeError(f"run {name!r}: expected SpottingScore, got {type(s).__name__}")
        prefix = f"{name} " if name else ""
        for label, counts in (("Macro", s.macro), ("Micro", s.micro), ("Overall", s.overall)):
            header.append(f"{prefix}{label}".replace("|", "/"))
            cells.append(_cells(counts))
    lines = ["| " + " | ".join(header) + " |",
             "| --- |" + " ---: |" * (len(header) - 1)]
    for r, row_name in enumerate(TABLE_ROWS):
        lines.append("| " + " | ".join([row_name] + [c[r] for c in cells]) + " |")
    return "\n".join(lines)


def table_dict(columns: SpottingScore | Mapping[str, SpottingScore]) -> dict[str, Any]:
    """JSON-able form of :func:`format_table`: ``{run name: score.to_dict()}``.

    A single score is returned as its own ``to_dict()``.
    """
    if isinstance(columns, SpottingScore):
        return columns.to_dict()
    return {name: s.to_dict() for name, s in columns.items()}


# --------------------------------------------------------------------------- CSV files


def _parse_frame(text: str, column: str, where: str) -> int:
    raw = (text or "").strip()
    try:
        value = float(raw)
    except ValueError:
        raise IntervalFileError(f"{where}: {column} {raw!r} is not a frame number") from None
    if not value.is_integer():
        raise IntervalFileError(f"{where}: {column} {raw!r} is not a whole frame number")
    return int(value)


def read_intervals_csv(path: str | Path) -> list[Interval]:
    """Read ``subject,video,onset,offset,type`` rows (header required; extra columns ignored).

    ``type`` is micro/macro in any case. Errors raise :class:`IntervalFileError` naming the file,
    the line and the problem.
    """
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise IntervalFileError(f"{path}: cannot open interval file ({exc.strerror})") from exc
    intervals: list[Interval] = []
    with handle:
        reader = csv.DictReader(handle)
        try:
            fields = [f.strip().lower() for f in (reader.fieldnames or [])]
        except (csv.Error, UnicodeDecodeError) as exc:
            raise IntervalFileError(f"{path}: line 1: cannot parse CSV header ({exc})") from exc
        missing = [c for c in CSV_COLUMNS if c not in fields]
        if missing:
            raise IntervalFileError(
                f"{path}: line 1: header lacks column(s) {', '.join(missing)} "
                f"(need {','.join(CSV_COLUMNS)}; found {','.join(fields) or 'nothing'})")
        reader.fieldnames = fields
        try:
            for row in reader:
                where = f"{path}: line {reader.line_num}"
                if all(not (v or "").strip() for k, v in row.items() if k is not None):
                    continue  # blank line
                if any(row.get(c) is None for c in CSV_COLUMNS):
                    raise IntervalFileError(f"{where}: too few fields")
                typ = row["type"].strip().lower()
                if typ not in EXPRESSION_TYPES:
                    raise IntervalFileError(
                        f"{where}: type {row['type'].strip()!r} is not micro or macro")
                subject, video = row["subject"].strip(), row["video"].strip()
                if not video:
                    raise IntervalFileError(f"{where}: video is empty")
                onset = _parse_frame(row["onset"], "onset", where)
                offset = _parse_frame(row["offset"], "offset", where)
                try:
                    intervals.append(Interval(subject, video, onset, offset, typ))
                except ValueError as exc:
                    raise IntervalFileError(f"{where}: {exc}") from None
        except csv.Error as exc:
            raise IntervalFileError(f"{path}: line {reader.line_num}: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise IntervalFileError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    return intervals


def write_intervals_csv(path: str | Path, intervals: Iterable[Interval]) -> None:
    """Write intervals as ``subject,video,onset,offset,type`` (readable by the reader above)."""
    path = Path(path)
    try:
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_COLUMNS)
            for it in intervals:
                writer.writerow([it.subject, it.video, it.onset, it.offset, it.type])
    except OSError as exc:
        raise IntervalFileError(f"{path}: cannot write interval file ({exc.strerror})") from exc
