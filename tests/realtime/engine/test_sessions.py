"""Opening the graphs (realtime/engine/sessions.py): provider choice and fallback, and the
refusal of missing, foreign or mixed graphs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from realtime import contract as C
from realtime.engine import Engine, EngineError, cuda_problem
from realtime.reference import InputTransform

# ----------------------------------------------------------------------------------- providers


@pytest.mark.skipif(cuda_problem() is None, reason="a CUDA GPU is usable here")
def test_auto_falls_back_to_cpu_and_says_why(graphs) -> None:
    engine = Engine(graphs, provider="auto", warmup=False)
    assert engine.provider == "cpu"
    assert "CUDA not usable" in engine.provider_note
    assert "provider=cpu" in engine.describe()


@pytest.mark.skipif(cuda_problem() is None, reason="a CUDA GPU is usable here")
def test_provider_cuda_without_gpu_is_a_clear_error(graphs) -> None:
    with pytest.raises(EngineError, match="provider 'cuda' requested but CUDA is not usable"):
        Engine(graphs, provider="cuda")


@pytest.mark.skipif(cuda_problem() is None, reason="a CUDA GPU is usable here")
def test_cuda_libraries_missing_behind_a_driver(graphs, monkeypatch) -> None:
    """A driver that sees a GPU but an onnxruntime that cannot start CUDA (libraries missing):
    auto falls back to CPU, an explicit cuda request is a clear error."""
    import realtime.engine.sessions as sessions_module

    monkeypatch.setattr(sessions_module, "cuda_problem", lambda: None)
    engine = Engine(graphs, provider="auto", warmup=False)
    assert engine.provider == "cpu" and "could not start its CUDA provider" in (
        engine.provider_note)
    with pytest.raises(EngineError, match="could not start its CUDA provider"):
        Engine(graphs, provider="cuda", warmup=False)


# ----------------------------------------------------------------------------------- graphs


def _copy_graphs(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_missing_folder_and_files(tmp_path: Path, graphs: Path) -> None:
    with pytest.raises(EngineError, match="graph folder not found.*python -m export onnx"):
        Engine(tmp_path / "nowhere")
    d = _copy_graphs(graphs, tmp_path / "g")
    (d / "head.onnx").unlink()
    with pytest.raises(EngineError, match="missing head.onnx"):
        Engine(d, provider="cpu")
    Engine(d, provider="cpu", mode="window", warmup=False)  # window mode needs no head.onnx


def test_missing_weights_file_is_named(tmp_path: Path, graphs: Path) -> None:
    d = _copy_graphs(graphs, tmp_path / "g")
    (d / "stsnet_sw.weights").unlink()
    with pytest.raises(C.ContractError, match="stsnet_sw.weights is missing"):
        Engine(d, provider="cpu")


def test_foreign_onnx_is_refused(tmp_path: Path, graphs: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    d = _copy_graphs(graphs, tmp_path / "g")
    x = helper.make_tensor_value_info("frames", TensorProto.FLOAT, ["n", 1, 128, 128])
    y = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["n", 1, 128, 128])
    model = helper.make_model(helper.make_graph([helper.make_node("Identity", ["frames"],
                                                                  ["features"])],
                                                "foreign", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(d / "backbone.onnx"))
    with pytest.raises(C.ContractError, match="foreign ONNX file"):
        Engine(d, provider="cpu")
    (d / "stsnet_sw.onnx").write_bytes(b"this is not onnx")
    with pytest.raises(C.ContractError, match="not a loadable ONNX graph"):
        Engine(d, provider="cpu", mode="window")


def test_graphs_from_different_checkpoints_are_refused(tmp_path: Path, graphs: Path) -> None:
    import onnx

    d = _copy_graphs(graphs, tmp_path / "g")
    head = onnx.load(str(d / "head.onnx"), load_external_data=False)
    for prop in head.metadata_props:
        if prop.key == C.CONTRACT_KEY:
            doc = json.loads(prop.value)
            doc["checkpoint_sha256"] = "0" * 64
            prop.value = json.dumps(doc)
    onnx.save(head, str(d / "head.onnx"))
    with pytest.raises(C.ContractError, match="do not belong together.*checkpoint_sha256"):
        Engine(d, provider="cpu")


def test_graphs_with_different_input_transforms_are_not_paired(tmp_path: Path,
                                                               graphs: Path) -> None:
    import onnx

    d = _copy_graphs(graphs, tmp_path / "g")
    head = onnx.load(str(d / "head.onnx"), load_external_data=False)
    for prop in head.metadata_props:
        if prop.key == C.CONTRACT_KEY:
            doc = json.loads(prop.value)
            doc["input_transform"] = InputTransform(tau_frames=30).to_dict()
            prop.value = json.dumps(doc)
    onnx.save(head, str(d / "head.onnx"))
    with pytest.raises(C.ContractError, match="do not belong together.*input_transform"):
        Engine(d, provider="cpu")


def test_sessions_are_the_modes_graphs_with_their_thread_counts(graphs: Path) -> None:
    from realtime.engine import HEAD_THREADS

    engine = Engine(graphs, provider="cpu", threads=2, warmup=False)
    assert sorted(engine.sessions) == ["backbone", "head"]
    assert HEAD_THREADS == 1
    threads = {kind: s.get_session_options().intra_op_num_threads
               for kind, s in engine.sessions.items()}
    assert threads == {"backbone": 2, "head": HEAD_THREADS}  # the head's operators are small
    window = Engine(graphs, provider="cpu", mode="window", threads=2, warmup=False)
    assert list(window.sessions) == ["window"]
    assert window.sessions["window"].get_session_options().intra_op_num_threads == 2
    auto = Engine(graphs, provider="cpu", warmup=False)
    assert auto.sessions["backbone"].get_session_options().intra_op_num_threads == 0  # cores


def test_graph_files_name_each_kind_and_a_replacement_backbone(tmp_path: Path,
                                                               graphs: Path) -> None:
    from realtime.engine.sessions import GraphFiles

    d = _copy_graphs(graphs, tmp_path / "g")
    files = GraphFiles(d, d / "backbone_int8.onnx", "cached")
    assert files.path("head") == d / "head.onnx" and files.path("window") == d / "stsnet_sw.onnx"
    assert files.path("backbone") == d / "backbone_int8.onnx"
    with pytest.raises(EngineError, match=r"missing backbone_int8.onnx \(mode 'cached'\)"):
        files.check()
    GraphFiles(d, d / "backbone_int8.onnx", "window").check()  # window mode needs no backbone
    outside = tmp_path / "elsewhere.onnx"
    with pytest.raises(EngineError, match=f"missing {outside}"):
        GraphFiles(d, outside, "cached").check()
