"""``python -m realtime <command>``: the live half's command line (torch-free).

Each command lives in its own module exposing ``add_arguments(parser)`` and ``run(args) -> int``;
only the chosen command's module is imported.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "spot": ("realtime.cli_spot", "spot expressions in a camera, file, URL or image folder"),
    "serve": ("realtime.app", "serve the Gradio page (webcam, server source, recording)"),
    "bench": ("realtime.bench", "per-stage and per-window latency benchmark"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = argparse.ArgumentParser(prog="python -m realtime", description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] not in COMMANDS:
        top.parse_args(argv or ["--help"])
        return 2
    module = importlib.import_module(COMMANDS[argv[0]][0])
    parser = argparse.ArgumentParser(prog=f"python -m realtime {argv[0]}",
                                     description=COMMANDS[argv[0]][1])
    module.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
