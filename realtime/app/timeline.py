"""The page's probability plots: the last seconds of a stream (:class:`ProbabilityTimeline`)
and a whole run with its event lanes (:class:`RunRecord`, for the run summary and the viewer).

Lines break where there was no classification: at a window break (face lost, too small,
frames dropped, recalibration) and across any pause longer than ``gap_s``; such stretches are
shaded instead of being joined by a straight line."""

from __future__ import annotations

import collections
import threading
from collections.abc import Sequence

import cv2
import numpy as np

from realtime.overlay import EXPRESSION_COLORS

_UNKNOWN = (200, 200, 200)  # BGR of a class without a colour of its own
_FRAME = (90, 90, 90)
_LABEL = (170, 170, 170)
_DASH = (220, 220, 220)
_NO_DATA = (44, 44, 44)  # shading of a stretch without classification
GAP_S = 0.4  # a pause between classified frames longer than this breaks the line

Span = tuple[float, float, str]  # (start s, end s, expression)


def runs(times: np.ndarray, breaks: np.ndarray, gap_s: float = GAP_S) -> list[slice]:
    """Slices of consecutive points (``times`` increasing) with no break time in between
    (a break at ``b`` separates points ``t_i < b <= t_j``) and no step longer than ``gap_s``."""
    n = len(times)
    if n == 0:
        return []
    cut = np.diff(times) > gap_s
    if len(breaks):
        # the number of breaks at or before each point; a change between neighbours cuts
        before = np.searchsorted(np.sort(breaks), times, side="left")
        cut |= np.diff(before) > 0
    edges = [0, *(np.flatnonzero(cut) + 1).tolist(), n]
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


class ProbabilityTimeline:
    """The class probabilities of the last ``span_s`` seconds, drawn as a small RGB plot."""

    def __init__(self, class_names: Sequence[str], span_s: float = 10.0,
                 threshold: float | None = None, gap_s: float = GAP_S) -> None:
        self.class_names = tuple(class_names)
        self.span_s = float(span_s)
        self.threshold = threshold
        self.gap_s = float(gap_s)
        self._points: collections.deque[tuple[float, np.ndarray]] = collections.deque()
        self._breaks: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()
        self.latest_s: float | None = None

    def add(self, time_s: float, probs: np.ndarray) -> None:
        """Add the class probabilities classified at ``time_s``; forget points out of view."""
        with self._lock:
            self._points.append((float(time_s), np.asarray(probs, dtype=np.float32)))
            if self.latest_s is None or time_s > self.latest_s:
                self.latest_s = float(time_s)
            start = self.latest_s - self.span_s
            while self._points and self._points[0][0] < start:
                self._points.popleft()
            while self._breaks and self._breaks[0] < start:
                self._breaks.popleft()

    def mark_break(self, time_s: float) -> None:
        """No classification around ``time_s`` (a window break): the line stops here."""
        with self._lock:
            if not self._breaks or self._breaks[-1] < time_s:
                self._breaks.append(float(time_s))

    def __len__(self) -> int:
        """Points kept: those of the last ``span_s`` seconds."""
        with self._lock:
            return len(self._points)

    def note_time(self, time_s: float) -> None:
        """Advance the right edge of the plot (time passes even when nothing is classified)."""
        with self._lock:
            if self.latest_s is None or time_s > self.latest_s:
                self.latest_s = float(time_s)

    def render(self, spans: Sequence[Span] = (), width_px: int = 640,
               height_px: int = 150) -> np.ndarray:
        """RGB uint8 image: one line per class (broken where nothing was classified), shaded
        event spans, the threshold (dashed)."""
        with self._lock:
            points = list(self._points)
            breaks = np.array(self._breaks, np.float64)
            now = self.latest_s if self.latest_s is not None else 0.0
        plot = _Plot(np.full((height_px, width_px, 3), 24, np.uint8), now - self.span_s, now)
        times = np.array([t for t, _ in points], np.float64)
        probs = np.stack([p for _, p in points]) if points else np.zeros((0, 1), np.float32)
        plot.draw(times, probs, breaks, self.class_names, spans, self.threshold, self.gap_s,
                  ticks_from_now=True)
        return cv2.cvtColor(plot.img, cv2.COLOR_BGR2RGB)


MAX_RUN_POINTS = 250_000  # classified frames a run record keeps (over 2 h at 30 frames/s)
LANE_PX = 14  # height of one event lane under the whole-run plot


