"""``python -m realtime serve``: the Gradio page (webcam, server source, recording).

Three tabs feed the same pipeline (:class:`~realtime.spotter.Spotter` + overlay) and show the
same panel: the annotated frame, an event log that grows live, a timeline of the class
probabilities over the last seconds, a status line, and the events as CSV/JSON downloads.

- **Webcam**: the browser streams its camera to the server (``gr.Image`` streaming); each frame
  comes back annotated.
- **Server source**: a camera index, rtsp/http URL or file path opened on the server and read
  at its own rate by a capture thread; the page polls for the latest frame.
- **Recording**: an uploaded video (or the built-in demo clip) processed as it plays, paced at
  its own frame rate, with the events to download at the end.

State: one :class:`~realtime.app.sessions.Session` per browser page load (keyed by Gradio's
session hash, closed on unload), holding one :class:`~realtime.app.channels.Channel` per tab. A
channel's spotter, event log and timeline survive stream restarts (Gradio ends a stream event
after ``time_limit`` and the page rejoins; the user may stop and start): frame indices keep
increasing, a pause is a gap (the open expression is closed, cut short), and the log ignores an
event it already holds. Only "Reset" (or a new recording) starts afresh, and only then do
changed settings take effect.

Modules, from the bottom up: ``settings`` (what the user and the server choose), ``eventlog``
(the log and its HTML/downloads), ``timeline`` (the probability plot), ``analysis`` (one
stream's spotter and what the page shows of it), ``channels`` (one stream per tab, background
runs), ``sessions``, ``panel`` (the log/timeline/status/downloads values sent to the page),
``handlers`` (:class:`SpotterApp`, the logic Gradio calls), ``page`` (the layout) and ``cli``
(the ``serve`` command).

Torch-free.
"""

from __future__ import annotations

from realtime.app.cli import add_arguments, run
from realtime.app.eventlog import LOG_COLUMNS, EventLog, render_downloads_html, render_log_html
from realtime.app.handlers import SpotterApp
from realtime.app.page import build_app, build_page
from realtime.app.settings import AppConfig, SpotSettings
from realtime.app.timeline import ProbabilityTimeline

__all__ = ["LOG_COLUMNS", "AppConfig", "EventLog", "ProbabilityTimeline", "SpotSettings",
           "SpotterApp", "add_arguments", "build_app", "build_page", "render_downloads_html",
           "render_log_html", "run"]
