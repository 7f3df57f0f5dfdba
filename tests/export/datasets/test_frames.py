"""Frame decoding: unreadable, missing and short files are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from export.datasets import FrameReadError, VideoItem, iter_frames

from .builders import write_frames, write_mp4


def test_iter_frames_names_unreadable_and_missing_files(tmp_path: Path) -> None:
    paths = write_frames(tmp_path / "v", [f"{i}.jpg" for i in range(4)])
    paths[2].write_bytes(b"not a jpeg")
    item = VideoItem("s", "v", tmp_path / "v", tuple(paths), 30.0, 4)
    frames = iter_frames(item)
    next(frames), next(frames)
    with pytest.raises(FrameReadError, match=r"2\.jpg \(frame index 2\)") as info:
        next(frames)
    assert info.value.index == 2 and info.value.path == paths[2]
    paths[1].unlink()
    with pytest.raises(FileNotFoundError, match=r"1\.jpg \(frame index 1\)"):
        list(iter_frames(item))
    missing = VideoItem("s", "v", tmp_path / "nope.mp4", None, 30.0, None)
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        list(iter_frames(missing))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 64)
    with pytest.raises(FrameReadError, match="broken.mp4"):
        list(iter_frames(VideoItem("s", "v", broken, None, 30.0, None)))


def test_iter_frames_reports_a_short_video(tmp_path: Path) -> None:
    path = write_mp4(tmp_path / "short.mp4", 5)
    with pytest.raises(FrameReadError, match=r"short\.mp4 \(frame index 5\).*5 of 9"):
        list(iter_frames(VideoItem("s", "v", path, None, 25.0, 9)))
