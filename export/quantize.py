"""``python -m export quantize``: an int8 backbone for faster CPU inference, and its F1 gate.

The backbone (ResNet-18 on a 128x128 crop) is nearly all of the live spotter's per-frame cost;
the window head is small. ``quantize_backbone`` turns ``backbone.onnx`` into
``backbone_int8.onnx`` with ONNX Runtime's static quantization: int8 weights (per output
channel) and uint8 activations, whose ranges are calibrated on real face crops (a face-crop
cache of ``python -m export preprocess``, or any video/image folder, cropped with the live
half's :class:`~realtime.face.FaceCropper`). The head keeps float32: it is cheap, and its
attention and GRU are the parts most sensitive to rounding.

The int8 graph carries the fp32 backbone's contract (same checkpoint SHA-256, so the engine
pairs it with the same ``head.onnx``) plus a ``quantization`` entry in the contract's ``model``
field. It is one self-contained file (the fp32 graphs share ``stsnet_sw.weights``); use it with
``Engine(graph_dir, backbone_file="backbone_int8.onnx")`` or ``python -m realtime bench``.
``--eval-folder DIR`` also writes a complete graph folder whose ``backbone.onnx`` is the int8
one, for tools that open graphs by their standard names
(``python -m export evaluate --onnx DIR``).

The int8 model is offered only when it costs at most 0.01 overall F1 against fp32:
:func:`int8_gate` compares two results JSONs (``python -m export evaluate ... --out DIR`` writes
``DIR/results.json``); ``python -m export quantize --gate FP32.json INT8.json`` exits 0 when the
int8 model passes and 1 when it does not.

Torch-free: onnx, onnxruntime and numpy.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from realtime import contract as C
from realtime.reference import InputTransform, ReferenceDifference, transform_video
from realtime.vocab import check_int, check_number

INT8_BACKBONE_FILE = C.INT8_BACKBONE_FILE
SHARED_WEIGHTS_FILE = "stsnet_sw.weights"
DEFAULT_CALIB_CROPS = 256
MAX_F1_DROP = 0.01
FORMATS = ("qdq", "qoperator")
METHODS = ("minmax", "entropy", "percentile")
_NPZ_SUFFIX = ".npz"


class QuantizeError(RuntimeError):
    """Quantization cannot run: missing graphs, no calibration crops, unusable result files."""


# ------------------------------------------------------------------------------ calibration


def _crops_from_cache(paths: list[Path], crop_size: int,
                      transform: InputTransform) -> list[np.ndarray]:
    """Network inputs for the valid face crops of face-crop cache files (``crops`` + ``valid``
    arrays), per video."""
    out = []
    for path in paths:
        try:
            with np.load(path, allow_pickle=False) as z:
                crops = z["crops"]
                valid = z["valid"].astype(bool) if "valid" in z.files else np.ones(len(crops), bool)
        except (OSError, ValueError, KeyError) as exc:
            raise QuantizeError(f"{path}: not a face-crop cache file ({exc})") from exc
        if crops.ndim != 3 or crops.shape[1:] != (crop_size, crop_size) or crops.dtype != np.uint8:
            raise QuantizeError(f"{path}: crops are {crops.dtype} {crops.shape}, the graphs take "
                                f"({crop_size}, {crop_size}) uint8")
        if valid.any():
            out.append(transform_video(crops, valid, transform)[valid])
    return out


def _crops_from_media(source: Path, crop_size: int, max_frames: int,
                      transform: InputTransform) -> list[np.ndarray]:
    """Network inputs for the face crops of a video file or image folder, cropped as the live
    spotter crops them (a reference-difference input restarts where the face is lost)."""
    from realtime.face import FaceCropConfig, FaceCropper
    from realtime.sources import SourceError, open_source

    crops = []
    reference = ReferenceDifference(transform)
    try:
        with open_source(source) as frames, FaceCropper(FaceCropConfig(crop_size=crop_size)) \
                as cropper:
            for i, frame in enumerate(frames):
                if i >= max_frames:
                    break
                face = cropper.process(frame.image)
                if face.crop is not None:
                    crops.append(reference.update(face.crop))
                else:
                    reference.reset()
    except SourceError as exc:
        raise QuantizeError(f"calibration source: {exc}") from exc
    return [np.stack(crops)] if crops else []


def collect_calibration_crops(source: str | Path, crop_size: int = 128,
                              count: int = DEFAULT_CALIB_CROPS, *,
                              max_media_frames: int = 3000,
                              transform: InputTransform | None = None) -> np.ndarray:
    """``count`` backbone inputs ``(N, S, S)`` uint8 for calibration, spread evenly over the
    source: face crops, passed through ``transform`` (the graphs' input transform; None: raw)
    video by video before the picks are made.

    source: a face-crop cache file (``.npz``) or folder of them (searched recursively, e.g.
        ``cache/`` of ``python -m export preprocess``), or a video file / image folder (faces
        cropped with :class:`~realtime.face.FaceCropper`, first ``max_media_frames`` frames).
    Every video contributes (evenly spaced crops), so the ranges cover all faces and lighting.
    """
    check_int("count", count, 1, 100_000)
    path = Path(source)
    if not path.exists():
        raise QuantizeError(f"calibration source {path} does not exist (give a face-crop cache "
                            "folder, a .npz file, a video file or an image folder)")
    npz = ([path] if path.suffix == _NPZ_SUFFIX else
           sorted(path.rglob(f"*{_NPZ_SUFFIX}")) if path.is_dir() else [])
    transform = transform if transform is not None else InputTransform()
    groups = (_crops_from_cache(npz, crop_size, transform) if npz
              else _crops_from_media(path, crop_size, max_media_frames, transform))
    total = sum(len(g) for g in groups)
    if total == 0:
        raise QuantizeError(f"calibration source {path}: no face crops found")
    # Spread the picks over the videos in proportion to their length, evenly inside each.
    picks = []
    for g in groups:
        n = max(1, round(count * len(g) / total))
        picks.append(g[np.linspace(0, len(g) - 1, min(n, len(g))).round().astype(int)])
    crops = np.concatenate(picks)
    if len(crops) > count:
        crops = crops[np.linspace(0, len(crops) - 1, count).round().astype(int)]
    return np.ascontiguousarray(crops)


class _CropReader:
    """onnxruntime CalibrationDataReader over face crops (one crop per calibration run)."""

    def __init__(self, crops: np.ndarray, batch: int = 16) -> None:
        self._crops = crops
        self._batch = batch
        self._it: Iterator[dict[str, np.ndarray]] = self._batches()

    def _batches(self) -> Iterator[dict[str, np.ndarray]]:
        for i in range(0, len(self._crops), self._batch):
            chunk = self._crops[i:i + self._batch].astype(np.float32) * np.float32(1 / 255)
            yield {C.BACKBONE_INPUT: chunk[:, None]}

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = self._batches()


# ------------------------------------------------------------------------------ quantization


def _read_contract(path: Path) -> C.Contract:
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    meta = {p.key: p.value for p in proto.metadata_props}
    if C.CONTRACT_KEY not in meta:
        raise QuantizeError(f"{path}: foreign ONNX file (no {C.CONTRACT_KEY!r} metadata)")
    return C.Contract.from_json(meta[C.CONTRACT_KEY], str(path))


def quantize_backbone(graph_dir: str | Path, calib_crops: np.ndarray,
                      out_path: str | Path | None = None, *, quant_format: str = "qdq",
                      per_channel: bool = True, method: str = "minmax") -> Path:
    """Quantize ``graph_dir/backbone.onnx`` to int8; returns the path of the int8 graph.

    calib_crops: ``(N, S, S)`` uint8 face crops (:func:`collect_calibration_crops`).
    out_path: output file (default ``graph_dir/backbone_int8.onnx``); self-contained.
    quant_format: "qdq" (QuantizeLinear/DequantizeLinear pairs; ONNX Runtime fuses them) or
        "qoperator" (QLinearConv etc.).
    per_channel: one weight scale per output channel (recommended for convolutions).
    method: activation range calibration: "minmax", "entropy" or "percentile".
    """
    import onnx
    from onnxruntime import quantization as q

    if quant_format not in FORMATS:
        raise ValueError(f"quant_format must be one of {list(FORMATS)}, got {quant_format!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    graph_dir = Path(graph_dir)
    src = graph_dir / C.GRAPH_FILES["backbone"]
    if not src.is_file():
        raise QuantizeError(f"{src}: backbone graph not found (export the graphs with "
                            "`python -m export onnx --checkpoint FILE --out DIR`)")
    contract = _read_contract(src)
    _check_calib_crops(calib_crops, contract.crop_size)
    out = Path(out_path) if out_path is not None else graph_dir / INT8_BACKBONE_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        proto = onnx.load(str(src))  # the shared weights file loads from the graph's folder
    except (OSError, ValueError) as exc:
        raise QuantizeError(f"{src}: cannot load with its weights "
                            f"({graph_dir / SHARED_WEIGHTS_FILE}): {exc}") from exc
    fmt = q.QuantFormat.QDQ if quant_format == "qdq" else q.QuantFormat.QOperator
    calib = {"minmax": q.CalibrationMethod.MinMax, "entropy": q.CalibrationMethod.Entropy,
             "percentile": q.CalibrationMethod.Percentile}[method]
    with tempfile.TemporaryDirectory(prefix="stsnet_quant_") as tmp:
        fp32 = Path(tmp) / "backbone_fp32.onnx"
        onnx.save(proto, str(fp32))  # self-contained float copy
        pre = Path(tmp) / "backbone_pre.onnx"
        q.quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        tmp_out = Path(tmp) / "backbone_int8.onnx"
        q.quantize_static(str(pre), str(tmp_out), _CropReader(calib_crops), quant_format=fmt,
                          per_channel=per_channel, activation_type=q.QuantType.QUInt8,
                          weight_type=q.QuantType.QInt8, calibrate_method=calib,
                          extra_options={"ActivationSymmetric": False,
                                         "WeightSymmetric": True})
        result = onnx.load(str(tmp_out))
    model = dict(contract.model)
    model["quantization"] = {
        "weights": "int8, per channel" if per_channel else "int8, per tensor",
        "activations": "uint8", "format": quant_format, "calibration": method,
        "calibration_crops": int(len(calib_crops)), "source_graph": src.name}
    stamped = dataclasses.replace(
        contract, model=model, exporter=f"{contract.exporter}; int8 by onnxruntime.quantization")
    del result.metadata_props[:]
    entry = result.metadata_props.add()
    entry.key, entry.value = C.CONTRACT_KEY, stamped.to_json()
    result.doc_string = f"STSNet_SW backbone graph, int8 ({quant_format}); contract in metadata"
    onnx.save(result, str(out))  # self-contained: no external data
    check_int8_graph(out, graph_dir)
    return out


def _check_calib_crops(calib_crops: Any, s: int) -> None:
    if (not isinstance(calib_crops, np.ndarray) or calib_crops.ndim != 3
            or calib_crops.shape[1:] != (s, s) or calib_crops.dtype != np.uint8
            or len(calib_crops) == 0):
        got = (f"{calib_crops.dtype} {calib_crops.shape}" if isinstance(calib_crops, np.ndarray)
               else type(calib_crops).__name__)
        raise ValueError(f"calib_crops must be a non-empty (N, {s}, {s}) uint8 array, got {got}")


def check_int8_graph(int8_path: str | Path, graph_dir: str | Path) -> C.Contract:
    """Open the int8 graph with onnxruntime, check its contract and that it pairs with
    ``graph_dir/head.onnx``. Returns its contract; raises ContractError when it does not fit."""
    int8_path, graph_dir = Path(int8_path), Path(graph_dir)
    _, contract = C.open_graph(int8_path, "backbone")
    head = graph_dir / C.GRAPH_FILES["head"]
    if head.is_file():
        C.check_pair(contract, _read_contract(head), str(int8_path), str(head))
    return contract


def write_eval_folder(graph_dir: str | Path, int8_path: str | Path, folder: str | Path) -> Path:
    """A complete graph folder whose ``backbone.onnx`` is the int8 graph (head, whole-window
    graph and shared weights copied), for tools that open the graphs by their standard names."""
    graph_dir, folder = Path(graph_dir), Path(folder)
    if folder.resolve() == graph_dir.resolve():
        raise QuantizeError(f"--eval-folder must differ from the graph folder {graph_dir} "
                            "(it replaces backbone.onnx)")
    folder.mkdir(parents=True, exist_ok=True)
    for name in (C.GRAPH_FILES["head"], C.GRAPH_FILES["window"], SHARED_WEIGHTS_FILE):
        if (graph_dir / name).is_file():
            shutil.copy2(graph_dir / name, folder / name)
    shutil.copy2(int8_path, folder / C.GRAPH_FILES["backbone"])
    return folder


def compare_to_fp32(graph_dir: str | Path, int8_path: str | Path,
                    inputs: np.ndarray) -> dict[str, float]:
    """How far the int8 backbone moves the model's outputs on backbone ``inputs`` ((N, S, S)
    uint8, what :func:`collect_calibration_crops` returns; windows are taken over consecutive
    rows).

    Returns the relative error of the feature maps (mean |int8 - fp32| / mean |fp32|), the
    largest absolute difference of the class probabilities of the N - K + 1 windows through the
    fp32 head, and the share of windows whose argmax class agrees.
    """
    graph_dir, int8_path = Path(graph_dir), Path(int8_path).resolve()
    frames = (inputs.astype(np.float32) * np.float32(1 / 255))[:, None]
    b_fp, _ = C.open_graph(graph_dir / C.GRAPH_FILES["backbone"], "backbone")
    b_i8, _ = C.open_graph(int8_path, "backbone")
    head, contract = C.open_graph(graph_dir / C.GRAPH_FILES["head"], "head")
    f_fp = b_fp.run(None, {C.BACKBONE_INPUT: frames})[0]
    f_i8 = b_i8.run(None, {C.BACKBONE_INPUT: frames})[0]
    k = contract.window
    rows = max(len(inputs) - k + 1, 0)
    if rows:
        idx = np.arange(rows)[:, None] + np.arange(k)
        a = head.run(None, {C.HEAD_INPUT: f_fp[idx]})[0]
        b = head.run(None, {C.HEAD_INPUT: f_i8[idx]})[0]
    return {"feature_rel_err": float(np.abs(f_i8 - f_fp).mean() / max(np.abs(f_fp).mean(), 1e-12)),
            "probs_max_abs_diff": float(np.abs(a - b).max()) if rows else 0.0,
            "argmax_agreement": float((a.argmax(1) == b.argmax(1)).mean()) if rows else 1.0}


# ------------------------------------------------------------------------------ the F1 gate


@dataclass(frozen=True)
class GateResult:
    """Outcome of :func:`int8_gate`: per compared variant, fp32 F1, int8 F1 and the drop."""

    passed: bool
    max_drop: float
    rows: tuple[tuple[str, float, float], ...]  # (variant, fp32 overall F1, int8 overall F1)

    @property
    def worst_drop(self) -> float:
        return max((fp - i8 for _, fp, i8 in self.rows), default=0.0)

    def describe(self) -> str:
        lines = [f"{'variant':20s} {'fp32 F1':>8s} {'int8 F1':>8s} {'drop':>8s}"]
        for name, fp, i8 in self.rows:
            lines.append(f"{name:20s} {fp:8.4f} {i8:8.4f} {fp - i8:+8.4f}")
        verdict = "PASS" if self.passed else "FAIL"
        lines.append(f"{verdict}: worst overall-F1 drop {self.worst_drop:+.4f} "
                     f"(allowed {self.max_drop:.4f}); int8 is "
                     f"{'offered' if self.passed else 'NOT offered'}")
        return "\n".join(lines)


def overall_f1_by_variant(results: Mapping[str, Any], source: str = "results") -> dict[str, float]:
    """Overall F1 per post-processing variant from a results JSON object.

    Accepts ``{"scores": {variant: score}}`` (``evaluate --out DIR``: results.json),
    ``{variant: score}``, or one score ``{"overall": {"f1": ...}, ...}`` (``evaluate --json``;
    named "overall").
    """
    def f1_of(score: Any, where: str) -> float:
        try:
            value = float(score["overall"]["f1"])
        except (KeyError, TypeError, ValueError) as exc:
            raise QuantizeError(f"{source}: {where} has no overall.f1 ({exc!r})") from None
        if not math.isfinite(value) or not 0.0 <= value <= 1.0:
            raise QuantizeError(f"{source}: {where} overall F1 {value!r} is not in [0, 1]")
        return value

    if not isinstance(results, Mapping):
        raise QuantizeError(f"{source}: expected a JSON object, got {type(results).__name__}")
    if "overall" in results:
        return {"overall": f1_of(results, "the score")}
    scores = results.get("scores", results)
    if not isinstance(scores, Mapping) or not scores:
        raise QuantizeError(f"{source}: no scores found (expected results.json of "
                            "`python -m export evaluate --out DIR`)")
    return {str(name): f1_of(s, f"variant {name!r}") for name, s in scores.items()
            if isinstance(s, Mapping)}


def _load_results(source: str | Path | Mapping[str, Any]) -> tuple[dict[str, float], str]:
    if isinstance(source, Mapping):
        return overall_f1_by_variant(source), "results"
    path = Path(source)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise QuantizeError(f"cannot read results file {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise QuantizeError(f"{path}: not valid JSON ({exc})") from exc
    return overall_f1_by_variant(data, str(path)), str(path)


def int8_gate(fp32_results: str | Path | Mapping[str, Any],
              int8_results: str | Path | Mapping[str, Any], *, max_drop: float = MAX_F1_DROP,
              variants: list[str] | None = None) -> GateResult:
    """Pass when, in every compared variant, the int8 model's overall F1 is at most
    ``max_drop`` below the fp32 model's (same data, same protocol).

    fp32_results, int8_results: results JSON files or their parsed objects.
    variants: the post-processing variants to compare (default: all that both files hold).
    """
    check_number("max_drop", max_drop, 0, 1)
    fp, fp_name = _load_results(fp32_results)
    i8, i8_name = _load_results(int8_results)
    names = list(variants) if variants else [v for v in fp if v in i8]
    missing = [v for v in names if v not in fp or v not in i8]
    if missing or not names:
        raise QuantizeError(f"variants {missing or 'none'} not in both {fp_name} "
                            f"({sorted(fp)}) and {i8_name} ({sorted(i8)})")
    rows = tuple((v, fp[v], i8[v]) for v in names)
    # A small epsilon so that a drop of exactly max_drop (in decimal) passes.
    passed = all(f - i <= max_drop + 1e-9 for _, f, i in rows)
    return GateResult(passed=passed, max_drop=float(max_drop), rows=rows)


# ------------------------------------------------------------------------------ CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--graphs", type=Path, default=None, metavar="DIR",
                        help="folder of the exported fp32 graphs (backbone.onnx, head.onnx, "
                             "stsnet_sw.weights)")
    parser.add_argument("--calib", type=Path, default=None, metavar="DATA_OR_CLIP",
                        help="calibration face crops: a face-crop cache folder or .npz file "
                             "(`python -m export preprocess`), or a video file / image folder")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help=f"write DIR/{INT8_BACKBONE_FILE} (default: the --graphs folder)")
    parser.add_argument("--count", type=int, default=DEFAULT_CALIB_CROPS, metavar="N",
                        help=f"calibration crops (default {DEFAULT_CALIB_CROPS})")
    parser.add_argument("--format", choices=FORMATS, default="qdq", dest="quant_format",
                        help="qdq (default) or qoperator graph format")
    parser.add_argument("--method", choices=METHODS, default="minmax",
                        help="activation range calibration (default minmax)")
    parser.add_argument("--per-tensor", action="store_true",
                        help="one weight scale per tensor instead of per output channel")
    parser.add_argument("--eval-folder", type=Path, default=None, metavar="DIR",
                        help="also write a complete graph folder whose backbone.onnx is the int8 "
                             "graph (for `python -m export evaluate --onnx DIR`)")
    parser.add_argument("--gate", nargs=2, type=Path, default=None,
                        metavar=("FP32.json", "INT8.json"),
                        help="instead of quantizing: compare two results JSONs; exit 0 when the "
                             f"int8 overall F1 is at most {MAX_F1_DROP} below fp32, else 1")
    parser.add_argument("--max-drop", type=float, default=MAX_F1_DROP, metavar="F1",
                        help=f"allowed overall-F1 drop for --gate (default {MAX_F1_DROP})")


def run(args: argparse.Namespace) -> int:
    if args.gate is not None:
        try:
            result = int8_gate(args.gate[0], args.gate[1], max_drop=args.max_drop)
        except (QuantizeError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(result.describe())
        return 0 if result.passed else 1
    if args.graphs is None or args.calib is None:
        print("error: --graphs DIR and --calib DATA_OR_CLIP are required (or use --gate)",
              file=sys.stderr)
        return 2
    try:
        contract = _read_contract(args.graphs / C.GRAPH_FILES["backbone"]) \
            if (args.graphs / C.GRAPH_FILES["backbone"]).is_file() else None
        crop_size = contract.crop_size if contract is not None else 128
        transform = contract.transform if contract is not None else InputTransform()
        crops = collect_calibration_crops(args.calib, crop_size, args.count, transform=transform)
        out_dir = args.out if args.out is not None else args.graphs
        path = quantize_backbone(args.graphs, crops, out_dir / INT8_BACKBONE_FILE,
                                 quant_format=args.quant_format, per_channel=not args.per_tensor,
                                 method=args.method)
        print(f"int8 backbone -> {path} ({path.stat().st_size / 1e6:.1f} MB, calibrated on "
              f"{len(crops)} crops from {args.calib})")
        if len(crops) >= 5:
            diff = compare_to_fp32(args.graphs, path, crops[:min(len(crops), 64)])
            print(f"vs fp32 on calibration crops: feature rel. error "
                  f"{diff['feature_rel_err']:.4f}, max |dprob| {diff['probs_max_abs_diff']:.4f}, "
                  f"argmax agreement {diff['argmax_agreement']:.3f} (crops are not consecutive "
                  "frames: a rough check only)")
        if args.eval_folder is not None:
            folder = write_eval_folder(args.graphs, path, args.eval_folder)
            print(f"evaluation folder -> {folder} (backbone.onnx is the int8 graph)")
    except (QuantizeError, C.ContractError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
