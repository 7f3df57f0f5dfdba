"""realtime.bench.clips: the resized copy, the looped clip, the simulated live camera."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from realtime.bench import clips as C


def test_resize_writes_a_clip_of_that_size(tmp_path: Path, clip: Path) -> None:
    dst = C.write_resized_clip(clip, tmp_path / "big.mp4", (640, 480))
    info = C.clip_info(dst)
    assert (info.width, info.height) == (640, 480) and info.frames == 24
    assert info.fps == pytest.approx(30.0)


def test_paced_live_source_drops_oldest_when_the_consumer_is_slow(clip: Path) -> None:
    fps = 100.0
    source, captured = C.paced_live_source(C.LoopingClip(clip, 30), fps, queue_size=2)
    seen = []
    with source:
        assert source.is_live
        for frame in source:
            seen.append(frame.index)
            time.sleep(4 / fps)  # four frame periods per frame: the queue overflows
    assert source.frames_read == 30 and source.dropped_frames > 0
    assert len(seen) + source.dropped_frames == 30
    assert seen == sorted(seen) and any(b - a > 1 for a, b in zip(seen, seen[1:]))
    assert captured.get(0) is not None and captured.get(29) > captured.get(0)
    # Captures are paced: 30 frames at 100 fps take at least 0.29 s.
    assert captured.get(29) - captured.get(0) >= 29 / fps * 0.95

    # A consumer that keeps up sees every frame (30 fps: 133 ms of slack in the queue of 4,
    # so that a loaded test machine does not drop any).
    source, _ = C.paced_live_source(C.LoopingClip(clip, 20), 30.0)
    with source:
        indices = [f.index for f in source]
    assert indices == list(range(20)) and source.dropped_frames == 0


def test_looping_clip_loops_and_times_decodes(clip: Path) -> None:
    decode: list[float] = []
    frames = list(C.LoopingClip(clip, 50, decode.append))
    assert len(frames) == len(decode) == 50 and all(d >= 0 for d in decode)
    np.testing.assert_array_equal(frames[0], frames[24])  # frame 24 is frame 0 again


def test_capture_times_keep_only_the_last_indices() -> None:
    times = C.CaptureTimes(4)
    for i in range(6):
        times[i] = 10.0 + i
    assert [times.get(i) for i in range(6)] == [None, None, 12.0, 13.0, 14.0, 15.0]
    assert times.get(9) is None  # never written (its slot holds frame 5)
