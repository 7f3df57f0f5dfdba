"""``python -m export onnx``: a checkpoint -> backbone.onnx, head.onnx and stsnet_sw.onnx.

* ``backbone.onnx``: ``frames (N, 1, S, S)`` -> ``features (N, 512, S/32, S/32)``, dynamic N.
* ``head.onnx``: ``features (B, K, 512, h, w)`` -> ``probs (B, Q)``, ``keyframe_scores (B, K)``,
  ``key_indices (B, M)``; top-M selection runs inside the graph. Dynamic B.
* ``stsnet_sw.onnx``: ``windows (B, K, 1, S, S)`` -> the same three outputs (whole window).

Each graph carries the contract of :mod:`realtime.contract` in its ``metadata_props``.
The three graphs share one weights file (``stsnet_sw.weights``, ONNX external data): the whole
window graph holds the same tensors as backbone + head, so storing them once halves the size of
``weights/``. Keep the four files together.

The command checks what it cheaply can (the checkpoint exists and is a file, the output folder
can be made) before it imports torch (~30 s on a small machine), and prints errors on stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from export import __version__
from realtime import contract as C

if TYPE_CHECKING:  # the heavy imports happen inside the functions that need them
    import onnx
    from torch import Tensor, nn

    from export.model import STSNetSW

OPSET = 17
SHARED_WEIGHTS_FILE = "stsnet_sw.weights"


def exporter_name() -> str:
    """The exporter string written into every contract (names the torch version)."""
    import torch

    return f"stsnet-export {__version__} (torch {torch.__version__.split('+')[0]}, opset {OPSET})"


def _graph_modules() -> tuple[type[nn.Module], type[nn.Module]]:
    """The head-only and whole-window wrappers (softmax probabilities + key frames out)."""
    import torch
    from torch import nn

    class HeadGraph(nn.Module):
        def __init__(self, model: STSNetSW) -> None:
            super().__init__()
            self.head = model.head

        def forward(self, features: Tensor) -> tuple[Tensor, Tensor, Tensor]:
            logits, scores, keys = self.head(features, return_keys=True)
            return torch.softmax(logits, dim=1), scores, keys

    class WindowGraph(nn.Module):
        def __init__(self, model: STSNetSW) -> None:
            super().__init__()
            self.model = model

        def forward(self, windows: Tensor) -> tuple[Tensor, Tensor, Tensor]:
            logits, scores, keys = self.model(windows, return_keys=True)
            return torch.softmax(logits, dim=1), scores, keys

    return HeadGraph, WindowGraph


def make_contract(model: STSNetSW, graph: str, checkpoint_sha256: str,
                  model_metadata: dict[str, Any]) -> C.Contract:
    cfg = model.config
    inputs, outputs = C.expected_specs(graph, cfg.window, cfg.key_frames, cfg.crop_size,
                                       cfg.feature_shape, cfg.num_classes)
    return C.Contract(
        graph=graph, inputs=inputs, outputs=outputs, window=cfg.window,
        key_frames=cfg.key_frames, crop_size=cfg.crop_size, feature_shape=cfg.feature_shape,
        class_names=cfg.class_names, input_mean=cfg.input_mean, input_std=cfg.input_std,
        checkpoint_sha256=checkpoint_sha256, exporter=exporter_name(), opset=OPSET,
        model={"config": cfg.to_dict(), "metadata": model_metadata},
        input_transform=cfg.input_transform.to_dict(),
        train_fps=C.train_fps_from_metadata(model_metadata),
        postprocess=recommended_postprocess(model_metadata))


def recommended_postprocess(model_metadata: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint's recommended post-processing (``metadata["postprocess"]``, written by
    ``export tune --into``), validated; {} (the paper's) when it names none."""
    from realtime.postprocess import PostprocessSetting

    d = model_metadata.get("postprocess") if isinstance(model_metadata, dict) else None
    return PostprocessSetting.from_dict(d).to_dict() if d else {}


def _export_one(module: nn.Module, example: Tensor, contract: C.Contract) -> onnx.ModelProto:
    import onnx
    import torch

    in_names = [t.name for t in contract.inputs]
    out_names = [t.name for t in contract.outputs]
    dynamic = {n: {0: "batch"} for n in in_names + out_names}
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation/GRU notes
        torch.onnx.export(module, (example,), buf, input_names=in_names, output_names=out_names,
                          dynamic_axes=dynamic, opset_version=OPSET, dynamo=False,
                          do_constant_folding=True)
    proto = onnx.load_from_string(buf.getvalue())
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = C.CONTRACT_KEY, contract.to_json()
    proto.producer_name, proto.producer_version = "stsnet-export", __version__
    proto.doc_string = f"STSNet_SW {contract.graph} graph; contract in metadata {C.CONTRACT_KEY}"
    return proto


def _share_weights(protos: dict[str, onnx.ModelProto], weights_path: Path,
                   min_bytes: int = 1024) -> None:
    """Move large initializers of all graphs to one external-data file, each tensor stored once."""
    import onnx
    from onnx import numpy_helper

    offsets: dict[str, tuple[int, int]] = {}
    with open(weights_path, "wb") as f:
        for proto in protos.values():
            for init in proto.graph.initializer:
                raw = numpy_helper.to_array(init).tobytes()
                if len(raw) < min_bytes:
                    continue
                key = hashlib.sha256(raw + str(init.data_type).encode()
                                     + str(list(init.dims)).encode()).hexdigest()
                if key not in offsets:
                    pad = (-f.tell()) % 64  # aligned for memory mapping
                    f.write(b"\0" * pad)
                    offsets[key] = (f.tell(), len(raw))
                    f.write(raw)
                offset, length = offsets[key]
                init.ClearField("raw_data")
                for field in ("float_data", "int64_data", "int32_data", "double_data"):
                    init.ClearField(field)
                init.data_location = onnx.TensorProto.EXTERNAL
                del init.external_data[:]
                for k, v in (("location", weights_path.name), ("offset", str(offset)),
                             ("length", str(length))):
                    e = init.external_data.add()
                    e.key, e.value = k, v


