"""The page's logic: the handlers Gradio calls, each taking the widgets' values plus the
request (for the session) and returning the widgets' new values."""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import gradio as gr
import numpy as np

from realtime.app.about import strip_paths
from realtime.app.channels import Channel, SourceChannel
from realtime.app.panel import PANEL_SIZE, panel_update, poll_update, skipped
from realtime.app.sessions import SessionRegistry
from realtime.app.settings import AppConfig, SpotSettings
from realtime.app.viewer import RunView
from realtime.metrics import read_intervals_csv
from realtime.overlay import LAYERS
from realtime.sources import SourceError, open_source
from realtime.spotter import Spotter
from realtime.vocab import VIDEO_SUFFIXES, Interval, is_video_file

log = logging.getLogger(__name__)

# Gradio keeps every frame it sends as a file: check each minute, delete after 5 minutes (an
# upload must be started within that time; the page says so if it is gone).
CACHE_POLICY_S = (60, 300)


def _session_id(request: Any) -> str:
    sid = getattr(request, "session_hash", None)
    if not sid:
        raise ValueError("no browser session: open the page in a browser")
    return str(sid)


def _gone() -> list[Any]:
    """[frame, timer, *panel] for a call from a page whose session was closed."""
    return [gr.skip(), gr.Timer(active=False)] + skipped()


def check_upload(path: str | None, max_upload_mb: int) -> Path:
    """The uploaded file, checked: given, a video type, present, within the size limit."""
    if not path:
        raise ValueError("upload a video first (or play the demo clip)")
    p = Path(path)
    if not is_video_file(p):
        raise ValueError(f"{p.name} is not a video file (accepted: "
                         f"{', '.join(VIDEO_SUFFIXES)})")
    if not p.is_file():
        raise ValueError(f"the upload {p.name} is gone (uploads are kept "
                         f"{CACHE_POLICY_S[1] // 60} minutes); upload it again")
    size_mb = p.stat().st_size / 2**20
    if size_mb > max_upload_mb:
        raise ValueError(f"{p.name} is {size_mb:.0f} MB; the limit is {max_upload_mb} MB")
    return p


def _view_refused(message: str) -> list[Any]:
    """[slider, frame, info, timeline] when a run cannot be opened: the reason, in words."""
    gr.Warning(message, duration=6)
    return [gr.skip(), gr.skip(), f'<div class="viewer-info">{html.escape(message)}</div>',
            gr.skip()]


