"""Fixtures of the bench tests: a 24-frame 320x240 clip with a face, and the test graphs."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="package")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.media import write_video
    from tests.realtime.test_spotter import face_clip

    return write_video(tmp_path_factory.mktemp("bench_clip") / "face.mp4", face_clip(24))


@pytest.fixture(scope="package")
def graphs(exported_graphs) -> Path:
    return exported_graphs.out_dir
