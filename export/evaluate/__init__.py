"""``python -m export evaluate``: score spotted intervals with the MEGC 2020 metric.

Interval-file mode (torch-free)::

    python -m export evaluate --gt GT.csv --pred PRED.csv [--iou 0.5] [--json]

Both files have the columns ``subject,video,onset,offset,type`` (inclusive 0-based frames,
type micro/macro; extra columns are ignored). Prints a table shaped like the paper's Table 2, or
its JSON form with ``--json``.

Model mode::

    python -m export evaluate --checkpoint FILE --data ROOT [--onnx DIR] [--out DIR]

runs a checkpoint (or, with ``--onnx``, its exported graphs through the live engine) on every
video frame by frame (:mod:`.predict`), post-processes the labels three ways and scores them
(:mod:`.report`); ``--out`` writes the tables, interval CSVs and timeline PNGs
(:mod:`.files`, :mod:`.timeline`). Importing this package does not import torch.
"""

from __future__ import annotations

from .cli import add_arguments, run
from .files import write_report
from .predict import OnnxPredictor, Predictor, TorchPredictor, evaluate_videos, predict_video
from .report import (
    VARIANTS,
    Report,
    VideoPrediction,
    evaluate_predictions,
    pool_reports,
)

__all__ = ["VARIANTS", "OnnxPredictor", "Predictor", "Report", "TorchPredictor",
           "VideoPrediction", "add_arguments", "evaluate_predictions", "evaluate_videos",
           "pool_reports", "predict_video", "run", "write_report"]
