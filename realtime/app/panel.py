"""What every tab shows under its frame, as the values Gradio sends: [log, timeline, status,
downloads]. Parts that did not change are skipped (``gr.skip()``), so a poll costs little."""

from __future__ import annotations

import time
from typing import Any

import gradio as gr

from realtime.app.channels import Channel
from realtime.app.eventlog import render_downloads_html, render_log_html
from realtime.app.summary import run_summary_html

PANEL_SIZE = 4  # log, timeline, status, downloads
PANEL_REFRESH_S = 0.3  # timeline and status refresh interval while streaming


def skipped(n: int = PANEL_SIZE) -> list[Any]:
    """``n`` outputs left as they are."""
    return [gr.skip()] * n


def panel_update(channel: Channel, force: bool = False) -> list[Any]:
    """[log, timeline, status, downloads] of a channel. A changed log is sent at once;
    timeline and status at most every :data:`PANEL_REFRESH_S` unless ``force``."""
    a = channel.analysis
    if a is None:
        if not force:
            return skipped()
        return [render_log_html([]), None, channel.status_line(None),
                render_downloads_html(None, "")]
    now = time.monotonic()
    version = a.log.version
    log_changed = force or version != channel.sent_log_version
    if not log_changed and now - channel.sent_panel_s < PANEL_REFRESH_S:
        return skipped()
    channel.sent_panel_s = now
    timeline = a.timeline.render(a.log.spans(a.last_time_s))
    status = channel.status_line(a)
    if not log_changed:
        return [gr.skip(), timeline, status, gr.skip()]
    channel.sent_log_version = version
    downloads = render_downloads_html(a.log, channel.download_stem)
    run = getattr(channel, "run", None)
    if run is not None and run.finished:  # a recording ended or a source stopped
        downloads += run_summary_html(a, getattr(channel, "ground_truth", None))
    return [render_log_html(a.log.shown()), timeline, status, downloads]


def poll_update(channel: Channel) -> list[Any]:
    """[log, timeline, status, downloads] for the webcam's slow poll: the log (and its
    downloads) when its version changed since the last poll, the status when its text did;
    the timeline never (the stream sends it)."""
    a = channel.analysis
    out = skipped()
    if a is None:
        return out
    version = a.log.version
    if version != channel.polled_log_version:
        channel.polled_log_version = version
        out[0] = render_log_html(a.log.shown())
        out[3] = render_downloads_html(a.log, channel.download_stem)
    status = channel.status_line(a)
    if status != channel.polled_status:
        channel.polled_status = out[2] = status
    return out
