"""ONNX export: valid graphs, shared weights, and parity with PyTorch on random and real faces."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from export.__main__ import main
from export.checkpoint import model_from_checkpoint
from export.model import STSNetSW, count_parameters, select_key_frames
from export.onnx_export import SHARED_WEIGHTS_FILE, export_checkpoint
from realtime import contract as C
from tests.conftest import ExportedGraphs

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
PARITY_ATOL = 1e-4


@pytest.fixture(scope="module")
def torch_model(exported_graphs: ExportedGraphs) -> STSNetSW:
    return model_from_checkpoint(exported_graphs.checkpoint)[0]


@pytest.fixture(scope="module")
def sessions(exported_graphs: ExportedGraphs) -> dict[str, ort.InferenceSession]:
    return {kind: ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            for kind, path in exported_graphs.graphs.items()}


def _gray_crop(image_bgr: np.ndarray, x0: int, y0: int, side_px: int) -> np.ndarray:
    crop = image_bgr[y0:y0 + side_px, x0:x0 + side_px]
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    return cv2.resize(gray, (128, 128), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def _video_windows() -> np.ndarray:
    """Two windows of 5 consecutive face crops from a real talking-face video."""
    video = REAL / "single_face.mp4"
    if not video.is_file():
        pytest.skip(f"real test media not available ({video})")
    cap = cv2.VideoCapture(str(video))
    frames = []
    try:
        while len(frames) < 10:
            ok, frame = cap.read()
            assert ok, f"could not read 10 frames from {video}"
            frames.append(_gray_crop(frame, 180, 70, 240))  # the face in this 640x360 clip
    finally:
        cap.release()
    return np.stack(frames).reshape(2, 5, 1, 128, 128)


def _portrait_windows() -> np.ndarray:
    """One window from a portrait photo, the crop moving 2 px per frame (a small head motion)."""
    import matplotlib.cbook

    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    image = cv2.imread(str(path))
    assert image is not None, path
    crops = [_gray_crop(image, 130 + 2 * t, 120 + t, 260) for t in range(5)]
    return np.stack(crops).reshape(1, 5, 1, 128, 128)


def _random_windows(batch: int) -> np.ndarray:
    return np.random.default_rng(batch).random((batch, 5, 1, 128, 128), dtype=np.float32)


def _check_parity(model: STSNetSW, sessions: dict[str, ort.InferenceSession],
                  windows: np.ndarray) -> None:
    b = windows.shape[0]
    frames = windows.reshape(b * 5, 1, 128, 128)
    with torch.no_grad():
        feats = model.backbone(torch.from_numpy(frames))
        logits, scores = model.head(feats.reshape(b, 5, *feats.shape[1:]))
        selector_logits = model.head.selector(feats.reshape(b, 5, *feats.shape[1:])
                                              .mean(dim=(3, 4)))
    probs = torch.softmax(logits, dim=1).numpy()
    key_idx = select_key_frames(selector_logits, 3).numpy()

    (onnx_feats,) = sessions["backbone"].run(None, {C.BACKBONE_INPUT: frames})
    np.testing.assert_allclose(onnx_feats, feats.numpy(), atol=PARITY_ATOL * 10, rtol=1e-4)

    head_out = sessions["head"].run(None, {C.HEAD_INPUT: feats.reshape(b, 5, 512, 4, 4).numpy()})
    window_out = sessions["window"].run(None, {C.WINDOW_INPUT: windows})
    split_out = sessions["head"].run(None, {C.HEAD_INPUT: onnx_feats.reshape(b, 5, 512, 4, 4)})
    for out in (head_out, window_out, split_out):
        got_probs, got_scores, got_idx = out
        assert got_probs.shape == (b, 3) and got_scores.shape == (b, 5)
        assert np.abs(got_probs - probs).max() <= PARITY_ATOL
        assert np.abs(got_scores - scores.numpy()).max() <= PARITY_ATOL
        assert got_idx.dtype == np.int64
        np.testing.assert_array_equal(got_idx, key_idx)
    # the live split (backbone graph then head graph) is the whole-window graph
    assert np.abs(split_out[0] - window_out[0]).max() <= 1e-5
    assert np.abs(split_out[1] - window_out[1]).max() <= 1e-5


@pytest.mark.parametrize("batch", [1, 7])
def test_parity_on_random_windows_and_dynamic_batch(torch_model: STSNetSW, sessions: dict,
                                                    batch: int) -> None:
    _check_parity(torch_model, sessions, _random_windows(batch))


def test_parity_with_a_saturated_key_frame_selector(tmp_path: Path) -> None:
    # Trained on SynthME the selector's sigmoid scores end near 1e-6 for every frame; float32
    # sigmoids there tie in ONNX Runtime, so the graphs must rank frames by the logits as
    # PyTorch does, or they pick other key frames (found on the v0.2 training run).
    from export.checkpoint import save_checkpoint
    from export.model import build_model

    model = build_model(seed=3).eval()
    with torch.no_grad():
        model.head.selector.l2.bias.fill_(-13.8)
        model.head.selector.l2.weight.mul_(0.01)
    ckpt = save_checkpoint(tmp_path / "saturated.pt", model)
    graphs = export_checkpoint(ckpt, tmp_path / "g")
    sess = {kind: ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            for kind, path in graphs.items()}
    windows = _random_windows(6)
    with torch.no_grad():
        feats = model.backbone(torch.from_numpy(windows.reshape(30, 1, 128, 128)))
        _, scores = model.head(feats.reshape(6, 5, *feats.shape[1:]))
    assert scores.max() < 1e-5  # saturated, as after training
    _check_parity(model, sess, windows)


@pytest.mark.parametrize("source", ["video", "portrait"])
def test_parity_on_real_face_crops(torch_model: STSNetSW, sessions: dict, source: str) -> None:
    windows = _video_windows() if source == "video" else _portrait_windows()
    assert 0.05 < windows.mean() < 0.95 and windows.std() > 0.05  # a real image, not blank
    _check_parity(torch_model, sessions, windows)


def test_graphs_pass_the_onnx_checker(exported_graphs: ExportedGraphs) -> None:
    for path in exported_graphs.graphs.values():
        onnx.checker.check_model(str(path))
        proto = onnx.load(str(path), load_external_data=False)
        assert any(p.key == C.CONTRACT_KEY for p in proto.metadata_props), path


def test_weights_are_stored_once_and_the_folder_moves_as_a_whole(
        exported_graphs: ExportedGraphs, torch_model: STSNetSW, tmp_path: Path) -> None:
    files = {p.name: p.stat().st_size for p in exported_graphs.out_dir.iterdir()}
    assert set(files) == {"backbone.onnx", "head.onnx", "stsnet_sw.onnx", SHARED_WEIGHTS_FILE}
    one_set_bytes = 4 * count_parameters(torch_model)
    assert files[SHARED_WEIGHTS_FILE] <= 1.05 * one_set_bytes  # not 2x: stored once
    assert sum(files.values()) < 60e6
    for name in C.GRAPH_FILES.values():
        assert files[name] < 1e6, f"{name} embeds weights"
    moved = tmp_path / "moved"
    shutil.copytree(exported_graphs.out_dir, moved)
    window = _random_windows(2)
    expected = ort.InferenceSession(str(exported_graphs.window)).run(None, {"windows": window})
    got = ort.InferenceSession(str(moved / "stsnet_sw.onnx")).run(None, {"windows": window})
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a, b)


def test_export_without_shared_weights_embeds_them(exported_graphs: ExportedGraphs,
                                                   tmp_path: Path) -> None:
    paths = export_checkpoint(exported_graphs.checkpoint, tmp_path, share_weights=False)
    assert not (tmp_path / SHARED_WEIGHTS_FILE).exists()
    feats = np.random.default_rng(0).random((2, 5, 512, 4, 4), dtype=np.float32)
    embedded = ort.InferenceSession(str(paths["head"])).run(None, {"features": feats})
    shared = ort.InferenceSession(str(exported_graphs.head)).run(None, {"features": feats})
    for a, b in zip(embedded, shared):
        np.testing.assert_array_equal(a, b)


def test_cli_exports_the_same_graphs(exported_graphs: ExportedGraphs, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "graphs"
    assert main(["onnx", "--checkpoint", str(exported_graphs.checkpoint), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in (*C.GRAPH_FILES.values(), SHARED_WEIGHTS_FILE):
        assert name in printed
        # the export is deterministic: the same checkpoint gives byte-identical files
        assert (out / name).read_bytes() == (exported_graphs.out_dir / name).read_bytes(), name


def test_cli_bad_checkpoint_exits_2_with_a_message(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.pt"
    assert main(["onnx", "--checkpoint", str(missing), "--out", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # issue 12 item 9: errors go to stderr
    assert "error" in captured.err and str(missing) in captured.err
    assert "not found" in captured.err
    assert not (tmp_path / "out").exists()
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    assert main(["onnx", "--checkpoint", str(junk), "--out", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and str(junk) in captured.err


@pytest.mark.parametrize("case", ["missing", "folder", "out_is_a_file"])
def test_cli_cheap_checks_come_before_torch(case: str, tmp_path: Path) -> None:
    """Issue 12 item 9: a bad path is reported at once, without importing torch (~30 s)."""
    import subprocess
    import sys

    checkpoint, out = tmp_path / "nope.pt", tmp_path / "out"
    if case == "folder":
        checkpoint.mkdir()
    elif case == "out_is_a_file":
        checkpoint.write_bytes(b"x")
        out.write_text("a file")
    code = ("import sys; from export.__main__ import main; "
            f"rc = main(['onnx', '--checkpoint', {str(checkpoint)!r}, '--out', {str(out)!r}]); "
            "print('torch' in sys.modules); sys.exit(rc)")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stdout.strip() == "False"  # torch never imported
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: ") and str(checkpoint if case != "out_is_a_file" else out
                                              ) in line
