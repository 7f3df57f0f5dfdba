"""Helpers shared by the export tests."""

from __future__ import annotations

from pathlib import Path

from export.__main__ import main as export_main
from export.evaluate import VARIANTS


def torch_and_onnx_intervals(ckpt: Path, graphs: Path, data: Path,
                             tmp_path: Path) -> dict[str, dict[str, str]]:
    """``evaluate`` through PyTorch and through the graphs: spotted-interval CSVs per variant."""
    outs = {}
    for name, extra in (("torch", []), ("onnx", ["--onnx", str(graphs)])):
        out = tmp_path / name
        assert export_main(["evaluate", "--checkpoint", str(ckpt), "--data", str(data),
                            "--cache", str(tmp_path / "cache"), "--out", str(out),
                            *extra]) == 0
        outs[name] = {n: (out / f"intervals_{n.replace(' ', '_')}.csv").read_text()
                      for n in VARIANTS}
    return outs
