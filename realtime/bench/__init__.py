"""``python -m realtime bench``: where the live spotter's time goes, and how fast it is.

One run measures, on one clip (default: the built-in demo clip; ``--resize 640x480`` first
writes a resized copy so decoding costs what a 640x480 stream costs):

1. **Stages** of the live path, called one after another on one thread (one
   :meth:`Spotter.process <realtime.spotter.Spotter.process>` per frame), each timed per frame
   after a warm-up: decode, face detect / track, crop (box smoothing, cut, resize), backbone
   (one frame), head (one window), merge; and the per-window inference (backbone of the new
   frame + head, i.e. one :meth:`Engine.push`). p50 / p95 / p99 in ms.
2. **Modes** on the same face crops, several interleaved runs each: ``cached`` (backbone once per
   frame, head per window), ``window`` (whole-window graph per step), ``cached-int8`` (int8
   backbone, when ``backbone_int8.onnx`` is there) and ``eager`` (the PyTorch model run on the
   whole window every step, the authors' way; only when torch is installed, loaded by module
   name from ``export.bench_reference``: this package never imports torch). Windows/s (median
   of the runs) and per-window latency, with the ratios side by side.
3. **End to end**: the real :class:`~realtime.spotter.Spotter` on a real source (capture thread,
   bounded queue) as fast as it goes, frame by frame (the live path) and in batches (the path
   for recorded files). Frames/s, median of the runs.
4. **Live**: a simulated 30 fps camera (a paced source with live semantics: drop-oldest queue)
   through the spotter frame by frame: dropped frames, capture-to-result lag, and the event
   delay (frames and ms from the capture of a segment's last frame to its event).
5. **Memory**: peak RSS, and RSS growth over a long frame-by-frame run (default 20,000 frames,
   the clip looped): RSS at the end minus RSS after the warm-up.

Writes a Markdown table (``--md``), the full numbers as JSON (``--json``) and a latency
histogram (``--png``), and checks the speed targets (ratios measured in the same run).

Layout: :mod:`~realtime.bench.config` (settings, targets), :mod:`~realtime.bench.clips` (the clip
looped, resized, played as a live camera), :mod:`~realtime.bench.measurements` (stages, end to
end, live, memory), :mod:`~realtime.bench.modes` (the mode comparison),
:mod:`~realtime.bench.report` (ratios, targets, Markdown, histogram),
:mod:`~realtime.bench.runner` (one whole run) and :mod:`~realtime.bench.cli` (the command).
"""

from __future__ import annotations

from realtime.bench.cli import add_arguments, run
from realtime.bench.clips import LoopingClip
from realtime.bench.config import BenchConfig, BenchError
from realtime.bench.report import format_markdown, write_histogram
from realtime.bench.runner import run_bench

__all__ = ["BenchConfig", "BenchError", "LoopingClip", "add_arguments", "format_markdown", "run",
           "run_bench", "write_histogram"]
