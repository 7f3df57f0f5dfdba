"""Issue 15: the face-crop cache defaults to a per-user folder, not the current directory,
for every command that crops faces; the help says where."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import pytest

from export.cachedir import ENV_VAR, cache_help, default_cache_dir

COMMANDS = ["export.evaluate.cli", "export.train", "export.diagnose", "export.pretrain",
            "export.baseline"]


def test_the_default_is_per_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "stsnet-sw" / "crops"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "stsnet-sw" / "crops"
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"
    assert str(tmp_path / "mine") in cache_help()


@pytest.mark.parametrize("module", COMMANDS)
def test_commands_default_to_it(module: str, monkeypatch: pytest.MonkeyPatch,
                                tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "crops"))
    parser = argparse.ArgumentParser()
    importlib.import_module(module).add_arguments(parser)
    action = next(a for a in parser._actions if "--cache" in a.option_strings)
    assert Path(action.default) == tmp_path / "crops"
    assert not Path(action.default).is_relative_to(Path.cwd())
    assert "per user" in action.help
