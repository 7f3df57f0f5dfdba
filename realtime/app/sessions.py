"""Browser sessions (one per page load, keyed by Gradio's session hash), each with its channels."""

from __future__ import annotations

import collections
import logging
import threading

from realtime.app.analysis import SpotterFactory
from realtime.app.channels import Channel, SourceChannel, WebcamChannel
from realtime.app.settings import AppConfig
from realtime.app.viewer import RunView

log = logging.getLogger(__name__)

CLOSED_IDS_KEPT = 10_000


class Session:
    """Everything of one browser page load: its three channels."""

    def __init__(self, session_id: str, config: AppConfig, factory: SpotterFactory) -> None:
        self.id = session_id
        self.webcam = WebcamChannel(factory, config.timeline_s, config.webcam_fps, config.gap_s,
                                   config.stop_s)
        self.server = SourceChannel("server", factory, config.timeline_s, continue_stream=True)
        self.recording = SourceChannel("recording", factory, config.timeline_s,
                                       continue_stream=False)
        self.viewer: RunView | None = None  # the run opened in the Viewer tab

    def open_view(self, view: RunView) -> None:
        """Show ``view`` in the Viewer tab (the run shown before is released)."""
        old, self.viewer = self.viewer, view
        if old is not None:
            old.close()

    def channel(self, name: str) -> Channel:
        """The channel of a tab: ``webcam``, ``server`` or ``recording``."""
        channels: dict[str, Channel] = {"webcam": self.webcam, "server": self.server,
                                        "recording": self.recording}
        if name not in channels:
            raise ValueError(f"no channel {name!r}: the tabs are {', '.join(channels)}")
        return channels[name]

    @property
    def channels(self) -> tuple[Channel, ...]:
        return (self.webcam, self.server, self.recording)

    def set_layers(self, layers: tuple[str, ...]) -> None:
        """Draw only ``layers`` of the overlay on every tab's frames."""
        for channel in self.channels:
            channel.set_layers(layers)

    def close(self) -> None:
        """Close every channel (stop runs, free spotters); one failing does not stop the others."""
        if self.viewer is not None:
            self.viewer.close()
        for channel in (self.webcam, self.server, self.recording):
            try:
                channel.close()
            except Exception:
                log.exception("closing the %s channel of session %s failed", channel.name,
                              self.id)


class SessionRegistry:
    """Sessions by id (Gradio's session hash). Thread-safe. A closed session's id is
    remembered (the most recent :data:`CLOSED_IDS_KEPT`) so a late call cannot revive it."""

    def __init__(self, config: AppConfig, factory: SpotterFactory) -> None:
        self._config = config
        self._factory = factory
        self._sessions: dict[str, Session] = {}
        self._closed: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, session_id: str) -> Session | None:
        """The session, created on first use; None when it was closed (page unloaded)."""
        with self._lock:
            if session_id in self._closed:
                return None
            session = self._sessions.get(session_id)
            if session is None:
                session = self._sessions[session_id] = Session(session_id, self._config,
                                                               self._factory)
            return session

    def find(self, session_id: str) -> Session | None:
        """The session if it is open; never creates one."""
        with self._lock:
            return self._sessions.get(session_id)

    def close(self, session_id: str) -> None:
        """Close a session and remember its id (a late call must not revive it)."""
        with self._lock:
            session = self._sessions.pop(session_id, None)
            self._closed[session_id] = None
            while len(self._closed) > CLOSED_IDS_KEPT:
                self._closed.popitem(last=False)
        if session is not None:
            session.close()

    def close_all(self) -> None:
        """Close every session (the server stops)."""
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for session in sessions:
            session.close()

    def sessions(self) -> list[Session]:
        """The open sessions (a copy)."""
        with self._lock:
            return list(self._sessions.values())

    def running_sources(self) -> int:
        """Server-side runs in progress over all sessions."""
        return sum(int(ch.running) for s in self.sessions() for ch in (s.server, s.recording))

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)