def export_checkpoint(checkpoint: str | Path, out_dir: str | Path,
                      share_weights: bool = True, key_frame_mode: str | None = None
                      ) -> dict[str, Path]:
    """Export the three graphs of ``checkpoint`` into ``out_dir``; returns graph kind -> path.

    key_frame_mode: "fixed" exports the key-frame selector ablation (the same weights, the M
    middle frames of every window instead of the top-M scored ones; recorded in the graphs'
    model config); None keeps the checkpoint's mode."""
    import onnx
    import torch

    from export.checkpoint import file_sha256, model_from_checkpoint

    head_graph, window_graph = _graph_modules()
    checkpoint, out_dir = Path(checkpoint), Path(out_dir)
    model, ckpt = model_from_checkpoint(checkpoint)
    if key_frame_mode is not None and key_frame_mode != model.config.key_frame_mode:
        import dataclasses

        model.config = model.head.config = dataclasses.replace(model.config,
                                                               key_frame_mode=key_frame_mode)
    sha = file_sha256(checkpoint)
    cfg = model.config
    out_dir.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(0)
    frames = torch.rand(2, 1, cfg.crop_size, cfg.crop_size, generator=gen)
    windows = torch.rand(2, cfg.window, 1, cfg.crop_size, cfg.crop_size, generator=gen)
    with torch.no_grad():
        feats = model.backbone(torch.rand(2 * cfg.window, 1, cfg.crop_size, cfg.crop_size,
                                          generator=gen))
    feats = feats.reshape(2, cfg.window, *feats.shape[1:])
    meta = ckpt.get("metadata", {})
    protos = {
        "backbone": _export_one(model.backbone, frames,
                                make_contract(model, "backbone", sha, meta)),
        "head": _export_one(head_graph(model).eval(), feats,
                            make_contract(model, "head", sha, meta)),
        "window": _export_one(window_graph(model).eval(), windows,
                              make_contract(model, "window", sha, meta)),
    }
    if share_weights:
        _share_weights(protos, out_dir / SHARED_WEIGHTS_FILE)
    paths = {}
    for kind, proto in protos.items():
        path = out_dir / C.GRAPH_FILES[kind]
        onnx.save(proto, str(path))
        onnx.checker.check_model(str(path))
        paths[kind] = path
    return paths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, type=Path, help="checkpoint (.pt) file")
    parser.add_argument("--out", required=True, type=Path, help="output folder for the graphs")
    parser.add_argument("--no-share-weights", action="store_true",
                        help="embed weights in each graph instead of one shared weights file")
    parser.add_argument("--fixed-key-frames", action="store_true",
                        help="ablation: graphs that use the M middle frames of every window "
                             "instead of the key-frame selector's choice (same weights)")
    parser.add_argument("--ship", action="store_true",
                        help="first write a compact copy of the checkpoint (float16 storage, no "
                             "optimizer state) to OUT/stsnet_sw.pt and export from that copy")


def ship_checkpoint(checkpoint: str | Path, out_dir: str | Path) -> Path:
    """Compact copy for distribution: float16 weights, metadata kept, no training state."""
    import torch

    from export.checkpoint import file_sha256, model_from_checkpoint, save_checkpoint

    model, ckpt = model_from_checkpoint(checkpoint)
    meta = dict(ckpt.get("metadata", {}))
    meta["shipped_from"] = {"file": Path(checkpoint).name, "sha256": file_sha256(checkpoint)}
    return save_checkpoint(Path(out_dir) / "stsnet_sw.pt", model, metadata=meta,
                           storage_dtype=torch.float16)


def check_paths(checkpoint: Path, out_dir: Path) -> None:
    """The checks that need no torch: the checkpoint is a readable file, the output folder is
    (or can be) a folder. Raises ValueError naming the path."""
    if not checkpoint.exists():
        raise ValueError(f"checkpoint {checkpoint} not found")
    if not checkpoint.is_file():
        raise ValueError(f"checkpoint {checkpoint} is not a file")
    try:
        with checkpoint.open("rb") as f:
            f.read(1)
    except OSError as exc:
        raise ValueError(f"cannot read checkpoint {checkpoint}: {exc.strerror or exc}") from exc
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir} is a file, not a folder")
    parent = next((p for p in [out_dir, *out_dir.parents] if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ValueError(f"--out {out_dir}: {parent} is a file, not a folder")


def run(args: argparse.Namespace) -> int:
    def fail(exc: object) -> int:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    try:
        check_paths(args.checkpoint, args.out)
    except ValueError as exc:
        return fail(exc)
    from export.checkpoint import CheckpointError  # imports torch

    try:
        if args.ship:
            args.checkpoint = ship_checkpoint(args.checkpoint, args.out)
            print(f"shipped  -> {args.checkpoint} (float16 storage)")
        paths = export_checkpoint(args.checkpoint, args.out,
                                  share_weights=not args.no_share_weights,
                                  key_frame_mode="fixed" if args.fixed_key_frames else None)
    except CheckpointError as exc:
        return fail(exc)
    except OSError as exc:
        return fail(f"cannot write the graphs to {args.out}: {exc.strerror or exc}")
    for kind, path in paths.items():
        print(f"{kind:8s} -> {path}")
    if not args.no_share_weights:
        print(f"weights  -> {args.out / SHARED_WEIGHTS_FILE} (shared by the three graphs)")
    return 0
