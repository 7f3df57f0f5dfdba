"""What the engine returns: one window's result (:class:`WindowOutput`, from ``push``) and a
run of windows (:class:`BatchOutput`, from ``run_batch``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class WindowOutput:
    """Result of one window, for its middle frame.

    probs: (Q,) class probabilities, in ``class_names`` order ("none" first).
    keyframe_scores: (K,) key-frame scores of the window's frames, oldest first.
    key_indices: (M,) positions (0..K-1, ascending) of the chosen key frames in the window.
    frames_behind: how many pushes ago the middle frame was pushed ((K - 1) // 2).
    position: 0-based count of the middle frame among the frames pushed since the last reset.
    tag: whatever was passed as ``tag`` when the middle frame was pushed (e.g. its frame index
        and media time), so callers need no bookkeeping of their own.
    """

    probs: np.ndarray
    keyframe_scores: np.ndarray
    key_indices: np.ndarray
    frames_behind: int
    position: int
    tag: Any = None

    @property
    def label(self) -> int:
        """Argmax class index."""
        return int(np.argmax(self.probs))


@dataclass(frozen=True)
class BatchOutput:
    """Results of ``Engine.run_batch`` for N consecutive crops: one row per full window.

    Row i belongs to the window of crops i..i+K-1, i.e. to middle crop ``i + first_middle``.
    Empty (0 rows) when N < K.
    """

    probs: np.ndarray  # (N - K + 1, Q)
    keyframe_scores: np.ndarray  # (N - K + 1, K)
    key_indices: np.ndarray  # (N - K + 1, M)
    first_middle: int  # (K - 1) // 2

    def __len__(self) -> int:
        """Rows: full windows, N - K + 1 (0 when N < K)."""
        return int(self.probs.shape[0])
