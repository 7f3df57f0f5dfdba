"""The page's logic: the handlers Gradio calls, each taking the widgets' values plus the
request (for the session) and returning the widgets' new values."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import cv2
import gradio as gr
import numpy as np

from realtime.app.analysis import Analysis
from realtime.app.channels import Channel, SourceChannel
from realtime.app.eventlog import render_downloads_html, render_log_html
from realtime.app.sessions import Session, SessionRegistry
from realtime.app.settings import AppConfig, SpotSettings
from realtime.sources import SourceError, open_source
from realtime.spotter import Spotter

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv",
                  ".flv", ".ogv", ".y4m")
PANEL_REFRESH_S = 0.3  # timeline and status refresh interval while streaming
PANEL_SIZE = 4  # log, timeline, status, downloads
# Gradio keeps every frame it sends as a file: check each minute, delete after 5 minutes (an
# upload must be started within that time; the page says so if it is gone).
CACHE_POLICY_S = (60, 300)


def _session_id(request: Any) -> str:
    sid = getattr(request, "session_hash", None)
    if not sid:
        raise ValueError("no browser session: open the page in a browser")
    return str(sid)


class SpotterApp:
    """The page's logic: the handlers called by Gradio.

    Handlers take the widgets' values plus the Gradio request (for the session) and return
    the widgets' new values; :func:`realtime.app.page.build_page` lays out the page and wires
    them. ``blocks`` is the page built on this app (None until then).
    """

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.sessions = SessionRegistry(config, self.make_spotter)
        self.blocks: Any = None

    def make_spotter(self, settings: SpotSettings, source_name: str) -> Spotter:
        c = self.config
        return Spotter(c.weights_dir, provider=c.provider, mode=c.mode,
                       postprocess=settings.postprocess(), threshold=settings.threshold,
                       threads=c.threads, source_name=source_name)

    # -- panel --------------------------------------------------------------------------------
    def panel(self, session: Session, channel: Channel, force: bool = False) -> list[Any]:
        """[log, timeline, status, downloads] of a channel. A changed log is sent at
        once; timeline and status at most every :data:`PANEL_REFRESH_S` unless ``force``;
        unchanged parts are skipped (``gr.skip()``)."""
        a = channel.analysis
        extra = f" | {channel.message}" if channel.message else ""
        if a is None:
            if not force:
                return [gr.skip()] * PANEL_SIZE
            return [render_log_html([]), None, "idle" + extra, render_downloads_html(None, "")]
        now = time.monotonic()
        version = a.log.version
        log_changed = force or version != channel.sent_log_version
        if not log_changed and now - channel.sent_panel_s < PANEL_REFRESH_S:
            return [gr.skip()] * PANEL_SIZE
        channel.sent_panel_s = now
        timeline = a.timeline.render(a.log.spans(a.last_time_s))
        status = self._status(channel, a, extra)
        if not log_changed:
            return [gr.skip(), timeline, status, gr.skip()]
        channel.sent_log_version = version
        return [render_log_html(a.log.shown()), timeline, status,
                render_downloads_html(a.log, channel.download_stem)]

    @staticmethod
    def _status(channel: Channel, analysis: Analysis, extra: str) -> str:
        if not isinstance(channel, SourceChannel) or channel.run is None:
            return f"{analysis.status_text()}{extra}"
        run = channel.run
        state = "ended" if run.finished else "running"
        if run.behind_s > 0.5:
            state += f", {run.behind_s:.1f} s behind"
        if run.error:
            extra += f" | error: {run.error}"
        return f"{state} | {analysis.status_text()}{extra}"

    # -- webcam -------------------------------------------------------------------------------
    def on_webcam_frame(self, rgb: np.ndarray | None, merge_gap: float, min_length: float,
                        relabel: bool, use_threshold: bool, threshold: float,
                        request: gr.Request) -> list[Any]:
        """One streamed webcam frame -> [annotated frame, *panel]."""
        session = self.sessions.get(_session_id(request))
        if session is None:
            return [gr.skip()] * (1 + PANEL_SIZE)
        channel = session.webcam
        if rgb is None:
            return [gr.skip()] + self.panel(session, channel)
        try:
            settings = SpotSettings.from_ui(merge_gap, min_length, relabel, use_threshold,
                                            threshold)
        except ValueError as exc:
            channel.message = f"settings: {exc}"
            return [rgb] + self.panel(session, channel, force=True)
        try:
            annotated = channel.push(rgb, settings)
        except Exception as exc:  # e.g. graphs missing: end the stream with the reason
            log.exception("webcam frame of session %s failed", session.id)
            raise gr.Error(f"cannot spot this stream: {exc}") from exc
        return [annotated] + self.panel(session, channel)

    def on_webcam_poll(self, request: gr.Request) -> list[Any]:
        """Slow timer of the webcam tab: [*panel] with the log and status when they changed.

        A stream's last results can be lost when the user stops it (the page stops listening
        while the server finishes the frame in hand); this brings the page up to date."""
        session = self.sessions.find(_session_id(request))
        channel = None if session is None else session.webcam
        a = None if channel is None else channel.analysis
        if channel is None or a is None:
            return [gr.skip()] * PANEL_SIZE
        out: list[Any] = [gr.skip()] * PANEL_SIZE
        version = a.log.version
        if version != channel.polled_log_version:
            channel.polled_log_version = version
            out[0] = render_log_html(a.log.shown())
            out[3] = render_downloads_html(a.log, channel.download_stem)
        status = self._status(channel, a, f" | {channel.message}" if channel.message else "")
        if status != channel.polled_status:
            channel.polled_status = out[2] = status
        return out

    def on_reset(self, name: str, request: gr.Request) -> list[Any]:
        """Reset a channel: [cleared frame, *panel]."""
        session = self.sessions.get(_session_id(request))
        if session is None:
            return [gr.skip()] * (1 + PANEL_SIZE)
        channel = session.channel(name)
        channel.reset()
        return [None] + self.panel(session, channel, force=True)

    # -- server-side sources --------------------------------------------------------------------
    @staticmethod
    def _gone() -> list[Any]:
        """[frame, timer, *panel] for a call from a page whose session was closed."""
        return [gr.skip(), gr.Timer(active=False)] + [gr.skip()] * PANEL_SIZE

    def _refuse(self, session: Session, channel: SourceChannel, message: str) -> list[Any]:
        """[frame, timer, *panel] after a start that did not happen, saying why."""
        channel.message = f"error: {message}"
        gr.Warning(message)
        return [gr.skip(), gr.Timer(active=channel.running)] + self.panel(session, channel,
                                                                          force=True)

    def _start(self, session: Session, channel: SourceChannel, spec: str,
               settings_values: tuple[Any, ...]) -> list[Any]:
        """Open ``spec`` (paced at its own rate) and run it on ``channel``:
        [frame, timer, *panel]."""
        try:
            settings = SpotSettings.from_ui(*settings_values)
            if not channel.running and \
                    self.sessions.running_sources() >= self.config.concurrency:
                raise ValueError(f"the server is busy ({self.config.concurrency} streams "
                                 "running); try again later")
            source = open_source(spec, realtime=True)
        except (ValueError, SourceError) as exc:
            return self._refuse(session, channel, str(exc))
        try:
            channel.start(source, settings,
                          None if channel.continue_stream else Path(spec).stem)
        except Exception as exc:  # e.g. the graphs cannot be opened: say so on the page
            source.close()
            log.exception("starting %s failed", spec)
            return self._refuse(session, channel, f"{type(exc).__name__}: {exc}")
        return [None, gr.Timer(active=True)] + self.panel(session, channel, force=True)

    def on_poll(self, name: str, request: gr.Request) -> list[Any]:
        """Timer tick of a server-side channel: [latest frame, timer, *panel]."""
        session = self.sessions.find(_session_id(request))
        if session is None:
            return self._gone()
        channel = session.channel(name)
        assert isinstance(channel, SourceChannel)
        run = channel.run
        if run is None:
            return [gr.skip(), gr.Timer(active=False)] + self.panel(session, channel)
        finished = run.finished  # read before the frame, so the last frame is surely sent
        frame: Any = gr.skip()
        if run.latest_seq != channel.sent_seq and run.latest_bgr is not None:
            channel.sent_seq = run.latest_seq
            frame = cv2.cvtColor(run.latest_bgr, cv2.COLOR_BGR2RGB)
        timer = gr.Timer(active=False) if finished else gr.skip()
        return [frame, timer] + self.panel(session, channel, force=finished)

    def on_stop(self, name: str, request: gr.Request) -> list[Any]:
        """Stop a server-side channel (its open expression is closed): [timer, *panel]."""
        session = self.sessions.get(_session_id(request))
        if session is None:
            return [gr.Timer(active=False)] + [gr.skip()] * PANEL_SIZE
        channel = session.channel(name)
        assert isinstance(channel, SourceChannel)
        channel.stop()
        return [gr.Timer(active=False)] + self.panel(session, channel, force=True)

    def on_server_start(self, spec: str | None, merge_gap: float, min_length: float,
                        relabel: bool, use_threshold: bool, threshold: float,
                        request: gr.Request) -> list[Any]:
        session = self.sessions.get(_session_id(request))
        if session is None:
            return self._gone()
        if not self.config.server_source:
            return self._refuse(session, session.server,
                                "server sources are disabled on this server (shared or "
                                "public); use the Webcam or Recording tab")
        text = (spec or "").strip()
        if not text:
            return self._refuse(session, session.server,
                                "type a camera index, a stream URL or a video file path")
        return self._start(session, session.server, text,
                           (merge_gap, min_length, relabel, use_threshold, threshold))

    def check_upload(self, path: str | None) -> Path:
        """The uploaded file, checked: given, a video type, present, within the size limit."""
        if not path:
            raise ValueError("upload a video first (or play the demo clip)")
        p = Path(path)
        if p.suffix.lower() not in VIDEO_SUFFIXES:
            raise ValueError(f"{p.name} is not a video file (accepted: "
                             f"{', '.join(VIDEO_SUFFIXES)})")
        if not p.is_file():
            raise ValueError(f"the upload {p.name} is gone (uploads are kept "
                             f"{CACHE_POLICY_S[1] // 60} minutes); upload it again")
        size_mb = p.stat().st_size / 2**20
        if size_mb > self.config.max_upload_mb:
            raise ValueError(f"{p.name} is {size_mb:.0f} MB; the limit is "
                             f"{self.config.max_upload_mb} MB")
        return p

    def on_recording_start(self, path: str | None, merge_gap: float, min_length: float,
                           relabel: bool, use_threshold: bool, threshold: float,
                           request: gr.Request) -> list[Any]:
        session = self.sessions.get(_session_id(request))
        if session is None:
            return self._gone()
        try:
            video = self.check_upload(path)
        except ValueError as exc:
            return self._refuse(session, session.recording, str(exc))
        return self._start(session, session.recording, str(video),
                           (merge_gap, min_length, relabel, use_threshold, threshold))

    def demo_video(self) -> Path:
        """The clip of "Play the demo clip" (FileNotFoundError naming it when absent)."""
        if self.config.demo_video is not None:
            video = Path(self.config.demo_video)
            if not video.is_file():
                raise FileNotFoundError(f"demo clip {video} is missing")
            return video
        from realtime.demo import demo_clip

        return demo_clip().video

    def on_demo_start(self, merge_gap: float, min_length: float, relabel: bool,
                      use_threshold: bool, threshold: float,
                      request: gr.Request) -> list[Any]:
        session = self.sessions.get(_session_id(request))
        if session is None:
            return self._gone()
        try:
            video = self.demo_video()
        except FileNotFoundError as exc:
            return self._refuse(session, session.recording, str(exc))
        return self._start(session, session.recording, str(video),
                           (merge_gap, min_length, relabel, use_threshold, threshold))

    def on_unload(self, request: gr.Request) -> None:
        """The page was closed or reloaded: stop its streams and free its spotters."""
        sid = getattr(request, "session_hash", None)
        if sid:
            self.sessions.close(str(sid))
