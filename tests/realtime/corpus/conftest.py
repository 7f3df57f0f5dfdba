"""Clips for the corpus tests, cut from the built-in demo clip, and spot's output on them.

``cut_clip``: 130 frames of the demo clip with black frames at 40-42 and 100-102 (the face
leaves the view: the spotter's state restarts there), so chunks of 30 frames join at 40, need
a rerun over 60-90 (no face-free frame) and join again at 100. ``short_clip``: 24 plain frames.
``corrupt_clip``: an ``.mp4`` that is not a video. ``spot_output(clip)``: the JSONL and CSV text
``python -m realtime spot --source CLIP --events-out F.jsonl --csv-out F.csv`` writes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.demo import DEMO_VIDEO
from tests.media import write_video

CUT_FRAMES = 130
BLANKS = (40, 41, 42, 100, 101, 102)
FIRST_DEMO_FRAME = 40  # the demo clip's expressions start later; this stretch has some


def demo_frames(first: int, count: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(DEMO_VIDEO))
    frames = []
    index = 0
    while len(frames) < count:
        ok, frame = cap.read()
        assert ok, f"the demo clip has fewer than {first + count} frames"
        if index >= first:
            frames.append(frame)
        index += 1
    cap.release()
    return frames




@pytest.fixture(scope="package")
def clips_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("corpus_clips")


@pytest.fixture(scope="package")
def cut_clip(clips_dir: Path) -> Path:
    frames = demo_frames(FIRST_DEMO_FRAME, CUT_FRAMES)
    for i in BLANKS:
        frames[i] = np.zeros_like(frames[i])
    return write_video(clips_dir / "cut.mp4", frames)


@pytest.fixture(scope="package")
def short_clip(clips_dir: Path) -> Path:
    return write_video(clips_dir / "short.mp4", demo_frames(150, 24))


@pytest.fixture(scope="package")
def corrupt_clip(clips_dir: Path) -> Path:
    path = clips_dir / "corrupt.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"not a video" * 64)
    return path


@pytest.fixture(scope="package")
def spot_output(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], tuple[str, str]]:
    """clip -> (JSONL text, CSV text) of ``spot`` on it (run once per clip)."""
    from realtime.__main__ import main

    cache: dict[Path, tuple[str, str]] = {}
    folder = tmp_path_factory.mktemp("spot_out")

    def run(clip: Path) -> tuple[str, str]:
        if clip not in cache:
            jsonl, csv_path = folder / f"{clip.stem}.jsonl", folder / f"{clip.stem}.csv"
            code = main(["spot", "--source", str(clip), "--events-out", str(jsonl),
                         "--csv-out", str(csv_path), "--quiet"])
            assert code == 0
            cache[clip] = (jsonl.read_text(), csv_path.read_text())
        return cache[clip]

    return run


@pytest.fixture
def ray_shutdown():
    """Shut Ray down after the test, whatever happened (the run shuts its own instance)."""
    yield
    import sys

    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()
