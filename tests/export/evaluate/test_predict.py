"""Per-frame probabilities through PyTorch and through the exported graphs (the live engine)."""

from __future__ import annotations

import numpy as np

from export.checkpoint import model_from_checkpoint
from export.evaluate import OnnxPredictor, TorchPredictor, evaluate_videos, predict_video
from export.model import build_model
from export.videos import TrainVideo
from realtime.reference import transform_video


def _crops(n: int, seed: int = 0) -> np.ndarray:
    """A face-like drift: a smooth base image that brightens slowly, plus noise."""
    rng = np.random.default_rng(seed)
    base = rng.integers(60, 190, (1, 128, 128)).astype(np.float32)
    drift = np.linspace(0, 40, n, dtype=np.float32)[:, None, None]
    noise = rng.normal(0, 3, (n, 128, 128)).astype(np.float32)
    return np.clip(base + drift + noise, 0, 255).astype(np.uint8)


def test_predict_video_marks_only_full_face_windows() -> None:
    model = build_model(seed=0)
    crops = _crops(12)
    valid = np.ones(12, bool)
    valid[6] = False
    probs = predict_video(TorchPredictor(model), crops, valid)
    assert probs.shape == (12, 3)
    no_window = [0, 1, 4, 5, 6, 7, 8, 10, 11]  # edges and windows touching frame 6
    np.testing.assert_array_equal(probs[no_window], np.tile([1.0, 0, 0], (len(no_window), 1)))
    assert np.allclose(probs.sum(1), 1, atol=1e-5)
    assert model.training  # the predictor leaves the model's mode as it found it


def test_onnx_predictor_matches_torch_across_face_gaps(reference_exported_graphs) -> None:
    """Raw crops into the engine (it applies the reference difference, restarting the track at
    every gap) give the probabilities of PyTorch fed the transformed crops."""
    model, _ = model_from_checkpoint(reference_exported_graphs.checkpoint)
    onnx = OnnxPredictor(reference_exported_graphs.out_dir)
    assert onnx.applies_input_transform and not TorchPredictor.applies_input_transform
    assert onnx.input_transform == model.config.input_transform
    assert onnx.class_names == model.config.class_names
    crops = _crops(40, seed=1)
    valid = np.ones(40, bool)
    valid[[3, 17, 18, 30]] = False
    fed = transform_video(crops, valid, model.config.input_transform)
    torch_probs = predict_video(TorchPredictor(model), fed, valid)
    onnx_probs = predict_video(onnx, crops, valid)
    np.testing.assert_allclose(onnx_probs, torch_probs, rtol=1e-3, atol=1e-5)
    # a run shorter than K (frames 0-2) gives no window; every other run does
    assert (onnx_probs[:3] == [1, 0, 0]).all() and not (onnx_probs[4:17, 0] == 1).all()


def test_evaluate_videos_reports_in_the_models_classes() -> None:
    from export.model import ModelConfig

    model = build_model(ModelConfig(class_names=("none", "macro")), seed=2)
    video = TrainVideo("s1", "v1", _crops(20), np.ones(20, bool), np.zeros(20, np.int64), 30.0)
    report = evaluate_videos(TorchPredictor(model), [video])
    assert report.class_names == ("none", "macro")
    assert report.videos[0].probs.shape == (20, 2)
    assert all(i.type == "macro" for intervals in report.intervals.values() for i in intervals)


def test_evaluate_videos_shows_progress_over_the_videos_frames(capsys) -> None:
    """Issue 15: the model pass (minutes on a CPU) shows a bar counting frames per video."""
    model = build_model(seed=3)
    videos = [TrainVideo("s1", f"v{i}", _crops(12, seed=i), np.ones(12, bool),
                         np.zeros(12, np.int64), 30.0) for i in (1, 2)]
    quiet = evaluate_videos(TorchPredictor(model), videos)
    assert capsys.readouterr().err == ""  # no bar unless asked
    shown = evaluate_videos(TorchPredictor(model), videos, progress=True)
    err = capsys.readouterr().err
    assert "model" in err and "24/24" in err and "s1/v2" in err
    assert [v.video for v in shown.videos] == [v.video for v in quiet.videos] == ["v1", "v2"]
