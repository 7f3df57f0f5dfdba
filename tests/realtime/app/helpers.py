"""Shared pieces of the page's tests: predictable settings, a short face clip's known segments,
fake requests and events, and the decoded download links.

As in test_spotter, ``threshold=0`` + duration relabelling makes every run of face frames
[a, b] give exactly one segment [a + 2, b - 2] whatever the random weights say.
"""

from __future__ import annotations

import base64
import re
import time
from types import SimpleNamespace

import numpy as np
import pytest

from realtime.app import SpotSettings
from realtime.events import Event
from tests.realtime.test_spotter import face_image

PREDICTABLE = SpotSettings(relabel_by_duration=True, threshold=0.0)
UI_PREDICTABLE = (1, 1, True, True, 0.0)  # the same, as the page's five settings widgets
N_FRAMES = 24
BLANK = range(12, 14)
EXPECTED = [(2, 9), (16, 21)]  # face runs 0-11 and 14-23, both cut short


def segments(events: list[Event]) -> list[tuple[int, int]]:
    return [(e.onset_frame, e.offset_frame) for e in events if e.kind == "segment"]


def request(session: str) -> SimpleNamespace:
    return SimpleNamespace(session_hash=session)


def wait_for(predicate, timeout_s: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def event(kind: str, onset: int, offset: int | None = None, expression: str = "micro",
          cut_short: bool = False) -> Event:
    seg = kind == "segment"
    return Event(kind=kind, expression=expression, onset_frame=onset,
                 offset_frame=offset if seg else None, apex_frame=onset,
                 onset_time_s=onset / 30, offset_time_s=offset / 30 if seg else None,
                 duration_s=(offset - onset + 1) / 30 if seg else None, confidence=0.8,
                 mean_prob=0.7, cut_short=cut_short)


def rgb(i: int) -> np.ndarray:
    return np.ascontiguousarray(face_image(i)[:, :, ::-1])


def data_links(downloads_html: str) -> dict[str, str]:
    """File name -> decoded content of the download links."""
    links = re.findall(r'download="([^"]+)" href="data:[^;]+;charset=utf-8;base64,([^"]+)"',
                       downloads_html)
    return {name: base64.b64decode(data).decode("utf-8") for name, data in links}
