"""A model on videos: per-frame class probabilities through PyTorch or the exported graphs.

Each frame whose K-frame window has a face on every frame (:func:`export.videos.full_windows`)
gets the probabilities of the window it is the middle of; the first and last K//2 frames, and
windows that touch a frame without a face, are "none". The ONNX path is the live engine's batch
path (:meth:`realtime.engine.Engine.run_batch`), so evaluation scores what the spotter runs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from export.evaluate.report import Report, VideoPrediction, evaluate_predictions
from export.videos import TrainVideo, face_runs, full_windows


class Predictor(Protocol):
    """Window class probabilities of one video's crops."""

    window: int  # K
    class_names: tuple[str, ...]
    applies_input_transform: bool  # True: feed raw crops (it applies the model's transform)

    def window_probs(self, crops: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """``(W, Q)`` probabilities of the windows ``full_windows(valid, K)``, in that order."""
        ...


class TorchPredictor:
    """A PyTorch model (backbone once per face frame, head per window), fed the model's input."""

    applies_input_transform = False

    def __init__(self, model: Any, device: Any = None, batch_frames: int = 64,
                 batch_windows: int = 256) -> None:
        import torch

        self.model = model
        self.device = device or torch.device("cpu")
        self.batch_frames, self.batch_windows = batch_frames, batch_windows
        self.window: int = model.config.window
        self.class_names: tuple[str, ...] = tuple(model.config.class_names)

    def window_probs(self, crops: np.ndarray, valid: np.ndarray) -> np.ndarray:
        import torch

        k = self.window
        starts = full_windows(valid, k)
        if not len(starts):
            return np.zeros((0, len(self.class_names)), np.float32)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                idx = np.flatnonzero(valid)
                found = self._features(crops[idx])
                feats = np.zeros((len(crops), *found.shape[1:]), np.float32)
                feats[idx] = found
                out = [self._head(feats[s[:, None] + np.arange(k)])
                       for s in np.split(starts, range(self.batch_windows, len(starts),
                                                       self.batch_windows))]
        finally:
            self.model.train(was_training)
        return np.concatenate(out)

    def _features(self, crops: np.ndarray) -> np.ndarray:
        import torch

        out = []
        for i in range(0, len(crops), self.batch_frames):
            x = torch.from_numpy(crops[i:i + self.batch_frames]).float().div_(255).unsqueeze(1)
            out.append(self.model.backbone(x.to(self.device)).float().cpu().numpy())
        return np.concatenate(out)

    def _head(self, windows: np.ndarray) -> np.ndarray:
        import torch

        logits, _ = self.model.head(torch.from_numpy(windows).to(self.device))
        return torch.softmax(logits.float(), 1).cpu().numpy()


class OnnxPredictor:
    """The exported graphs in ``graph_dir`` through the live engine (CPU, cached mode).

    The engine applies the graphs' input transform itself, so it is fed raw crops; each run of
    consecutive face frames is one face track (the reference restarts after a frame without a
    face, as in :func:`realtime.reference.transform_video`).
    """

    applies_input_transform = True

    def __init__(self, graph_dir: Path, batch_frames: int = 64, threads: int | None = None
                 ) -> None:
        from realtime.engine import Engine

        # backbone.onnx by name: a folder's int8 backbone (the live CPU default) is evaluated
        # through `export quantize --eval-folder`, whose backbone.onnx is the int8 graph.
        self.engine = Engine(graph_dir, provider="cpu", mode="cached", warmup=False,
                             threads=threads, backbone_file="backbone.onnx")
        self.batch = batch_frames
        self.window: int = self.engine.window
        self.class_names: tuple[str, ...] = tuple(self.engine.class_names)
        self.input_transform = self.engine.input_transform

    def window_probs(self, crops: np.ndarray, valid: np.ndarray) -> np.ndarray:
        out = [np.zeros((0, len(self.class_names)), np.float32)]
        for start, stop in face_runs(valid, self.window):
            self.engine.reset()  # a new face track
            out.append(self.engine.run_batch(crops[start:stop], batch=self.batch).probs)
        return np.concatenate(out)


def predict_video(predictor: Predictor, crops: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``(N, Q)`` probabilities per frame; frames without a full face window get class "none"."""
    n, k = len(crops), predictor.window
    probs = np.zeros((n, len(predictor.class_names)), np.float32)
    probs[:, 0] = 1.0
    starts = full_windows(valid, k)
    if len(starts):
        rows = predictor.window_probs(crops, np.asarray(valid, bool))
        if len(rows) != len(starts):
            raise RuntimeError(f"predictor gave {len(rows)} windows for {len(starts)} "
                               "full face windows")
        probs[starts + k // 2] = rows
    return probs


def evaluate_videos(predictor: Predictor, videos: Sequence[TrainVideo],
                    iou: float = 0.5, progress: bool = False) -> Report:
    """Predict every video and score the result (:func:`evaluate_predictions`).
    ``progress`` shows a bar over the videos' frames on stderr (the model pass is the long
    part of an evaluation: minutes on a CPU)."""
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=sum(len(v.valid) for v in videos), unit="frame", desc="model",
                   file=sys.stderr, dynamic_ncols=True)
    predictions = []
    try:
        for v in videos:
            predictions.append(VideoPrediction(v.subject, v.video, v.fps, tuple(v.annotations),
                                               v.valid, predict_video(predictor, v.crops,
                                                                      v.valid)))
            if bar is not None:
                bar.set_postfix_str(f"{v.subject}/{v.video}", refresh=False)
                bar.update(len(v.valid))
    finally:
        if bar is not None:
            bar.close()
    return evaluate_predictions(predictions, predictor.class_names, iou)
