"""The live commands' shared options and start-up (weights, provider, threads, quiet logs)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from realtime.cli import (
    add_engine_options,
    add_provider_option,
    add_threads_option,
    add_weights_option,
    check_threads_option,
    quiet_logs,
)
from realtime.spotter import DEFAULT_WEIGHTS


def test_engine_options_defaults_and_values() -> None:
    parser = argparse.ArgumentParser()
    add_engine_options(parser)
    args = parser.parse_args([])
    assert (args.weights, args.provider, args.threads) == (DEFAULT_WEIGHTS, "auto", None)
    args = parser.parse_args(["--weights", "w", "--provider", "cpu", "--threads", "3"])
    assert (args.weights, args.provider, args.threads) == (Path("w"), "cpu", 3)
    with pytest.raises(SystemExit):
        parser.parse_args(["--provider", "tpu"])


def test_each_command_keeps_its_help_and_order(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_weights_option(parser, metavar="DIR")
    parser.add_argument("--frames")
    add_provider_option(parser, help="device X")
    add_threads_option(parser, help="threads Y")
    text = parser.format_help()
    assert "--weights DIR" in text and "device X" in text and "threads Y" in text
    assert text.index("--weights") < text.index("--frames") < text.index("--provider")


@pytest.mark.parametrize("value", [0, 257, -3])
def test_threads_option_is_checked(value: int) -> None:
    assert check_threads_option(None) is None and check_threads_option(256) == 256
    with pytest.raises(ValueError, match=rf"--threads must be in \[1, 256\], got {value}"):
        check_threads_option(value)


def test_quiet_logs_keeps_the_users_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GLOG_minloglevel", raising=False)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    quiet_logs()
    assert os.environ["GLOG_minloglevel"] == "2"
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"  # the user's choice stays
