"""The ``serve`` command: network defaults, exposed servers, bad options, torch-free."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gradio as gr
import pytest

import realtime.app as app_module
from realtime.__main__ import main


@pytest.fixture
def launches(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, dict]]:
    calls: list[tuple[object, dict]] = []
    monkeypatch.setattr(gr.Blocks, "launch",
                        lambda self, **kw: calls.append((self, kw)) or (None, "", ""))
    return calls


def test_serve_binds_loopback_and_never_shares_by_default(exported_graphs, launches) -> None:
    assert main(["serve", "--weights", str(exported_graphs.out_dir)]) == 0
    (blocks, kw), = launches
    assert kw["server_name"] == "127.0.0.1" and kw["server_port"] == 7860
    assert kw["share"] is False and kw["max_file_size"] == "200mb"
    assert blocks.analytics_enabled is False  # no telemetry requests
    assert blocks.spotter_app.config.server_source is True
    assert blocks.spotter_app.config.concurrency == 4
    assert "Space" in kw["js"] and kw["js"] == blocks.page_js  # the page's keyboard script


@pytest.mark.parametrize("flags, shared, server_source", [
    (["--share"], True, False),
    (["--host", "0.0.0.0"], False, False),
    (["--host", "0.0.0.0", "--allow-server-source"], False, True),
])
def test_exposed_servers_lock_the_server_source_tab(exported_graphs, launches, flags: list,
                                                    shared: bool, server_source: bool) -> None:
    argv = ["serve", "--weights", str(exported_graphs.out_dir), "--concurrency", "2",
            "--max-upload-mb", "20", *flags]
    assert main(argv) == 0
    (blocks, kw), = launches
    assert kw["share"] is shared and kw["max_file_size"] == "20mb"
    assert blocks.spotter_app.config.server_source is server_source
    assert blocks.spotter_app.config.concurrency == 2


def test_serve_without_graphs_says_so(tmp_path: Path, launches,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--weights", str(tmp_path)]) == 2
    assert "no exported graphs" in capsys.readouterr().err and not launches


@pytest.mark.parametrize("flags, option", [
    (["--concurrency", "0"], "--concurrency"), (["--max-upload-mb", "0"], "--max-upload-mb"),
    (["--threads", "0"], "--threads"),
])
def test_serve_names_a_bad_option(exported_graphs, launches, flags: list, option: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--weights", str(exported_graphs.out_dir), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and option in err and not launches


def test_serve_never_imports_torch() -> None:
    code = ("import sys, realtime.app, gradio; "
            "sys.exit(3 if 'torch' in sys.modules else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(app_module.__file__).parents[2],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:] or "torch was imported"


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_serve_stops_cleanly_on_sigterm_and_sighup(exported_graphs, signame: str) -> None:
    """Issue 12 item 2 (serve): the signal stops the server like Ctrl-C (sessions closed),
    says so, and exits 128 + signal."""
    import signal
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(app_module.__file__).parents[2]
    proc = subprocess.Popen([sys.executable, "-m", "realtime", "serve", "--weights",
                             str(exported_graphs.out_dir), "--port", str(port)], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    assert r.status == 200
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()[1][-2000:]
                assert time.monotonic() < deadline, "serve did not come up"
                time.sleep(0.5)
        proc.send_signal(getattr(signal, signame))
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + getattr(signal, signame), err[-2000:]
    assert f"stopped by {signame}: 0 page session(s) closed" in err
