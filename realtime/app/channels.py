"""The streams of one browser session: one channel per tab (webcam frames pushed by the
browser; server sources and recordings read by a :class:`BackgroundRun` on its own thread).

A channel's analysis survives stream restarts: frame indices keep increasing, a pause is a gap
(the open expression is closed, cut short). Only a reset starts afresh."""

from __future__ import annotations

import collections
import logging
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from realtime.app.about import strip_paths
from realtime.app.analysis import Analysis, SpotterFactory
from realtime.app.settings import SpotSettings
from realtime.overlay import LAYERS
from realtime.sources import Frame, Source, SourceError
from realtime.vocab import Interval

log = logging.getLogger(__name__)

RATE_WINDOW = 40  # webcam frames over which the arrival rate is measured


class Channel:
    """One tab's stream within a browser session: its analysis (created on first use with
    the settings of that moment) and what the page has been sent of it."""

    time_durations = False  # True: segment durations from media times (see Analysis)

    def __init__(self, name: str, factory: SpotterFactory, timeline_s: float) -> None:
        self.name = name
        self._factory = factory
        self._timeline_s = timeline_s
        self.analysis: Analysis | None = None
        self.lock = threading.RLock()
        self.sent_log_version = -1
        self.sent_panel_s = 0.0
        self.message = ""  # last error or notice, shown on the status line
        self.closed = False  # the session ended: late calls are ignored
        self.download_stem = name  # name of the downloaded event files
        self.polled_log_version = -1  # log version the slow poll sent (webcam)
        self.polled_status = ""
        self.layers: tuple[str, ...] = LAYERS  # overlay layers drawn on this tab's frames

    def set_layers(self, layers: tuple[str, ...]) -> None:
        """Draw only ``layers`` of the overlay from the next frame on (kept across resets)."""
        with self.lock:
            self.layers = layers
            if self.analysis is not None:
                self.analysis.layers = layers

    def analysis_for(self, settings: SpotSettings, source_name: str) -> Analysis:
        """The channel's analysis, created with ``settings`` if there is none yet."""
        with self.lock:
            if self.analysis is None:
                spotter = self._factory(settings, source_name)
                self.analysis = Analysis(spotter, settings, self._timeline_s,
                                         time_durations=self.time_durations)
                self.analysis.layers = self.layers
                self.sent_log_version = self.polled_log_version = -1
            return self.analysis

    def recalibrate(self) -> None:
        """The "Neutral face now" control: restart the person's reference, saying on the
        status line what happened (or why it does not apply)."""
        with self.lock:
            if self.analysis is None:
                self.message = ("neutral face: start a stream first (the reference is taken "
                                "from the face in view)")
                return
            try:
                self.message = self.analysis.recalibrate()
            except ValueError as exc:
                self.message = f"neutral face does not apply: {exc}"

    def reset(self) -> None:
        """Forget everything: the next stream starts a new analysis with the current settings."""
        with self.lock:
            if self.analysis is not None:
                self.analysis.close()
            self.analysis = None
            self.sent_log_version = self.polled_log_version = -1
            self.polled_status = ""
            self.message = ""

    def close(self) -> None:
        """The session ended: free the analysis; later calls are ignored."""
        with self.lock:
            self.closed = True
            self.reset()

    def status_line(self, analysis: Analysis | None) -> str:
        """The status line of ``analysis`` (this channel's, read once by the caller): its
        counters ("idle" before a stream), then the last message."""
        if analysis is None:
            return "idle" + self._message_suffix()
        return f"{analysis.status_text()}{self._message_suffix()}"

    def _message_suffix(self) -> str:
        return f" | {self.message}" if self.message else ""


