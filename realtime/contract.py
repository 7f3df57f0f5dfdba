"""The contract between the PyTorch half (``export/``) and the live half (``realtime/``).

Every exported ONNX graph carries one JSON document under the metadata key
:data:`CONTRACT_KEY`. It says which graph it is, its input/output names, shapes and dtypes,
the window size K, the number of key frames M, the crop size, the input normalisation and input
transform (raw crops or reference differences, ``realtime.reference``), the class order, the
SHA-256 of the checkpoint it was exported from and the exporter version. The live half reads it
back, checks it against the graph's real inputs and outputs and against the other graphs it is
paired with, and refuses anything stale or foreign with a message naming what differs.

This module is torch-free (onnxruntime and the standard library only).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from realtime.postprocess import PostprocessSetting
from realtime.reference import InputTransform

CONTRACT_KEY = "stsnet_sw.contract"
CONTRACT_VERSION = 1
GRAPH_KINDS = ("backbone", "head", "window")
GRAPH_FILES = {"backbone": "backbone.onnx", "head": "head.onnx", "window": "stsnet_sw.onnx"}
INT8_BACKBONE_FILE = "backbone_int8.onnx"  # python -m export quantize; the CPU default if shipped

# Input/output names per graph. Dimensions named by strings are dynamic.
BACKBONE_INPUT = "frames"  # (N, 1, S, S) float32 in [0, 1]
BACKBONE_OUTPUT = "features"  # (N, 512, S/32, S/32) float32
HEAD_INPUT = "features"  # (B, K, 512, S/32, S/32) float32
WINDOW_INPUT = "windows"  # (B, K, 1, S, S) float32 in [0, 1]
PROBS = "probs"  # (B, Q) float32, softmax over class_names
SCORES = "keyframe_scores"  # (B, K) float32 in (0, 1)
KEY_INDICES = "key_indices"  # (B, M) int64, ascending frame index within the window
WINDOW_OUTPUTS = (PROBS, SCORES, KEY_INDICES)


class ContractError(ValueError):
    """A graph is missing, foreign, stale or does not match what the runtime expects."""


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int | str, ...]  # ints are fixed, strings name dynamic dimensions
    dtype: str  # numpy-style name: "float32", "int64"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TensorSpec:
        return cls(str(d["name"]), tuple(d["shape"]), str(d["dtype"]))


@dataclass(frozen=True)
class Contract:
    """What one exported graph promises. Written by ``export``, checked by ``realtime``."""

    graph: str  # one of GRAPH_KINDS
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    window: int  # K
    key_frames: int  # M
    crop_size: int  # S, pixels
    feature_shape: tuple[int, int, int]  # (C, h, w) of one frame's feature map
    class_names: tuple[str, ...]
    input_mean: float  # the graph computes (x - mean) / std itself; feed x = gray / 255
    input_std: float
    checkpoint_sha256: str
    exporter: str
    opset: int
    contract_version: int = CONTRACT_VERSION
    model: dict[str, Any] = field(default_factory=dict)  # model config and training metadata
    # What the backbone is fed (realtime.reference.InputTransform.to_dict()); graphs written
    # before this field existed take raw crops.
    input_transform: dict[str, Any] = field(default_factory=lambda: {"kind": "raw"})
    # Frame rate (frames/s) of the videos the model was trained on, None when unknown. Windows
    # and the reference's time constant count frames, so a source at another rate shows the
    # model motions at another speed. Graphs written before this field existed get it from
    # their training metadata (model.metadata.dataset.fps) when that names one rate.
    train_fps: float | None = None
    # The model's recommended post-processing (PostprocessSetting.to_dict(), chosen on
    # validation subjects by `export tune`); {} (graphs written before this field) means the
    # paper's: merge gap 1 frame, argmax labels, types from the classifier.
    postprocess: dict[str, Any] = field(default_factory=dict)

    @property
    def recommended(self) -> PostprocessSetting:
        """The post-processing the model was tuned for (the paper's when it names none)."""
        return PostprocessSetting.from_dict(self.postprocess)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def transform(self) -> InputTransform:
        """:attr:`input_transform` as the object the engine applies."""
        return InputTransform.from_dict(self.input_transform)

    def to_json(self) -> str:
        d = asdict(self)
        d["inputs"] = [t.to_dict() for t in self.inputs]
        d["outputs"] = [t.to_dict() for t in self.outputs]
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "graph") -> Contract:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ContractError(f"{source}: metadata {CONTRACT_KEY!r} is not valid JSON ({exc})"
                                ) from exc
        if not isinstance(d, dict):
            raise ContractError(f"{source}: metadata {CONTRACT_KEY!r} is not a JSON object")
        version = d.get("contract_version")
        if version != CONTRACT_VERSION:
            raise ContractError(
                f"{source}: contract version {version!r}, this runtime reads version "
                f"{CONTRACT_VERSION}; re-export the graphs with `python -m export onnx`")
        required = [f for f in cls.__dataclass_fields__
                    if f not in ("contract_version", "model", "input_transform", "train_fps",
                                 "postprocess")]
        missing = [f for f in required if f not in d]
        if missing:
            raise ContractError(f"{source}: contract lacks fields {missing}")
        try:
            return cls(
                graph=str(d["graph"]),
                inputs=tuple(TensorSpec.from_dict(t) for t in d["inputs"]),
                outputs=tuple(TensorSpec.from_dict(t) for t in d["outputs"]),
                window=int(d["window"]),
                key_frames=int(d["key_frames"]),
                crop_size=int(d["crop_size"]),
                feature_shape=tuple(int(x) for x in d["feature_shape"]),  # type: ignore[arg-type]
                class_names=tuple(str(c) for c in d["class_names"]),
                input_mean=float(d["input_mean"]),
                input_std=float(d["input_std"]),
                checkpoint_sha256=str(d["checkpoint_sha256"]),
                exporter=str(d["exporter"]),
                opset=int(d["opset"]),
                contract_version=int(version),
                model=dict(d.get("model") or {}),
                input_transform=InputTransform.from_dict(d.get("input_transform")).to_dict(),
                train_fps=_train_fps(d),
                postprocess=PostprocessSetting.from_dict(d.get("postprocess")).to_dict()
                if d.get("postprocess") else {},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ContractError(f"{source}: malformed contract ({exc!r})") from exc


def train_fps_from_metadata(metadata: Any) -> float | None:
    """The one training frame rate a checkpoint's metadata names (``dataset.fps``: a number,
    or a list of the dataset's rates that are all equal), else None."""
    dataset = metadata.get("dataset") if isinstance(metadata, dict) else None
    rates = dataset.get("fps") if isinstance(dataset, dict) else None
    if isinstance(rates, int | float) and not isinstance(rates, bool):
        rates = [rates]
    if isinstance(rates, list) and rates and all(
            isinstance(r, int | float) and not isinstance(r, bool) for r in rates) and len(
            {float(r) for r in rates}) == 1:
        return float(rates[0])
    return None


def _train_fps(d: dict[str, Any]) -> float | None:
    """The contract's train_fps, else the one rate its training metadata names, else None."""
    value = d.get("train_fps")
    if value is None:
        model = d.get("model")
        value = train_fps_from_metadata(model.get("metadata")) if isinstance(model, dict) else None
    if value is None:
        return None
    fps = float(value)
    if not (fps > 0 and fps < 1e4):
        raise ValueError(f"train_fps {value!r} is not a frame rate")
    return fps


def fps_mismatch(train_fps: float | None, source_fps: float, tolerance: float = 0.15
                 ) -> str | None:
    """A warning when ``source_fps`` differs from the training rate by more than ``tolerance``
    (a fraction), else None (also when either rate is unknown)."""
    if train_fps is None or not (source_fps > 0 and source_fps < 1e4):
        return None
    if abs(source_fps - train_fps) <= tolerance * train_fps:
        return None
    return (f"the source runs at {source_fps:.1f} fps but the model was trained on "
            f"{train_fps:g} fps video; its K-frame windows then span "
            f"{train_fps / source_fps:.2f}x the time they did in training, so expect worse "
            "spotting (resample the video, or train at this rate)")


def expected_specs(graph: str, window: int, key_frames: int, crop_size: int,
                   feature_shape: tuple[int, int, int], num_classes: int
                   ) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """The inputs and outputs a graph of this kind must have (used by exporter and runtime)."""
    s, k, m, q = crop_size, window, key_frames, num_classes
    heads = (TensorSpec(PROBS, ("batch", q), "float32"),
             TensorSpec(SCORES, ("batch", k), "float32"),
             TensorSpec(KEY_INDICES, ("batch", m), "int64"))
    if graph == "backbone":
        return ((TensorSpec(BACKBONE_INPUT, ("batch", 1, s, s), "float32"),),
                (TensorSpec(BACKBONE_OUTPUT, ("batch", *feature_shape), "float32"),))
    if graph == "head":
        return (TensorSpec(HEAD_INPUT, ("batch", k, *feature_shape), "float32"),), heads
    if graph == "window":
        return (TensorSpec(WINDOW_INPUT, ("batch", k, 1, s, s), "float32"),), heads
    raise ContractError(f"unknown graph kind {graph!r}; valid: {list(GRAPH_KINDS)}")


_ORT_DTYPES = {"tensor(float)": "float32", "tensor(int64)": "int64", "tensor(float16)": "float16",
               "tensor(uint8)": "uint8", "tensor(int32)": "int32", "tensor(double)": "float64"}


def _actual_specs(args: list[Any]) -> list[TensorSpec]:
    return [TensorSpec(a.name, tuple(d if isinstance(d, int) else "dyn" for d in a.shape),
                       _ORT_DTYPES.get(a.type, a.type)) for a in args]


def _compare(kind: str, promised: tuple[TensorSpec, ...], actual: list[TensorSpec]) -> list[str]:
    problems = []
    names = [t.name for t in actual]
    if [t.name for t in promised] != names:
        problems.append(f"{kind} names {names} != contract {[t.name for t in promised]}")
        return problems
    for p, a in zip(promised, actual):
        if p.dtype != a.dtype:
            problems.append(f"{kind} {p.name!r} dtype {a.dtype} != contract {p.dtype}")
        if len(p.shape) != len(a.shape):
            problems.append(f"{kind} {p.name!r} rank {len(a.shape)} != contract {len(p.shape)}")
            continue
        for i, (pd, ad) in enumerate(zip(p.shape, a.shape)):
            if isinstance(pd, int) and isinstance(ad, int) and pd != ad:
                problems.append(f"{kind} {p.name!r} dim {i} is {ad}, contract says {pd}")
    return problems


def check_contract(contract: Contract, expected_graph: str, session: Any | None = None,
                   source: str = "graph") -> None:
    """Raise :class:`ContractError` naming every way ``contract`` (and ``session``) is wrong."""
    problems: list[str] = []
    if contract.graph != expected_graph:
        problems.append(f"graph kind is {contract.graph!r}, expected {expected_graph!r}")
    else:
        ins, outs = expected_specs(expected_graph, contract.window, contract.key_frames,
                                   contract.crop_size, contract.feature_shape,
                                   contract.num_classes)
        problems += _compare("input", ins, list(contract.inputs))
        problems += _compare("output", outs, list(contract.outputs))
    if not 1 <= contract.key_frames <= contract.window or contract.window % 2 == 0:
        problems.append(f"window K={contract.window} / key_frames M={contract.key_frames} invalid")
    if not contract.class_names or contract.class_names[0] != "none":
        problems.append(f"class_names {list(contract.class_names)} must start with 'none'")
    if session is not None and not problems:
        problems += _compare("graph input", contract.inputs, _actual_specs(session.get_inputs()))
        problems += _compare("graph output", contract.outputs,
                             _actual_specs(session.get_outputs()))
    if problems:
        raise ContractError(f"{source}: " + "; ".join(problems))


def check_pair(a: Contract, b: Contract, source_a: str = "a", source_b: str = "b") -> None:
    """Two graphs used together must come from the same checkpoint and agree on the window."""
    fields = ("checkpoint_sha256", "window", "key_frames", "crop_size", "feature_shape",
              "class_names", "input_mean", "input_std", "input_transform", "postprocess")
    diffs = [f"{f}: {getattr(a, f)!r} vs {getattr(b, f)!r}" for f in fields
             if getattr(a, f) != getattr(b, f)]
    if diffs:
        raise ContractError(f"{source_a} and {source_b} do not belong together: "
                            + "; ".join(diffs))


def read_contract_from_session(session: Any, source: str) -> Contract:
    meta = session.get_modelmeta().custom_metadata_map
    if CONTRACT_KEY not in meta:
        raise ContractError(
            f"{source}: foreign ONNX file (no {CONTRACT_KEY!r} metadata); export graphs with "
            "`python -m export onnx --checkpoint FILE --out DIR`")
    return Contract.from_json(meta[CONTRACT_KEY], source)


_ENTRY = re.compile(rb"\x0a(.)(location|offset|length)\x12(.)", re.DOTALL)


def external_data_needs(graph_bytes: bytes) -> dict[str, int]:
    """The external-data files an ONNX graph refers to, each with the bytes it must hold at
    least (max offset + length over its tensors). Read from the serialised protobuf directly
    (the TensorProto.external_data key/value entries), so the runtime needs no ``onnx``."""
    needs: dict[str, int] = {}
    location: str | None = None
    offset = length = 0
    for m in _ENTRY.finditer(graph_bytes):
        key = m.group(2).decode()
        if m.group(1)[0] != len(key):
            continue
        start = m.end()
        value = graph_bytes[start:start + m.group(3)[0]].decode("utf-8", "replace")
        if key == "location":
            if location is not None:
                needs[location] = max(needs.get(location, 0), offset + length)
            location, offset, length = value, 0, 0
        elif value.isdigit():
            if key == "offset":
                offset = int(value)
            else:
                length = int(value)
    if location is not None:
        needs[location] = max(needs.get(location, 0), offset + length)
    return needs


def check_external_data(path: Path) -> None:
    """Refuse a graph whose external weights file is missing or shorter than it needs, naming
    that file (onnxruntime's own message names the graph and is cut before the file)."""
    try:
        needs = external_data_needs(path.read_bytes())
    except OSError as exc:
        raise ContractError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    for name, size in needs.items():
        data = path.parent / name
        if not data.is_file():
            raise ContractError(f"{path}: its weights file {data} is missing (keep the .onnx "
                                "files and their weights file together, or re-export them)")
        have = data.stat().st_size
        if have < size:
            raise ContractError(f"{path}: its weights file {data} is truncated ({have} bytes, "
                                f"needs at least {size}); copy it again or re-export the graphs")


def open_graph(path: str | Path, expected_graph: str, providers: list[Any] | None = None,
               session_options: Any | None = None) -> tuple[Any, Contract]:
    """Open an ONNX graph with onnxruntime and check its contract. Returns (session, contract)."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise ContractError(f"{path}: ONNX graph not found (expected the {expected_graph} graph, "
                            f"usually {GRAPH_FILES.get(expected_graph, '?')})")
    check_external_data(path)
    try:
        session = ort.InferenceSession(str(path), sess_options=session_options,
                                       providers=providers or ["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises several private exception types
        raise ContractError(f"{path}: not a loadable ONNX graph ({type(exc).__name__}: "
                            f"{str(exc).strip()[:300]})") from exc
    contract = read_contract_from_session(session, str(path))
    check_contract(contract, expected_graph, session, str(path))
    return session, contract