class RunRecord:
    """Every classified frame of one run (time, frame index, class probabilities) and its
    breaks: the whole-run timeline of the summary and what the viewer shows at a time.
    Thread-safe; stops recording (``truncated``) after ``max_points`` frames."""

    def __init__(self, class_names: Sequence[str], max_points: int = MAX_RUN_POINTS,
                 gap_s: float = GAP_S) -> None:
        self.class_names = tuple(class_names)
        self.max_points = int(max_points)
        self.gap_s = float(gap_s)
        self._times = np.zeros(256, np.float64)
        self._index = np.zeros(256, np.int64)
        self._probs = np.zeros((256, len(self.class_names)), np.float32)
        self._n = 0
        self._breaks: list[float] = []
        self._lock = threading.Lock()
        self.truncated = False
        self.end_s = 0.0  # the latest media time seen

    def __len__(self) -> int:
        with self._lock:
            return self._n

    def add(self, index: int, time_s: float, probs: np.ndarray) -> None:
        """Record the classification of frame ``index`` at ``time_s``."""
        with self._lock:
            if self._n >= self.max_points:
                self.truncated = True
                return
            if self._n == len(self._times):
                grow = len(self._times)
                self._times = np.concatenate([self._times, np.zeros(grow)])
                self._index = np.concatenate([self._index, np.zeros(grow, np.int64)])
                self._probs = np.concatenate([self._probs, np.zeros_like(self._probs)])
            self._times[self._n], self._index[self._n] = time_s, index
            self._probs[self._n] = probs
            self._n += 1
            self.end_s = max(self.end_s, float(time_s))

    def mark_break(self, time_s: float) -> None:
        """No classification around ``time_s`` (a window break)."""
        with self._lock:
            if not self._breaks or self._breaks[-1] < time_s:
                self._breaks.append(float(time_s))

    def note_time(self, time_s: float) -> None:
        """Media time passes (a frame was read, classified or not)."""
        with self._lock:
            self.end_s = max(self.end_s, float(time_s))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Copies of (times, frame indices, probabilities (N, Q), break times)."""
        with self._lock:
            n = self._n
            return (self._times[:n].copy(), self._index[:n].copy(), self._probs[:n].copy(),
                    np.array(self._breaks, np.float64))

    def at(self, time_s: float) -> tuple[int, float, np.ndarray] | None:
        """(frame index, time, probabilities) of the classified frame showing at ``time_s``:
        the latest at or before it, unless a break or a pause over ``gap_s`` came between
        (then None: nothing was classified at that time)."""
        times, index, probs, breaks = self.arrays()
        i = int(np.searchsorted(times, time_s, side="right")) - 1
        if i < 0 or time_s - times[i] > self.gap_s or bool(
                np.any((breaks > times[i]) & (breaks <= time_s))):
            return None
        return int(index[i]), float(times[i]), probs[i]

    def render(self, spans: Sequence[Span] = (), truth: Sequence[Span] | None = None,
               width_px: int = 720, height_px: int = 200,
               cursor_s: float | None = None) -> np.ndarray:
        """RGB image of the whole run: the class lines (broken where nothing was classified)
        over the run's time, the detected expressions' lane and, with ``truth``, a lane of the
        true ones under it; a vertical line at ``cursor_s``."""
        times, _, probs, breaks = self.arrays()
        lanes = [("found", spans)] + ([("truth", truth)] if truth is not None else [])
        end = max(self.end_s, float(times[-1]) if len(times) else 0.0, 1.0)
        plot = _Plot(np.full((height_px, width_px, 3), 24, np.uint8), 0.0, end,
                     lanes=len(lanes))
        plot.draw(times, probs, breaks, self.class_names, spans, None, self.gap_s,
                  ticks_from_now=False)
        for row, (name, items) in enumerate(lanes):
            plot.lane(row, name, items)
        if cursor_s is not None:
            plot.cursor(cursor_s)
        return cv2.cvtColor(plot.img, cv2.COLOR_BGR2RGB)


def _color(name: str) -> tuple[int, int, int]:
    return EXPRESSION_COLORS.get(name, _UNKNOWN)


def _tick_step(span_s: float) -> float:
    """A round tick interval giving at most about 8 ticks over ``span_s`` seconds."""
    for step in (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600):
        if span_s / step <= 8:
            return float(step)
    return 7200.0


def _clock(t: float) -> str:
    return f"{t:g}s" if t < 60 else f"{int(t // 60)}:{int(t % 60):02d}"


class _Plot:
    """One plot image being drawn (BGR): the plot area's pixel box, the time -> x mapping of
    ``start_s``..``end_s`` and probability -> y; ``lanes`` event rows under the plot area."""

    def __init__(self, img: np.ndarray, start_s: float, end_s: float, lanes: int = 0) -> None:
        height_px, width_px = img.shape[:2]
        self.img = img
        self.start_s, self.end_s = start_s, end_s
        self.span_s = max(end_s - start_s, 1e-9)
        self.left, self.right, self.top = 34, width_px - 8, 8
        self.bottom = height_px - 20 - lanes * (LANE_PX + 2)

    def x_of(self, t: float) -> int:
        """Pixel column of media time ``t`` (seconds)."""
        return int(round(self.left + (t - self.start_s) / self.span_s * (self.right - self.left)))

    def y_of(self, p: float) -> int:
        """Pixel row of probability ``p`` (clipped to [0, 1])."""
        return int(round(self.bottom - float(np.clip(p, 0.0, 1.0)) * (self.bottom - self.top)))

    def _text(self, text: str, org: tuple[int, int], color: tuple[int, int, int],
              scale: float = 0.33) -> None:
        cv2.putText(self.img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, 1, cv2.LINE_AA)

    def _band(self, t0: float, t1: float, y0: int, y1: int, color: tuple[int, int, int]) -> None:
        """Fill times ``t0``..``t1`` (clipped to the plot, at least 1 px) between rows."""
        if t1 < self.start_s or t0 > self.end_s:
            return
        x0 = max(self.x_of(t0), self.left)
        x1 = max(min(self.x_of(t1), self.right), x0 + 1)
        cv2.rectangle(self.img, (x0, y0), (x1, y1), color, -1)

    def draw(self, times: np.ndarray, probs: np.ndarray, breaks: np.ndarray,
             class_names: Sequence[str], spans: Sequence[Span], threshold: float | None,
             gap_s: float, ticks_from_now: bool) -> None:
        """Spans, stretches without classification, axes, threshold, lines and legend."""
        pieces = runs(times, breaks, gap_s)
        for a, b in zip(pieces[:-1], pieces[1:]):  # shade what lies between two runs
            self._band(times[a.stop - 1], times[b.start], self.top, self.bottom, _NO_DATA)
        for t0, t1, expression in spans:
            self._band(t0, t1, self.top, self.bottom, tuple(c // 3 for c in _color(expression)))
        self.axes(ticks_from_now)
        if threshold is not None:
            self.threshold(threshold)
        for piece in pieces:
            if piece.stop - piece.start >= 2:
                self.lines(times[piece], probs[piece], class_names)
        self.legend(class_names)

    def axes(self, ticks_from_now: bool = True) -> None:
        """The frame, probability labels 0/0.5/1 and second ticks: counted back from now, or
        from the start of the run."""
        cv2.rectangle(self.img, (self.left, self.top), (self.right, self.bottom), _FRAME, 1)
        for p in (0.0, 0.5, 1.0):
            self._text(f"{p:.1f}", (2, self.y_of(p) + 4), _LABEL)
        step = (2 if self.span_s <= 20 else 10) if ticks_from_now else _tick_step(self.span_s)
        for k in np.arange(0, self.span_s + 1e-6, step):
            t = self.end_s - k if ticks_from_now else self.start_s + k
            x = self.x_of(t)
            cv2.line(self.img, (x, self.bottom), (x, self.bottom + 3), _LABEL, 1)
            text = ("now" if k == 0 else f"-{k:g}s") if ticks_from_now else _clock(t)
            self._text(text, (x - 10, self.img.shape[0] - 5), _LABEL)

    def threshold(self, threshold: float) -> None:
        """A dashed line at the class threshold."""
        y = self.y_of(threshold)
        for x in range(self.left, self.right, 8):
            cv2.line(self.img, (x, y), (min(x + 4, self.right), y), _DASH, 1)

    def lines(self, times: np.ndarray, probs: np.ndarray, class_names: Sequence[str]) -> None:
        """One line per class through one run of points; "none" thinner."""
        xs = np.array([self.x_of(t) for t in times], np.int32)
        for c, name in enumerate(class_names):
            ys = np.array([self.y_of(v) for v in probs[:, c]], np.int32)
            cv2.polylines(self.img, [np.stack([xs, ys], axis=1)], False, _color(name),
                          1 if c == 0 else 2, cv2.LINE_AA)

    def lane(self, row: int, name: str, spans: Sequence[Span]) -> None:
        """Event lane ``row`` under the plot: each (start, end, expression) in its colour."""
        y0 = self.bottom + 4 + row * (LANE_PX + 2)
        y1 = y0 + LANE_PX - 1
        cv2.rectangle(self.img, (self.left, y0), (self.right, y1), (36, 36, 36), -1)
        self._text(name, (2, y1 - 3), _LABEL, scale=0.3)
        for t0, t1, expression in spans:
            self._band(t0, t1, y0, y1, _color(expression))

    def cursor(self, time_s: float) -> None:
        """A white vertical line at ``time_s`` across the plot and its lanes."""
        x = self.x_of(time_s)
        cv2.line(self.img, (x, self.top), (x, self.img.shape[0] - 18), (255, 255, 255), 1)

    def legend(self, class_names: Sequence[str]) -> None:
        """The class names in their colours, left to right at the top of the plot."""
        x = self.left + 6
        for name in class_names:
            self._text(name, (x, self.top + 12), _color(name), scale=0.4)
            x += 8 * len(name) + 14
