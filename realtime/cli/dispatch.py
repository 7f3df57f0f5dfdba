"""Lazy sub-command dispatch shared by ``python -m realtime`` and ``python -m export``.

Each command is a module exposing ``add_arguments(parser)`` and ``run(args) -> int``; only the
chosen command's module is imported, so a torch-free command never pays for (or needs) torch.
"""

from __future__ import annotations

import argparse
import importlib


def dispatch(prog: str, description: str, commands: dict[str, tuple[str, str]],
             argv: list[str]) -> int:
    """Run ``argv[0]`` from ``commands`` (name -> (module, help)); print help when unknown."""
    top = argparse.ArgumentParser(prog=prog, description=description)
    sub = top.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in commands.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] not in commands:
        top.parse_args(argv or ["--help"])
        return 2
    module_name, help_text = commands[argv[0]]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"{prog} {argv[0]}", description=help_text)
    module.add_arguments(parser)
    return int(module.run(parser.parse_args(argv[1:])) or 0)
