"""``python -m export <command>``: the PyTorch half's command line.

Each command lives in its own module exposing ``add_arguments(parser)`` and ``run(args) -> int``;
only the chosen command's module is imported (``synth`` and ``evaluate --gt/--pred`` stay
torch-free that way).
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "onnx": ("export.onnx_export", "export a checkpoint to backbone/head/whole-window ONNX graphs"),
    "train": ("export.train", "train STSNet_SW (LOSO, k-fold by subject, fixed split, or all)"),
    "evaluate": ("export.evaluate", "score interval files, or evaluate a checkpoint on videos"),
    "synth": ("export.synth", "generate a SynthME long-video benchmark from face portraits"),
    "preprocess": ("export.preprocess", "detect, crop and cache 128x128 face crops of a dataset"),
    "baseline": ("export.baseline", "training-free frame-difference spotting baseline"),
    "info": ("export.info", "parameter count and FLOPs per frame of the model"),
    "quantize": ("export.quantize", "int8 backbone (static, calibrated on face crops); F1 gate"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = argparse.ArgumentParser(prog="python -m export", description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] not in COMMANDS:
        top.parse_args(argv or ["--help"])
        return 2
    module = importlib.import_module(COMMANDS[argv[0]][0])
    parser = argparse.ArgumentParser(prog=f"python -m export {argv[0]}",
                                     description=COMMANDS[argv[0]][1])
    module.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
