"""The page's probability timeline: class probabilities of the last seconds as a small plot."""

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


class ProbabilityTimeline:
    """The class probabilities of the last ``span_s`` seconds, drawn as a small RGB plot."""

    def __init__(self, class_names: Sequence[str], span_s: float = 10.0,
                 threshold: float | None = None) -> None:
        self.class_names = tuple(class_names)
        self.span_s = float(span_s)
        self.threshold = threshold
        self._points: collections.deque[tuple[float, np.ndarray]] = collections.deque()
        self._lock = threading.Lock()
        self.latest_s: float | None = None

    def add(self, time_s: float, probs: np.ndarray) -> None:
        """Add the class probabilities classified at ``time_s``; forget points out of view."""
        with self._lock:
            self._points.append((float(time_s), np.asarray(probs, dtype=np.float32)))
            self.latest_s = float(time_s)
            while self._points and self._points[0][0] < time_s - self.span_s:
                self._points.popleft()

    def __len__(self) -> int:
        """Points kept: those of the last ``span_s`` seconds."""
        with self._lock:
            return len(self._points)

    def note_time(self, time_s: float) -> None:
        """Advance the right edge of the plot (time passes even when nothing is classified)."""
        with self._lock:
            if self.latest_s is None or time_s > self.latest_s:
                self.latest_s = float(time_s)

    def render(self, spans: Sequence[tuple[float, float, str]] = (), width_px: int = 640,
               height_px: int = 150) -> np.ndarray:
        """RGB uint8 image: one line per class, shaded event spans, the threshold (dashed)."""
        with self._lock:
            points = list(self._points)
            now = self.latest_s
        plot = _Plot(np.full((height_px, width_px, 3), 24, np.uint8), self.span_s,
                     end_s=now if now is not None else 0.0)
        plot.spans(spans)
        plot.axes()
        if self.threshold is not None:
            plot.threshold(self.threshold)
        if len(points) >= 2:
            plot.lines(points, self.class_names)
        plot.legend(self.class_names)
        return cv2.cvtColor(plot.img, cv2.COLOR_BGR2RGB)


def _color(name: str) -> tuple[int, int, int]:
    return EXPRESSION_COLORS.get(name, _UNKNOWN)


class _Plot:
    """One timeline image being drawn (BGR): the plot area's pixel box and the time -> x,
    probability -> y mapping of the ``span_s`` seconds that end at ``end_s``."""

    def __init__(self, img: np.ndarray, span_s: float, end_s: float) -> None:
        height_px, width_px = img.shape[:2]
        self.img = img
        self.span_s = span_s
        self.end_s = end_s
        self.start_s = end_s - span_s
        self.left, self.right, self.top, self.bottom = 34, width_px - 8, 8, height_px - 20

    def x_of(self, t: float) -> int:
        """Pixel column of media time ``t`` (seconds)."""
        return int(round(self.left + (t - self.start_s) / self.span_s * (self.right - self.left)))

    def y_of(self, p: float) -> int:
        """Pixel row of probability ``p`` (clipped to [0, 1])."""
        return int(round(self.bottom - float(np.clip(p, 0.0, 1.0)) * (self.bottom - self.top)))

    def _text(self, text: str, org: tuple[int, int], color: tuple[int, int, int],
              scale: float = 0.33) -> None:
        cv2.putText(self.img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, 1, cv2.LINE_AA)

    def spans(self, spans: Sequence[tuple[float, float, str]]) -> None:
        """Shade each (start s, end s, expression) span still in view, at least 1 px wide."""
        for t0, t1, expression in spans:
            if t1 < self.start_s:
                continue
            x0 = max(self.x_of(t0), self.left)
            x1 = max(min(self.x_of(t1), self.right), x0 + 1)
            cv2.rectangle(self.img, (x0, self.top), (x1, self.bottom),
                          tuple(c // 3 for c in _color(expression)), -1)

    def axes(self) -> None:
        """The frame, probability labels 0/0.5/1 and second ticks counted back from now."""
        cv2.rectangle(self.img, (self.left, self.top), (self.right, self.bottom), _FRAME, 1)
        for p in (0.0, 0.5, 1.0):
            self._text(f"{p:.1f}", (2, self.y_of(p) + 4), _LABEL)
        step = 2 if self.span_s <= 20 else 10
        for k in range(0, int(self.span_s) + 1, step):
            x = self.x_of(self.end_s - k)
            cv2.line(self.img, (x, self.bottom), (x, self.bottom + 3), _LABEL, 1)
            self._text("now" if k == 0 else f"-{k}s", (x - 10, self.img.shape[0] - 5), _LABEL)

    def threshold(self, threshold: float) -> None:
        """A dashed line at the class threshold."""
        y = self.y_of(threshold)
        for x in range(self.left, self.right, 8):
            cv2.line(self.img, (x, y), (min(x + 4, self.right), y), _DASH, 1)

    def lines(self, points: Sequence[tuple[float, np.ndarray]],
              class_names: Sequence[str]) -> None:
        """One line per class through the (time s, probabilities) points; "none" thinner."""
        xs = np.array([self.x_of(t) for t, _ in points], np.int32)
        probs = np.stack([p for _, p in points])
        for c, name in enumerate(class_names):
            ys = np.array([self.y_of(v) for v in probs[:, c]], np.int32)
            cv2.polylines(self.img, [np.stack([xs, ys], axis=1)], False, _color(name),
                          1 if c == 0 else 2, cv2.LINE_AA)

    def legend(self, class_names: Sequence[str]) -> None:
        """The class names in their colours, left to right at the top of the plot."""
        x = self.left + 6
        for name in class_names:
            self._text(name, (x, self.top + 12), _color(name), scale=0.4)
            x += 8 * len(name) + 14
