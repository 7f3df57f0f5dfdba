"""Lazy sub-command dispatch: help, unknown commands, only the chosen module imported."""

from __future__ import annotations

import argparse
import subprocess
import sys
import types
from pathlib import Path

import pytest

from realtime.cli import dispatch

ROOT = Path(__file__).resolve().parents[3]


def _command_module(monkeypatch: pytest.MonkeyPatch, name: str, seen: list) -> None:
    module = types.ModuleType(name)

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--n", type=int, default=1)

    def run(args: argparse.Namespace) -> int:
        seen.append(args.n)
        return args.n

    module.add_arguments, module.run = add_arguments, run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, name, module)


def test_runs_the_chosen_command_with_its_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list = []
    _command_module(monkeypatch, "fake_cmd_a", seen)
    commands = {"a": ("fake_cmd_a", "command a"), "b": ("not_a_module_at_all", "command b")}
    assert dispatch("prog", "a program", commands, ["a", "--n", "7"]) == 7
    assert seen == [7]  # module b was never imported (it does not exist)


def test_no_or_unknown_command_prints_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    commands = {"a": ("fake_cmd_a", "does a thing")}
    with pytest.raises(SystemExit):
        dispatch("prog", "a program", commands, [])
    assert "does a thing" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        dispatch("prog", "a program", commands, ["zzz"])
    assert info.value.code == 2 and "invalid choice: 'zzz'" in capsys.readouterr().err


def test_python_m_realtime_lists_the_live_commands() -> None:
    done = subprocess.run([sys.executable, "-m", "realtime", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    for name in ("spot", "serve", "bench"):
        assert name in done.stdout


def test_importing_the_cli_is_cheap() -> None:
    code = ("import sys, realtime.cli; "
            "heavy = [m for m in ('cv2', 'onnxruntime', 'mediapipe', 'gradio', 'torch') "
            "if m in sys.modules]; assert not heavy, heavy")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
