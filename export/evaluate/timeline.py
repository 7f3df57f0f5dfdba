"""Timeline plot of one video: class probabilities over time, ground truth and spotted bands."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from export.evaluate.report import VideoPrediction
from realtime.vocab import MACRO, MICRO, NO_EXPRESSION, Interval

COLORS = {MICRO: "tab:red", MACRO: "tab:blue", NO_EXPRESSION: "0.6"}


def plot_timeline(video: VideoPrediction, intervals: Sequence[Interval],
                  class_names: Sequence[str], path: Path) -> None:
    """Write a PNG: ``p(class)`` curves, ground truth (top band), ``intervals`` (bottom band)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    probs, fps = video.probs, video.fps
    t = np.arange(len(probs)) / fps
    fig, ax = plt.subplots(figsize=(12, 3))
    for c, name in enumerate(class_names):
        if name != NO_EXPRESSION:
            ax.plot(t, probs[:, c], color=COLORS[name], lw=0.8, label=f"p({name})")
    for a in video.annotations:
        ax.axvspan(a.onset / fps, (a.offset + 1) / fps, ymin=0.9, ymax=1.0,
                   color=COLORS[a.type], alpha=0.6)
    for i in intervals:
        ax.axvspan(i.onset / fps, (i.offset + 1) / fps, ymin=0.0, ymax=0.1,
                   color=COLORS[i.type], alpha=0.6)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("time (s)")
    ax.set_title(f"{video.subject}/{video.video}: ground truth (top band) vs spotted "
                 "(bottom band, merging)")
    ax.legend(loc="center right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
