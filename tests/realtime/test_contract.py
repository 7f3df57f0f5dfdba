"""The export/realtime contract: metadata round trip, and refusal of stale, foreign or bad graphs.

Also checks that the live half never imports torch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from realtime import contract as C
from tests.conftest import ExportedGraphs

ROOT = Path(__file__).resolve().parents[2]


def _contract(**changes: object) -> C.Contract:
    ins, outs = C.expected_specs("head", 5, 3, 128, (512, 4, 4), 3)
    base = C.Contract(graph="head", inputs=ins, outputs=outs, window=5, key_frames=3,
                      crop_size=128, feature_shape=(512, 4, 4),
                      class_names=("none", "micro", "macro"), input_mean=0.5, input_std=0.5,
                      checkpoint_sha256="ab" * 32, exporter="test", opset=17,
                      model={"config": {"window": 5}, "metadata": {"uf1": 0.5}})
    return dataclasses.replace(base, **changes)


def _identity_graph(path: Path, metadata: dict[str, str] | None = None) -> Path:
    """A tiny valid ONNX file that is not one of ours (optionally with given metadata)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "tiny", [x], [y])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))
    return path


# --- the JSON document ---------------------------------------------------------------------


def test_contract_json_round_trip() -> None:
    contract = _contract()
    again = C.Contract.from_json(contract.to_json())
    assert again == contract
    assert isinstance(again.feature_shape, tuple) and isinstance(again.class_names, tuple)
    assert again.inputs[0].shape == ("batch", 5, 512, 4, 4)


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not a JSON object"),
    (json.dumps({"contract_version": C.CONTRACT_VERSION, "graph": "head"}), "lacks fields"),
    (json.dumps({**json.loads(_contract().to_json()), "window": "five"}), "malformed"),
])
def test_bad_contract_documents(text: str, message: str) -> None:
    with pytest.raises(C.ContractError, match=f"my.onnx: .*{message}"):
        C.Contract.from_json(text, source="my.onnx")


def test_newer_contract_version_asks_for_a_re_export() -> None:
    text = _contract(contract_version=C.CONTRACT_VERSION + 1).to_json()
    with pytest.raises(C.ContractError, match=r"contract version 2.*re-export"):
        C.Contract.from_json(text)


def test_check_contract_names_what_is_wrong() -> None:
    C.check_contract(_contract(), "head")
    with pytest.raises(C.ContractError, match="graph kind is 'head', expected 'window'"):
        C.check_contract(_contract(), "window")
    bad_outputs = (_contract().outputs[0], _contract().outputs[1])
    with pytest.raises(C.ContractError, match="output names"):
        C.check_contract(_contract(outputs=bad_outputs), "head")
    with pytest.raises(C.ContractError, match="K=4"):
        C.check_contract(_contract(window=4), "head")
    with pytest.raises(C.ContractError, match="must start with 'none'"):
        C.check_contract(_contract(class_names=("micro", "none")), "head")
    with pytest.raises(C.ContractError, match="unknown graph kind 'tail'"):
        C.expected_specs("tail", 5, 3, 128, (512, 4, 4), 3)


REFERENCE = {"kind": "reference_difference", "tau_frames": 120, "gain": 4.0}


def test_input_transform_round_trips_and_older_graphs_read_as_raw_crops() -> None:
    contract = _contract(input_transform=REFERENCE)
    assert C.Contract.from_json(contract.to_json()).input_transform == REFERENCE
    d = json.loads(_contract().to_json())
    del d["input_transform"]  # written before the field existed
    assert C.Contract.from_json(json.dumps(d)).input_transform == {"kind": "raw"}
    d["input_transform"] = {"kind": "optical_flow"}
    with pytest.raises(C.ContractError, match="my.onnx: malformed.*optical_flow"):
        C.Contract.from_json(json.dumps(d), source="my.onnx")
    with pytest.raises(C.ContractError, match="input_transform"):
        C.check_pair(_contract(), _contract(input_transform=REFERENCE))


def test_check_pair_names_the_differences() -> None:
    C.check_pair(_contract(), _contract(graph="backbone"))
    with pytest.raises(C.ContractError, match=r"a.onnx and b.onnx .*window: 5 vs 7") as info:
        C.check_pair(_contract(), _contract(window=7), "a.onnx", "b.onnx")
    assert "checkpoint_sha256" not in str(info.value)


