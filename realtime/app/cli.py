"""``python -m realtime serve``: options, network defaults (loopback, no share link) and launch."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from realtime.app.handlers import SpotterApp
from realtime.app.page import build_app
from realtime.cli import (
    EXIT_ERROR,
    EXIT_OK,
    add_provider_option,
    add_threads_option,
    add_weights_option,
    quiet_logs,
)
from realtime.vocab import option_message

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# AppConfig fields set by options: an error names the option the user typed
OPTION_NAMES = {"max_upload_mb": "--max-upload-mb", "concurrency": "--concurrency",
                "threads": "--threads"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``serve`` options: network, the shared engine options, limits of the page."""
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    add_weights_option(parser)
    parser.add_argument("--share", action="store_true",
                        help="also open a temporary public gradio.live link (off by default)")
    parser.add_argument("--concurrency", type=int, default=4, metavar="N",
                        help="streams processed at the same time (default 4)")
    parser.add_argument("--max-upload-mb", type=int, default=200, metavar="N",
                        help="largest video upload in MB (default 200)")
    add_provider_option(parser)
    add_threads_option(parser,
                       help="ONNX Runtime CPU threads per stream (default: one per core)")
    parser.add_argument("--allow-server-source", action="store_true",
                        help="enable the Server source tab even with --share or a "
                             "non-local --host (it opens cameras, URLs and files on this "
                             "machine for any visitor)")


STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP")
                     if hasattr(signal, name))


class _Stop(KeyboardInterrupt):
    """SIGTERM or SIGHUP, turned into the stop Ctrl-C makes (Gradio's launch loop ends on a
    KeyboardInterrupt and closes the server)."""


@contextlib.contextmanager
def stop_signals() -> Iterator[list[int]]:
    """While active (main thread only), SIGTERM and SIGHUP stop the server like Ctrl-C; the
    list yielded receives the signal that did. A second signal during clean-up is ignored."""
    fired: list[int] = []

    def handle(signum: int, frame: Any) -> None:
        if not fired:
            fired.append(signum)
            raise _Stop(signal.Signals(signum).name)

    old: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:
            old[signum] = signal.signal(signum, handle)
    try:
        yield fired
    finally:
        for signum, handler in old.items():
            signal.signal(signum, handler)


def run(args: argparse.Namespace) -> int:
    """Build the page from the options and serve it until interrupted; 2 on a bad option."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    quiet_logs()
    weights = Path(args.weights)
    if not (weights / "backbone.onnx").is_file():
        print(f"error: no exported graphs in {weights} (backbone.onnx missing); "
              "pass --weights DIR (made by `python -m export onnx`)", file=sys.stderr)
        return EXIT_ERROR
    exposed = bool(args.share) or args.host not in LOOPBACK_HOSTS
    try:
        blocks = build_app(weights, provider=args.provider, threads=args.threads,
                           concurrency=args.concurrency, max_upload_mb=args.max_upload_mb,
                           server_source=args.allow_server_source or not exposed)
    except ValueError as exc:  # name the command-line option, not the field
        print(f"error: {option_message(str(exc), OPTION_NAMES)}", file=sys.stderr)
        return EXIT_ERROR
    app: SpotterApp = blocks.spotter_app
    with stop_signals() as fired:
        try:
            blocks.queue(default_concurrency_limit=args.concurrency).launch(
                server_name=args.host, server_port=args.port, share=bool(args.share),
                max_file_size=f"{args.max_upload_mb}mb", show_error=True, ssr_mode=False,
                footer_links=[], js=blocks.page_js)
        except KeyboardInterrupt:
            pass
        finally:
            fired.append(0)  # from here on a signal is ignored: the streams are closing
            streams = len(app.sessions)
            app.sessions.close_all()  # each open expression is closed, cut short
    if fired[0]:
        print(f"stopped by {signal.Signals(fired[0]).name}: {streams} page session(s) "
              "closed", file=sys.stderr)
        return 128 + fired[0]
    return EXIT_OK
