"""int8 backbone: static quantization calibrated on face crops, the graph it writes (loads, carries
the contract, self-contained, close to fp32), the engine running on it, calibration sources, and
the F1 gate that decides whether it is offered.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from export.__main__ import main
from export.quantize import (
    INT8_BACKBONE_FILE,
    GateResult,
    QuantizeError,
    collect_calibration_crops,
    compare_to_fp32,
    int8_gate,
    overall_f1_by_variant,
    quantize_backbone,
)
from realtime import contract as C
from realtime.engine import Engine
from realtime.face import FaceCropConfig, FaceCropper
from tests.media import write_video
from tests.realtime.test_spotter import face_clip


@pytest.fixture(scope="module")
def face_crops() -> np.ndarray:
    """Consecutive face crops of the swaying-portrait clip, as the live spotter cuts them."""
    with FaceCropper(FaceCropConfig()) as cropper:
        crops = [cropper.process(im).crop for im in face_clip(24)]
    assert all(c is not None for c in crops)
    return np.stack(crops)


@pytest.fixture(scope="module")
def int8_graph(exported_graphs, face_crops, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("int8") / INT8_BACKBONE_FILE
    return quantize_backbone(exported_graphs.out_dir, face_crops[::2], out)


def test_int8_graph_is_self_contained_and_carries_the_contract(int8_graph: Path,
                                                               exported_graphs) -> None:
    proto = onnx.load(str(int8_graph), load_external_data=False)
    external = [t.name for t in proto.graph.initializer
                if t.data_location == onnx.TensorProto.EXTERNAL]
    assert external == []
    ops = {n.op_type for n in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    int8_weights = [t for t in proto.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert len(int8_weights) >= 20  # every convolution's weights (ResNet-18 + stem: 20)
    _, contract = C.open_graph(int8_graph, "backbone")
    _, fp32 = C.open_graph(exported_graphs.backbone, "backbone")
    _, head = C.open_graph(exported_graphs.head, "head")
    C.check_pair(contract, head)
    assert contract.checkpoint_sha256 == fp32.checkpoint_sha256
    q = contract.model["quantization"]
    assert q["weights"] == "int8, per channel" and q["calibration_crops"] == 12
    # Much smaller than the fp32 backbone's share of the weights (4 bytes per weight).
    assert int8_graph.stat().st_size < 0.4 * 4 * 11.2e6


def test_int8_probabilities_close_to_fp32(exported_graphs, int8_graph: Path,
                                          face_crops: np.ndarray) -> None:
    diff = compare_to_fp32(exported_graphs.out_dir, int8_graph, face_crops)
    assert diff["feature_rel_err"] < 0.1
    assert diff["probs_max_abs_diff"] < 0.05
    assert diff["argmax_agreement"] >= 0.9


def test_engine_streams_with_the_int8_backbone(exported_graphs, int8_graph: Path,
                                               face_crops: np.ndarray) -> None:
    fp = Engine(exported_graphs.out_dir, provider="cpu")
    i8 = Engine(exported_graphs.out_dir, provider="cpu", backbone_file=int8_graph)
    assert "backbone=backbone_int8.onnx" in i8.describe()
    for crop in face_crops:
        a, b = fp.push(crop), i8.push(crop)
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(b.probs, a.probs, atol=0.05)
            assert b.position == a.position
    with pytest.raises(Exception, match="missing"):
        Engine(exported_graphs.out_dir, provider="cpu", backbone_file="nothere.onnx")
    with pytest.raises(ValueError, match="backbone_file"):
        Engine(exported_graphs.out_dir, provider="cpu", backbone_file="  ")


def test_a_folders_int8_backbone_is_the_cpu_default(exported_graphs, int8_graph: Path,
                                                    tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "weights"
    shutil.copytree(exported_graphs.out_dir, folder)
    assert Engine(folder, provider="cpu").backbone_path.name == "backbone.onnx"  # none there
    shutil.copy(int8_graph, folder / INT8_BACKBONE_FILE)
    default = Engine(folder, provider="cpu")
    assert default.backbone_path.name == INT8_BACKBONE_FILE
    assert "backbone=backbone_int8.onnx" in default.describe()
    fp32 = Engine(folder, provider="cpu", backbone_file="backbone.onnx")
    assert fp32.backbone_path.name == "backbone.onnx"
    assert Engine(folder, provider="cpu", mode="window").mode == "window"  # no backbone used


def _write_cache(folder: Path, lengths: list[int], valid_every: int = 2) -> None:
    rng = np.random.default_rng(0)
    for v, n in enumerate(lengths):
        crops = rng.integers(0, 256, (n, 128, 128), dtype=np.uint8)
        crops[:, 0, 0] = v  # video id
        crops[:, 0, 1] = np.arange(n) % 256  # frame id
        valid = np.arange(n) % valid_every == 0
        sub = folder / f"s{v:02d}"
        sub.mkdir(parents=True)
        np.savez(sub / f"v{v}.npz", crops=crops, valid=valid)


def test_calibration_crops_from_a_cache_spread_over_videos(tmp_path: Path) -> None:
    _write_cache(tmp_path, [40, 120])
    crops = collect_calibration_crops(tmp_path, 128, 16)
    assert crops.shape == (16, 128, 128) and crops.dtype == np.uint8
    assert set(np.unique(crops[:, 0, 1] % 2)) == {0}  # valid (even) frames only
    per_video = np.bincount(crops[:, 0, 0], minlength=2)
    assert per_video[0] >= 3 and per_video[1] >= 10  # in proportion to the videos' lengths
    # One .npz file works too.
    one = collect_calibration_crops(tmp_path / "s00" / "v0.npz", 128, 5)
    assert len(one) == 5 and set(one[:, 0, 0]) == {0}


def test_calibration_inputs_of_a_reference_difference_model(tmp_path: Path) -> None:
    from realtime.reference import InputTransform, transform_video

    _write_cache(tmp_path, [30], valid_every=1)
    transform = InputTransform(tau_frames=10)
    got = collect_calibration_crops(tmp_path, 128, 15, transform=transform)
    with np.load(tmp_path / "s00" / "v0.npz") as z:
        crops, valid = z["crops"], z["valid"]
    # the whole video is transformed as one track, then the picks are made
    expected = transform_video(crops, valid, transform)
    expected = expected[np.linspace(0, 29, 15).round().astype(int)]
    np.testing.assert_array_equal(got, expected)
    assert not np.array_equal(got, crops[np.linspace(0, 29, 15).round().astype(int)])


def test_calibration_crops_from_a_video(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "face.mp4", face_clip(12))
    crops = collect_calibration_crops(clip, 128, 6)
    assert crops.shape == (6, 128, 128)


def test_calibration_source_errors(tmp_path: Path) -> None:
    with pytest.raises(QuantizeError, match="does not exist"):
        collect_calibration_crops(tmp_path / "nothing", 128, 8)
    _write_cache(tmp_path / "c", [10], valid_every=10_000)
    np.savez(tmp_path / "c" / "s00" / "v0.npz", crops=np.zeros((4, 128, 128), np.uint8),
             valid=np.zeros(4, bool))
    with pytest.raises(QuantizeError, match="no face crops"):
        collect_calibration_crops(tmp_path / "c", 128, 8)
    np.savez(tmp_path / "bad.npz", crops=np.zeros((4, 64, 64), np.uint8))
    with pytest.raises(QuantizeError, match="take"):
        collect_calibration_crops(tmp_path / "bad.npz", 128, 8)
    with pytest.raises(ValueError, match="count"):
        collect_calibration_crops(tmp_path / "bad.npz", 128, 0)


def test_quantize_rejects_bad_input(exported_graphs, tmp_path: Path) -> None:
    with pytest.raises(QuantizeError, match="not found"):
        quantize_backbone(tmp_path, np.zeros((4, 128, 128), np.uint8))
    with pytest.raises(ValueError, match="calib_crops"):
        quantize_backbone(exported_graphs.out_dir, np.zeros((4, 64, 64), np.uint8),
                          tmp_path / "x.onnx")
    with pytest.raises(ValueError, match="quant_format"):
        quantize_backbone(exported_graphs.out_dir, np.zeros((4, 128, 128), np.uint8),
                          tmp_path / "x.onnx", quant_format="int4")


# ----------------------------------------------------------------------------- the F1 gate


def _results(f1: dict[str, float]) -> dict:
    """results.json of `python -m export evaluate --out DIR` with these overall F1 values."""
    def score(v: float) -> dict:
        counts = {"tp": 1, "fp": 1, "fn": 1, "precision": v, "recall": v, "f1": v}
        return {"iou_threshold": 0.5, "macro": counts, "micro": counts, "overall": counts}
    return {"scores": {name: score(v) for name, v in f1.items()}, "videos": ["s1/v1"]}


@pytest.mark.parametrize("fp32, int8, passed", [
    (0.50, 0.50, True),
    (0.50, 0.495, True),
    (0.50, 0.49, True),  # a drop of exactly 0.01 is allowed
    (0.50, 0.4899, False),
    (0.30, 0.45, True),  # int8 better
    (0.0, 0.0, True),
])
def test_gate_threshold(fp32: float, int8: float, passed: bool) -> None:
    r = int8_gate(_results({"merging": fp32}), _results({"merging": int8}))
    assert isinstance(r, GateResult) and r.passed is passed
    assert r.worst_drop == pytest.approx(fp32 - int8)


def test_gate_needs_every_variant_to_pass(tmp_path: Path) -> None:
    fp = _results({"no merging": 0.40, "merging": 0.50, "duration relabel": 0.52})
    ok = _results({"no merging": 0.40, "merging": 0.495, "duration relabel": 0.52})
    bad = _results({"no merging": 0.38, "merging": 0.50, "duration relabel": 0.52})
    assert int8_gate(fp, ok).passed
    r = int8_gate(fp, bad)
    assert not r.passed and r.worst_drop == pytest.approx(0.02)
    assert "FAIL" in r.describe() and "NOT offered" in r.describe()
    assert int8_gate(fp, bad, variants=["merging"]).passed
    assert not int8_gate(fp, ok, max_drop=0.001).passed


def test_gate_reads_files_in_both_formats(tmp_path: Path) -> None:
    a, b = tmp_path / "fp32.json", tmp_path / "int8.json"
    a.write_text(json.dumps(_results({"merging": 0.6})))
    single = _results({"x": 0.595})["scores"]["x"]  # `evaluate --json` prints one score
    b.write_text(json.dumps(single))
    assert overall_f1_by_variant(json.loads(b.read_text())) == {"overall": 0.595}
    with pytest.raises(QuantizeError, match="not in both"):
        int8_gate(a, b)
    b.write_text(json.dumps(_results({"merging": 0.595})))
    assert int8_gate(a, b).passed


def test_gate_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(QuantizeError, match="not valid JSON"):
        int8_gate(bad, bad)
    with pytest.raises(QuantizeError, match="cannot read"):
        int8_gate(tmp_path / "none.json", bad)
    with pytest.raises(QuantizeError, match="overall"):
        int8_gate({"scores": {"merging": {"micro": {}}}}, _results({"merging": 0.5}))
    with pytest.raises(QuantizeError, match=r"not in \[0, 1\]"):
        int8_gate(_results({"merging": 1.5}), _results({"merging": 0.5}))
    with pytest.raises(ValueError, match="max_drop"):
        int8_gate(_results({"m": 0.5}), _results({"m": 0.5}), max_drop=-0.1)


def test_gate_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fp, good, bad = tmp_path / "fp.json", tmp_path / "good.json", tmp_path / "bad.json"
    fp.write_text(json.dumps(_results({"merging": 0.5})))
    good.write_text(json.dumps(_results({"merging": 0.499})))
    bad.write_text(json.dumps(_results({"merging": 0.45})))
    assert main(["quantize", "--gate", str(fp), str(good)]) == 0
    assert "PASS" in capsys.readouterr().out
    assert main(["quantize", "--gate", str(fp), str(bad)]) == 1
    assert "FAIL" in capsys.readouterr().out
    assert main(["quantize", "--gate", str(fp), str(tmp_path / "none.json")]) == 2
    assert capsys.readouterr().err.startswith("error:")


def test_quantize_cli_writes_graph_and_eval_folder(exported_graphs, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    clip = write_video(tmp_path / "face.mp4", face_clip(10))
    out, folder = tmp_path / "out", tmp_path / "eval"
    rc = main(["quantize", "--graphs", str(exported_graphs.out_dir), "--calib", str(clip),
               "--count", "8", "--out", str(out), "--eval-folder", str(folder)])
    text = capsys.readouterr()
    assert rc == 0, text.err
    assert (out / INT8_BACKBONE_FILE).is_file() and "int8 backbone ->" in text.out
    assert (folder / "backbone.onnx").read_bytes() == (out / INT8_BACKBONE_FILE).read_bytes()
    engine = Engine(folder, provider="cpu")  # opens the int8 graph under the standard name
    assert engine.contract.checkpoint_sha256 == C.open_graph(
        exported_graphs.head, "head")[1].checkpoint_sha256
    assert main(["quantize", "--graphs", str(exported_graphs.out_dir)]) == 2
    assert "--calib" in capsys.readouterr().err
