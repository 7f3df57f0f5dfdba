"""The page's probability timeline: class probabilities of the last seconds as a small plot."""

from __future__ import annotations

import collections
import threading
from collections.abc import Sequence

import cv2
import numpy as np

from realtime.overlay import EXPRESSION_COLORS


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
        with self._lock:
            self._points.append((float(time_s), np.asarray(probs, dtype=np.float32)))
            self.latest_s = float(time_s)
            while self._points and self._points[0][0] < time_s - self.span_s:
                self._points.popleft()

    def note_time(self, time_s: float) -> None:
        """Advance the right edge of the plot (time passes even when nothing is classified)."""
        with self._lock:
            if self.latest_s is None or time_s > self.latest_s:
                self.latest_s = float(time_s)

    def render(self, spans: Sequence[tuple[float, float, str]] = (), width_px: int = 640,
               height_px: int = 150) -> np.ndarray:
        """RGB uint8 image: one line per class, shaded event spans, the threshold (dashed)."""
        img = np.full((height_px, width_px, 3), 24, np.uint8)
        left, right, top, bottom = 34, width_px - 8, 8, height_px - 20
        with self._lock:
            points = list(self._points)
            now = self.latest_s
        end = now if now is not None else 0.0
        start = end - self.span_s

        def x_of(t: float) -> int:
            return int(round(left + (t - start) / self.span_s * (right - left)))

        def y_of(p: float) -> int:
            return int(round(bottom - float(np.clip(p, 0.0, 1.0)) * (bottom - top)))

        for t0, t1, expression in spans:
            if t1 < start:
                continue
            color = EXPRESSION_COLORS.get(expression, (200, 200, 200))
            x0, x1 = max(x_of(t0), left), max(min(x_of(t1), right), max(x_of(t0), left) + 1)
            cv2.rectangle(img, (x0, top), (x1, bottom), tuple(c // 3 for c in color), -1)
        cv2.rectangle(img, (left, top), (right, bottom), (90, 90, 90), 1)
        for p in (0.0, 0.5, 1.0):
            cv2.putText(img, f"{p:.1f}", (2, y_of(p) + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.33,
                        (170, 170, 170), 1, cv2.LINE_AA)
        step = 2 if self.span_s <= 20 else 10
        for k in range(0, int(self.span_s) + 1, step):
            x = x_of(end - k)
            cv2.line(img, (x, bottom), (x, bottom + 3), (170, 170, 170), 1)
            cv2.putText(img, "now" if k == 0 else f"-{k}s", (x - 10, height_px - 5),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.33, (170, 170, 170), 1, cv2.LINE_AA)
        if self.threshold is not None:
            y = y_of(self.threshold)
            for x in range(left, right, 8):
                cv2.line(img, (x, y), (min(x + 4, right), y), (220, 220, 220), 1)
        if len(points) >= 2:
            xs = np.array([x_of(t) for t, _ in points], np.int32)
            probs = np.stack([p for _, p in points])
            for c, name in enumerate(self.class_names):
                ys = np.array([y_of(v) for v in probs[:, c]], np.int32)
                color = EXPRESSION_COLORS.get(name, (200, 200, 200))
                cv2.polylines(img, [np.stack([xs, ys], axis=1)], False, color,
                              1 if c == 0 else 2, cv2.LINE_AA)
        x = left + 6
        for name in self.class_names:
            color = EXPRESSION_COLORS.get(name, (200, 200, 200))
            cv2.putText(img, name, (x, top + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1,
                        cv2.LINE_AA)
            x += 8 * len(name) + 14
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
