"""Fixtures of the page's tests: a short face clip and a SpotterApp on the test graphs."""

from __future__ import annotations

from pathlib import Path

import pytest

from realtime.app import AppConfig, SpotterApp
from tests.realtime.app.browser_util import write_mp4
from tests.realtime.app.helpers import BLANK, N_FRAMES, PREDICTABLE
from tests.realtime.test_spotter import face_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_mp4(tmp_path_factory.mktemp("app") / "clip.mp4",
                     face_clip(N_FRAMES, blank=BLANK))


@pytest.fixture
def app(exported_graphs, clip: Path):
    spotter_app = SpotterApp(AppConfig(weights_dir=exported_graphs.out_dir, provider="cpu",
                                       settings=PREDICTABLE, demo_video=clip, gap_s=0.5,
                                       max_upload_mb=1))
    yield spotter_app
    spotter_app.sessions.close_all()