class WebcamChannel(Channel):
    """Frames pushed by the browser. Indices count the frames received.

    A pause longer than ``gap_s`` but shorter than ``stop_s`` is a stall (the server was
    busy, or the stream event rejoined): counted and shown, but not a break, since the face
    did not leave. No frame for ``stop_s`` means the stream stopped (the user pressed Stop):
    :meth:`check_stopped` (the page's slow poll) or the next frame closes the open expression,
    cut short, and the next frame starts a new window after a gap in the indices.

    Frames arrive as fast as the server takes them (Gradio keeps only the newest frame while
    the server is busy), not at the nominal rate: the rate is measured over the recent frames
    and given to the merger, so durations (frames / rate) and duration relabelling match the
    time that passed. Frames the browser took but the server never saw are estimated from the
    time streamed at the nominal rate."""

    time_durations = True  # frames arrive at a varying rate: durations from their times

    def __init__(self, factory: SpotterFactory, timeline_s: float, nominal_fps: float,
                 gap_s: float, stop_s: float = 2.0) -> None:
        super().__init__("webcam", factory, timeline_s)
        self.nominal_fps = nominal_fps
        self.gap_s = gap_s
        self.stop_s = max(stop_s, gap_s)
        self.frames_received = 0
        self.pauses = 0  # stops: pauses of stop_s or more
        self.stalls = 0  # pauses between gap_s and stop_s
        self.stopped = False  # the stream stopped; the open expression was closed
        self._next_index = 0
        self._t0: float | None = None
        self._last: float | None = None
        self._streamed_s = 0.0  # time between frames, pauses excluded
        self._streamed_frames = 0  # frames that followed another without a pause
        self._arrivals: collections.deque[float] = collections.deque(maxlen=RATE_WINDOW)

    @property
    def measured_fps(self) -> float:
        """Frames received per second since the last pause (recent frames; nominal at first)."""
        a = self._arrivals
        if len(a) < 5 or a[-1] <= a[0]:
            return self.nominal_fps
        return (len(a) - 1) / (a[-1] - a[0])

    def push(self, rgb: np.ndarray, settings: SpotSettings) -> np.ndarray:
        """Spot one RGB frame from the browser; return it annotated (RGB)."""
        with self.lock:
            if self.closed:
                return rgb
            analysis = self.analysis_for(settings, "webcam")
            now = time.monotonic()
            if self._t0 is None:
                self._t0 = now
            elif self._last is not None and (self.stopped or now - self._last >= self.stop_s):
                self._stop_now()  # a stop: the window and the open expression end here
                self._next_index += 1
                self.stopped = False
            elif self._last is not None:
                if now - self._last > self.gap_s:
                    self.stalls += 1  # the server (or the rejoin) was slow, the face stayed
                self._streamed_s += now - self._last
                self._streamed_frames += 1
            self._last = now
            self._arrivals.append(now)
            analysis.dropped_estimated = True
            analysis.dropped_frames = max(
                0, round(self._streamed_s * self.nominal_fps) - self._streamed_frames)
            fps = self.measured_fps
            if len(self._arrivals) >= 5:
                # Events confirmed by this frame use the current rate (every face's). Right
                # after a pause the rate of the frames before it stays: it closes their
                # expression.
                analysis.set_fps(fps)
            frame = Frame(index=self._next_index, time_s=now - self._t0,
                          image=cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR),
                          fps=fps)
            self._next_index += 1
            self.frames_received += 1
            return cv2.cvtColor(analysis.process(frame), cv2.COLOR_BGR2RGB)

    @property
    def idle_s(self) -> float | None:
        """Seconds since the last frame arrived (None before the first)."""
        return None if self._last is None else time.monotonic() - self._last

    def check_stopped(self) -> bool:
        """Close the open expression (cut short) when no frame came for ``stop_s``: the user
        stopped the stream. True when it did so now."""
        with self.lock:
            idle = self.idle_s
            if self.closed or self.stopped or idle is None or idle < self.stop_s:
                return False
            self._stop_now()
            self.stopped = True
            return True

    def _stop_now(self) -> None:
        self.pauses += 1
        self._arrivals.clear()
        if self.analysis is not None:
            self.analysis.flush()

    def stream_state(self) -> str:
        """"streaming", "stalled N s" (frames late), "stopped" or "idle" (no frame yet)."""
        idle = self.idle_s
        if idle is None:
            return "idle"
        if self.stopped or idle >= self.stop_s:
            return "stopped"
        return f"stalled {idle:.1f} s" if idle > self.gap_s else "streaming"

    def status_line(self, analysis: Analysis | None) -> str:
        """As :meth:`Channel.status_line`, led by the stream's state."""
        if analysis is None:
            return super().status_line(analysis)
        return f"{self.stream_state()} | {super().status_line(analysis)}"

    def reset(self) -> None:
        """Forget the stream, its arrival times and counters."""
        with self.lock:
            super().reset()
            self.frames_received = self.pauses = self.stalls = 0
            self.stopped = False
            self._next_index = 0
            self._t0 = self._last = None
            self._streamed_s, self._streamed_frames = 0.0, 0
            self._arrivals.clear()