# --- the exported graphs -------------------------------------------------------------------


def test_exported_metadata_is_what_the_exporter_wrote(exported_graphs: ExportedGraphs) -> None:
    from export.checkpoint import file_sha256, model_from_checkpoint
    from export.onnx_export import make_contract

    model, ckpt = model_from_checkpoint(exported_graphs.checkpoint)
    sha = file_sha256(exported_graphs.checkpoint)
    for kind, path in exported_graphs.graphs.items():
        proto = onnx.load(str(path), load_external_data=False)
        text = {p.key: p.value for p in proto.metadata_props}[C.CONTRACT_KEY]
        assert C.Contract.from_json(text) == make_contract(model, kind, sha, ckpt["metadata"])


def test_open_graph_checks_each_exported_graph(exported_graphs: ExportedGraphs) -> None:
    sha = hashlib.sha256(exported_graphs.checkpoint.read_bytes()).hexdigest()
    contracts = {}
    for kind, path in exported_graphs.graphs.items():
        session, contract = C.open_graph(path, kind)
        assert contract.graph == kind
        assert contract.checkpoint_sha256 == sha
        assert (contract.window, contract.key_frames, contract.crop_size) == (5, 3, 128)
        assert contract.class_names == ("none", "micro", "macro")
        assert [i.name for i in session.get_inputs()] == [t.name for t in contract.inputs]
        contracts[kind] = contract
    C.check_pair(contracts["backbone"], contracts["head"])
    C.check_pair(contracts["head"], contracts["window"])


def test_graphs_from_another_checkpoint_are_refused_as_stale(
        exported_graphs: ExportedGraphs, other_exported_graphs: ExportedGraphs) -> None:
    _, backbone = C.open_graph(exported_graphs.backbone, "backbone")
    _, stale_head = C.open_graph(other_exported_graphs.head, "head")
    with pytest.raises(C.ContractError, match="checkpoint_sha256") as info:
        C.check_pair(backbone, stale_head, "backbone.onnx", "old/head.onnx")
    assert "backbone.onnx and old/head.onnx do not belong together" in str(info.value)


def test_wrong_graph_kind_names_both(exported_graphs: ExportedGraphs) -> None:
    with pytest.raises(C.ContractError, match="graph kind is 'head', expected 'backbone'") as info:
        C.open_graph(exported_graphs.head, "backbone")
    assert str(exported_graphs.head) in str(info.value)


def test_foreign_onnx_file_is_refused(tmp_path: Path) -> None:
    path = _identity_graph(tmp_path / "yolo.onnx")
    with pytest.raises(C.ContractError, match="foreign ONNX file.*python -m export onnx") as info:
        C.open_graph(path, "window")
    assert str(path) in str(info.value)


def test_graph_that_does_not_match_its_own_contract(exported_graphs: ExportedGraphs,
                                                    tmp_path: Path) -> None:
    proto = onnx.load(str(exported_graphs.head), load_external_data=False)
    copied = {p.key: p.value for p in proto.metadata_props}
    path = _identity_graph(tmp_path / "head.onnx", copied)
    with pytest.raises(C.ContractError, match="graph input names \\['x'\\]"):
        C.open_graph(path, "head")


def test_graph_from_a_newer_exporter_asks_for_a_re_export(tmp_path: Path) -> None:
    text = _contract(contract_version=C.CONTRACT_VERSION + 1).to_json()
    path = _identity_graph(tmp_path / "head.onnx", {C.CONTRACT_KEY: text})
    with pytest.raises(C.ContractError, match="re-export") as info:
        C.open_graph(path, "head")
    assert str(path) in str(info.value)


def test_missing_corrupt_or_incomplete_files(exported_graphs: ExportedGraphs,
                                             tmp_path: Path) -> None:
    missing = tmp_path / "backbone.onnx"
    with pytest.raises(C.ContractError, match="ONNX graph not found") as info:
        C.open_graph(missing, "backbone")
    assert str(missing) in str(info.value)

    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(C.ContractError, match="not a loadable ONNX graph") as info:
        C.open_graph(corrupt, "head")
    assert str(corrupt) in str(info.value)

    lonely = tmp_path / "lonely" / "head.onnx"  # moved without its shared weights file
    lonely.parent.mkdir()
    shutil.copy(exported_graphs.head, lonely)
    with pytest.raises(C.ContractError, match="weights file .* is missing") as info:
        C.open_graph(lonely, "head")
    assert "head.onnx" in str(info.value) and exported_graphs.weights.name in str(info.value)