def find_demo_video(configured: Path | None) -> Path:
    """The clip of "Play the demo clip": ``configured``, else the built-in demo clip
    (FileNotFoundError naming it when absent)."""
    if configured is not None:
        video = Path(configured)
        if not video.is_file():
            raise FileNotFoundError(f"demo clip {video} is missing")
        return video
    from realtime.demo import demo_clip

    return demo_clip().video


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
        # Starts run at the same time (their events have no concurrency limit): the busy
        # check and the start must be one step, so a start reserves its slot under this lock.
        self._slots_lock = threading.Lock()
        self._reserved = 0

    def _reserve_slot(self, channel: SourceChannel) -> bool:
        """Reserve a stream slot for a start on ``channel``; False when the server is busy.
        A channel already running reuses its own slot (its run is stopped first)."""
        with self._slots_lock:
            if not channel.running and \
                    self.sessions.running_sources() + self._reserved >= self.config.concurrency:
                return False
            self._reserved += 1
            return True

    def _release_slot(self) -> None:
        with self._slots_lock:
            self._reserved -= 1

    def make_spotter(self, settings: SpotSettings, source_name: str) -> Spotter:
        """A new spotter for one stream, with the server's graphs and the user's settings."""
        c = self.config
        return Spotter(c.weights_dir, provider=c.provider, mode=c.mode,
                       postprocess=settings.postprocess(), threshold=settings.threshold,
                       threads=c.threads, source_name=source_name)

    # -- webcam -------------------------------------------------------------------------------
    def on_webcam_frame(self, rgb: np.ndarray | None, merge_gap: float, min_length: float,
                        relabel: bool, use_threshold: bool, threshold: float,
                        request: gr.Request) -> list[Any]:
        """One streamed webcam frame -> [annotated frame, *panel]."""
        session = self.sessions.get(_session_id(request))
        if session is None:
            return skipped(1 + PANEL_SIZE)
        channel = session.webcam
        if rgb is None:
            return [gr.skip()] + panel_update(channel)
        try:
            settings = SpotSettings.from_ui(merge_gap, min_length, relabel, use_threshold,
                                            threshold)
        except ValueError as exc:
            channel.message = f"settings: {exc}"
            return [rgb] + panel_update(channel, force=True)
        try:
            annotated = channel.push(rgb, settings)
        except Exception as exc:  # e.g. graphs missing: end the stream with the reason
            log.exception("webcam frame of session %s failed", session.id)
            raise gr.Error(f"cannot spot this stream: {exc}") from exc
        return [annotated] + panel_update(channel)

    def on_webcam_poll(self, request: gr.Request) -> list[Any]:
        """Slow timer of the webcam tab: [*panel] with the log and status when they changed.

        A stream's last results can be lost when the user stops it (the page stops listening
        while the server finishes the frame in hand); this brings the page up to date."""
        session = self.sessions.find(_session_id(request))
        if session is None:
            return skipped()
        session.webcam.check_stopped()  # Stop pressed: close the open expression
        return poll_update(session.webcam)

    def on_reset(self, name: str, request: gr.Request) -> list[Any]:
        """Reset a channel: [cleared frame, *panel]."""
        session = self.sessions.get(_session_id(request))
        if session is None:
            return skipped(1 + PANEL_SIZE)
        channel = session.channel(name)
        channel.reset()
        return [None] + panel_update(channel, force=True)

    def on_neutral(self, name: str, request: gr.Request) -> list[Any]:
        """"Neutral face now" of a tab: restart the person's reference: [*panel]."""
        session = self.sessions.get(_session_id(request))
        if session is None:
            return skipped()
        channel = session.channel(name)
        channel.recalibrate()
        return panel_update(channel, force=True)

    # -- viewer -----------------------------------------------------------------------------
    def on_view_last(self, request: gr.Request) -> list[Any]:
        """"Open this session's last recording": [slider, frame, info, timeline]."""
        session = self.sessions.get(_session_id(request))
        if session is None:
            return skipped(4)
        rec = session.recording
        with rec.lock:
            analysis, run, video = rec.analysis, rec.run, rec.video_path
            if analysis is None or run is None or not run.finished:
                return _view_refused("no finished recording in this page yet: play one on the "
                                     "Recording tab (to its end or Stop), then open it here")
            if video is None or not video.is_file():
                return _view_refused(f"the video of the last run is gone (uploads are kept "
                                     f"{CACHE_POLICY_S[1] // 60} minutes): open it with its "
                                     "events file instead")
            try:
                view = RunView.of_run(analysis, video, rec.ground_truth, rec.download_stem)
            except ValueError as exc:
                return _view_refused(strip_paths(str(exc), video))
        return self._show_view(session, view)

    def on_view_files(self, events_path: str | None, video_path: str | None,
                      request: gr.Request) -> list[Any]:
        """"Open files": an events file plus its video -> [slider, frame, info, timeline]."""
        session = self.sessions.get(_session_id(request))
        if session is None:
            return skipped(4)
        try:
            if not events_path:
                raise ValueError("choose an events file (CSV or JSON from the downloads, or "
                                 "JSONL from spot)")
            video = check_upload(video_path, self.config.max_upload_mb)
            view = RunView.of_files(events_path, video)
        except (ValueError, FileNotFoundError) as exc:
            return _view_refused(strip_paths(str(exc), events_path or "", video_path or ""))
        return self._show_view(session, view)

    @staticmethod
    def _show_view(session: Any, view: RunView) -> list[Any]:
        session.open_view(view)
        slider = gr.Slider(minimum=0.0, maximum=round(view.duration_s, 3), value=0.0,
                           step=round(1.0 / view.fps, 4), interactive=True)
        return [slider, view.frame(0.0), view.info_html(0.0), view.timeline(0.0)]

    def on_view_seek(self, time_s: float | None, request: gr.Request) -> list[Any]:
        """The time slider moved: [frame, info, timeline] at that time."""
        session = self.sessions.find(_session_id(request))
        view = None if session is None else session.viewer
        if view is None or time_s is None:
            return skipped(3)
        return [view.frame(time_s), view.info_html(time_s), view.timeline(time_s)]

    def on_view_step(self, time_s: float | None, direction: int,
                     request: gr.Request) -> Any:
        """Previous / next event: the slider's new value (its change shows the frame)."""
        session = self.sessions.find(_session_id(request))
        view = None if session is None else session.viewer
        if view is None or time_s is None:
            return gr.skip()
        return round(view.step(time_s, direction), 4)

    def on_layers(self, layers: list[str] | None, request: gr.Request) -> None:
        """The overlay toggles changed: every tab of the session draws only ``layers``."""
        chosen = tuple(layers or ())
        unknown = set(chosen) - set(LAYERS)
        if unknown:
            raise gr.Error(f"unknown overlay layers {sorted(unknown)}")
        session = self.sessions.get(_session_id(request))
        if session is not None:
            session.set_layers(tuple(layer for layer in LAYERS if layer in chosen))

    def on_unload(self, request: gr.Request) -> None:
        """The page was closed or reloaded: stop its streams and free its spotters."""
        sid = getattr(request, "session_hash", None)
        if sid:
            self.sessions.close(str(sid))

    # -- server-side sources --------------------------------------------------------------------
    def on_server_start(self, spec: str | None, merge_gap: float, min_length: float,
                        relabel: bool, use_threshold: bool, threshold: float,
                        request: gr.Request) -> list[Any]:
        """Start button of the Server source tab: [frame, timer, *panel]."""
        def server_spec() -> str:
            if not self.config.server_source:
                raise ValueError("server sources are disabled on this server (shared or "
                                 "public); use the Webcam or Recording tab")
            text = (spec or "").strip()
            if not text:
                raise ValueError("type a camera index, a stream URL or a video file path")
            return text

        return self._start_from(request, "server", server_spec,
                                (merge_gap, min_length, relabel, use_threshold, threshold))

    def on_recording_start(self, path: str | None, merge_gap: float, min_length: float,
                           relabel: bool, use_threshold: bool, threshold: float,
                           request: gr.Request) -> list[Any]:
        """"Process upload" button: [frame, timer, *panel]."""
        return self._start_from(
            request, "recording", lambda: str(check_upload(path, self.config.max_upload_mb)),
            (merge_gap, min_length, relabel, use_threshold, threshold))

    def on_demo_start(self, merge_gap: float, min_length: float, relabel: bool,
                      use_threshold: bool, threshold: float,
                      request: gr.Request) -> list[Any]:
        """"Play the demo clip" button: [frame, timer, *panel]; the run summary scores it
        against its ground truth."""
        return self._start_from(
            request, "recording", lambda: str(find_demo_video(self.config.demo_video)),
            (merge_gap, min_length, relabel, use_threshold, threshold),
            ground_truth=self._demo_truth)

    def _demo_truth(self) -> list[Interval] | None:
        """The demo clip's ground-truth intervals (None when it has none)."""
        path = self.config.demo_ground_truth
        if path is None and self.config.demo_video is None:
            from realtime.demo import demo_clip

            path = demo_clip().ground_truth
        return None if path is None else read_intervals_csv(path)

    def on_poll(self, name: str, request: gr.Request) -> list[Any]:
        """Timer tick of a server-side channel: [latest frame, timer, *panel]."""
        session = self.sessions.find(_session_id(request))
        if session is None:
            return _gone()
        channel = self._source_channel(session.channel(name))
        run = channel.run
        if run is None:
            return [gr.skip(), gr.Timer(active=False)] + panel_update(channel)
        finished = run.finished  # read before the frame, so the last frame is surely sent
        frame: Any = gr.skip()
        if run.latest_seq != channel.sent_seq and run.latest_bgr is not None:
            channel.sent_seq = run.latest_seq
            frame = cv2.cvtColor(run.latest_bgr, cv2.COLOR_BGR2RGB)
        timer = gr.Timer(active=False) if finished else gr.skip()
        return [frame, timer] + panel_update(channel, force=finished)

    def on_stop(self, name: str, request: gr.Request) -> list[Any]:
        """Stop a server-side channel (its open expression is closed): [timer, *panel]."""
        session = self.sessions.get(_session_id(request))
        if session is None:
            return [gr.Timer(active=False)] + skipped()
        channel = self._source_channel(session.channel(name))
        channel.stop()
        return [gr.Timer(active=False)] + panel_update(channel, force=True)

    @staticmethod
    def _source_channel(channel: Channel) -> SourceChannel:
        if not isinstance(channel, SourceChannel):
            raise ValueError(f"{channel.name} is not a server-side channel")
        return channel

    @staticmethod
    def _refuse(channel: SourceChannel, message: str, *paths: str) -> list[Any]:
        """[frame, timer, *panel] after a start that did not happen, saying why (without
        server paths or library names). A recording that did not start clears the previous
        run's figures: they would read as this file's."""
        message = strip_paths(message, *paths)
        if not channel.continue_stream and not channel.running:
            channel.reset()
        channel.message = f"error: {message}"
        gr.Warning(message, duration=6)  # toasts go away instead of piling up
        frame = None if not channel.continue_stream and not channel.running else gr.skip()
        return [frame, gr.Timer(active=channel.running)] + panel_update(channel, force=True)

    def _start_from(self, request: gr.Request, name: str, find_spec: Callable[[], str],
                    settings_values: tuple[Any, ...],
                    ground_truth: Callable[[], list[Interval] | None] | None = None
                    ) -> list[Any]:
        """Start channel ``name`` on what ``find_spec`` names; a ValueError or
        FileNotFoundError from it refuses the start with its message."""
        session = self.sessions.get(_session_id(request))
        if session is None:
            return _gone()
        channel = self._source_channel(session.channel(name))
        try:
            spec = find_spec()
            truth = None if ground_truth is None else ground_truth()
        except (ValueError, FileNotFoundError) as exc:
            return self._refuse(channel, str(exc))
        return self._start(channel, spec, settings_values, truth)

    def _start(self, channel: SourceChannel, spec: str, settings_values: tuple[Any, ...],
               ground_truth: list[Interval] | None = None) -> list[Any]:
        """Open ``spec`` (paced at its own rate) and run it on ``channel``:
        [frame, timer, *panel]."""
        try:
            settings = SpotSettings.from_ui(*settings_values)
        except ValueError as exc:
            return self._refuse(channel, str(exc))
        if not self._reserve_slot(channel):
            return self._refuse(channel, f"the server is busy ({self.config.concurrency} "
                                "streams running); try again later")
        try:
            try:
                source = open_source(spec, realtime=True)
            except (ValueError, SourceError) as exc:
                return self._refuse(channel, str(exc), spec)
            try:
                channel.video_path = Path(spec) if Path(spec).is_file() else None
                channel.start(source, settings,
                              None if channel.continue_stream else Path(spec).stem,
                              source_name=Path(spec).name, ground_truth=ground_truth)
            except Exception as exc:  # e.g. the graphs cannot be opened: say so on the page
                source.close()
                log.exception("starting %s failed", spec)
                return self._refuse(channel, f"cannot start: {exc}", spec)
        finally:
            self._release_slot()
        return [None, gr.Timer(active=True)] + panel_update(channel, force=True)