class BackgroundRun:
    """Reads a :class:`Source` on its own thread into an :class:`Analysis`; keeps the latest
    annotated frame for the page. Frame indices and times are shifted by the given offsets
    (a restarted live source continues the stream instead of repeating its indices)."""

    def __init__(self, analysis: Analysis, source: Source, index_offset: int = 0,
                 time_offset_s: float = 0.0) -> None:
        self.analysis = analysis
        self.source = source
        self.index_offset = index_offset
        self.time_offset_s = time_offset_s
        self.latest_bgr: np.ndarray | None = None
        self.latest_seq = 0
        self.error: str | None = None
        self.started_s = time.monotonic()
        self.first_media_s: float | None = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name=f"spot: {source.description}")

    def start(self) -> BackgroundRun:
        """Start the reading thread; returns self."""
        self._thread.start()
        return self

    @property
    def finished(self) -> bool:
        """Whether the thread is done (the source is released, the log flushed)."""
        return self._done.is_set()

    @property
    def behind_s(self) -> float:
        """How far processing lags the source's own clock (recordings paced at their rate)."""
        a = self.analysis
        if self.first_media_s is None or self.finished:
            return 0.0
        media = a.last_time_s - self.time_offset_s - self.first_media_s
        return max(0.0, (time.monotonic() - self.started_s) - media)

    def _loop(self) -> None:
        source = self.source
        try:
            for frame in source:
                if self._stop.is_set():
                    break
                if self.first_media_s is None:
                    self.first_media_s = frame.time_s
                    self.started_s = time.monotonic()
                shifted = Frame(index=frame.index + self.index_offset,
                                time_s=frame.time_s + self.time_offset_s, image=frame.image,
                                fps=frame.fps)
                self.latest_bgr = self.analysis.process(shifted)
                self.latest_seq += 1
                self.analysis.dropped_frames = source.dropped_frames
        except SourceError as exc:
            self.error = strip_paths(str(exc), source.description)
        except Exception as exc:  # shown on the page; the thread must not die silently
            log.exception("spotting %s failed", source.description)
            self.error = strip_paths(f"processing stopped: {exc}", source.description)
        finally:
            try:
                source.close()
            finally:
                try:
                    self.analysis.flush()
                finally:
                    self._done.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop reading, release the source, close the open expression; wait for the thread."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)


class SourceChannel(Channel):
    """A server-side source read by a :class:`BackgroundRun`.

    continue_stream: True (server source) keeps the analysis across Stop/Start, continuing
    frame indices and times; False (recording) starts a new analysis on every start, so the
    frame numbers of the events are those of the video.
    """

    def __init__(self, name: str, factory: SpotterFactory, timeline_s: float,
                 continue_stream: bool) -> None:
        super().__init__(name, factory, timeline_s)
        self.continue_stream = continue_stream
        self.run: BackgroundRun | None = None
        self.sent_seq = -1
        self._t0: float | None = None
        self.ground_truth: list[Interval] | None = None  # the clip's intervals (the demo)
        self.video_path: Path | None = None  # the file of the run, for the Viewer

    @property
    def running(self) -> bool:
        """Whether a run is reading its source now."""
        return self.run is not None and not self.run.finished

    def start(self, source: Source, settings: SpotSettings,
              download_stem: str | None = None, source_name: str | None = None,
              ground_truth: list[Interval] | None = None) -> None:
        """Process ``source`` (already opened); stops the run before, if any.
        ``download_stem`` names the event files (default: the channel's name);
        ``source_name`` fills the events' ``source`` field (default: the source's own
        description; the page passes a file name, never a server path)."""
        with self.lock:
            self.stop()
            if self.closed:
                source.close()
                return
            if not self.continue_stream:
                super().reset()
            analysis = self.analysis_for(settings, source_name or source.description)
            offset, t_offset = 0, 0.0
            now = time.monotonic()
            if self._t0 is None or not self.continue_stream:
                self._t0 = now
            elif analysis.last_index is not None:
                offset = analysis.last_index + 2  # a gap: the pause is not joined over
                t_offset = now - self._t0
            self.message = ""
            self.sent_seq = -1
            self.download_stem = download_stem or self.name
            self.ground_truth = ground_truth
            self.run = BackgroundRun(analysis, source, offset, t_offset).start()

    def stop(self) -> None:
        """Stop the run, if any (its open expression is closed); the analysis stays."""
        with self.lock:
            if self.run is not None:
                self.run.stop()

    def status_line(self, analysis: Analysis | None) -> str:
        """As :meth:`Channel.status_line`, led by the run's state (running, how far behind
        its source's clock, ended) and followed by its error, if any."""
        run = self.run
        if analysis is None or run is None:
            return super().status_line(analysis)
        state = "ended" if run.finished else "running"
        if run.behind_s > 0.5:
            state += f", {run.behind_s:.1f} s behind"
        extra = self._message_suffix()
        if run.error:
            extra += f" | error: {run.error}"
        return f"{state} | {analysis.status_text()}{extra}"

    def reset(self) -> None:
        """Stop the run and forget the stream (the next start begins afresh)."""
        with self.lock:
            self.stop()
            self.run = None
            self._t0 = None
            self.sent_seq = -1
            super().reset()
