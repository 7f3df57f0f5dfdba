"""``python -m export <command>``: the PyTorch half's command line.

Each command lives in its own module exposing ``add_arguments(parser)`` and ``run(args) -> int``;
only the chosen command's module is imported (``synth`` and ``evaluate --gt/--pred`` stay
torch-free that way).
"""

from __future__ import annotations

import sys

from realtime.cli import dispatch

COMMANDS: dict[str, tuple[str, str]] = {
    "onnx": ("export.onnx_export", "export a checkpoint to backbone/head/whole-window ONNX graphs"),
    "train": ("export.train", "train STSNet_SW (LOSO, k-fold by subject, fixed split, the "
              "dataset's own split, or all)"),
    "tune": ("export.tune", "choose post-processing on validation subjects, score it on test"),
    "pretrain": ("export.pretrain", "pretrain the backbone on SynthME's per-frame action-unit "
                 "truth"),
    "evaluate": ("export.evaluate", "score interval files, or evaluate a checkpoint on videos"),
    "synth": ("export.synth", "generate a SynthME long-video benchmark from face portraits"),
    "preprocess": ("export.preprocess", "detect, crop and cache 128x128 face crops of a dataset"),
    "baseline": ("export.baseline", "training-free frame-difference spotting baseline"),
    "info": ("export.info", "parameter count and FLOPs per frame of the model"),
    "quantize": ("export.quantize", "int8 backbone (static, calibrated on face crops); F1 gate"),
    "diagnose": ("export.diagnose", "feature variation and a head-only probe: what a model learnt"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return dispatch("python -m export", __doc__.splitlines()[0], COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