# --- the live half stays torch-free ----------------------------------------------------------


def _realtime_modules() -> list[str]:
    return sorted("realtime." + p.relative_to(ROOT / "realtime").with_suffix("").as_posix()
                  .replace("/", ".") for p in (ROOT / "realtime").rglob("*.py")
                  if p.name != "__init__.py")


def test_realtime_modules_do_not_import_torch() -> None:
    modules = _realtime_modules()
    assert "realtime.contract" in modules
    code = ("import importlib, sys\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module(name)\n"
            "    assert 'torch' not in sys.modules, f'importing {name} loaded torch'\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_no_torch_import_statement_under_realtime() -> None:
    pattern = re.compile(r"^\s*(import\s+torch\b|from\s+torch\b)", re.MULTILINE)
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "realtime").rglob("*.py")
                 if pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


SHIPPED = ROOT / "weights"
needs_shipped = pytest.mark.skipif(not (SHIPPED / "backbone.onnx").is_file(),
                                   reason="shipped graphs absent")


@needs_shipped
def test_external_data_needs_are_read_without_onnx() -> None:
    needs = C.external_data_needs((SHIPPED / "head.onnx").read_bytes())
    assert needs == {"stsnet_sw.weights": (SHIPPED / "stsnet_sw.weights").stat().st_size}
    assert C.external_data_needs(b"no external data here") == {}


@needs_shipped
@pytest.mark.parametrize("case", ["truncated", "missing"])
def test_bad_weights_file_is_named_not_the_graph(case: str, tmp_path: Path) -> None:
    """Issue 12 item 7: a truncated stsnet_sw.weights was reported as a bad backbone.onnx, with
    onnxruntime's message cut before the weights file's name."""
    shutil.copy(SHIPPED / "backbone.onnx", tmp_path / "backbone.onnx")
    if case == "truncated":
        (tmp_path / "stsnet_sw.weights").write_bytes(b"\0" * 1000)
        match = r"backbone\.onnx: its weights file .*stsnet_sw\.weights is truncated \(1000 bytes"
    else:
        match = r"backbone\.onnx: its weights file .*stsnet_sw\.weights is missing"
    with pytest.raises(C.ContractError, match=match):
        C.open_graph(tmp_path / "backbone.onnx", "backbone")


# --- the training frame rate (issue 12 item 12) ------------------------------------------------


def test_train_fps_round_trips_and_old_contracts_still_load() -> None:
    c = _contract(train_fps=30.0)
    assert C.Contract.from_json(c.to_json()).train_fps == 30.0
    old = json.loads(_contract().to_json())
    del old["train_fps"]  # a graph exported before the field existed
    assert C.Contract.from_json(json.dumps(old)).train_fps is None
    old["model"]["metadata"]["dataset"] = {"fps": [25.0, 25.0]}  # ... but its metadata knows
    assert C.Contract.from_json(json.dumps(old)).train_fps == 25.0
    old["model"]["metadata"]["dataset"] = {"fps": [25.0, 30.0]}  # mixed rates: unknown
    assert C.Contract.from_json(json.dumps(old)).train_fps is None
    bad = json.loads(_contract().to_json())
    bad["train_fps"] = -3
    with pytest.raises(C.ContractError, match="train_fps"):
        C.Contract.from_json(json.dumps(bad))


@pytest.mark.parametrize(("train", "source", "warns"), [
    (30.0, 30.0, False), (30.0, 29.97, False), (30.0, 26.0, False), (30.0, 24.0, True),
    (30.0, 60.0, True), (200.0, 30.0, True), (None, 24.0, False), (30.0, float("nan"), False),
    (30.0, 0.0, False)])
def test_fps_mismatch_warns_beyond_15_percent(train: float | None, source: float,
                                              warns: bool) -> None:
    message = C.fps_mismatch(train, source)
    assert (message is not None) == warns
    if warns:
        assert f"{source:.1f} fps" in message and f"{train:g} fps" in message


@needs_shipped
def test_shipped_graphs_know_their_training_rate() -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(str(SHIPPED / "head.onnx"),
                                   providers=["CPUExecutionProvider"])
    assert C.read_contract_from_session(session, "head").train_fps == 30.0
