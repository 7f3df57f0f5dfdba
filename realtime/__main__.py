"""``python -m realtime <command>``: the live half's command line (torch-free).

Each command lives in its own module exposing ``add_arguments(parser)`` and ``run(args) -> int``;
only the chosen command's module is imported.
"""

from __future__ import annotations

import sys

from realtime.cli import dispatch

COMMANDS: dict[str, tuple[str, str]] = {
    "spot": ("realtime.cli.spot", "spot expressions in a camera, file, URL or image folder"),
    "serve": ("realtime.app", "serve the Gradio page (webcam, server source, recording)"),
    "bench": ("realtime.bench", "per-stage and per-window latency benchmark"),
    "batch": ("realtime.corpus", "spot expressions in a corpus of recordings (Ray, or local "
              "processes)"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return dispatch("python -m realtime", __doc__.splitlines()[0], COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
