"""Videos as training and evaluation read them: full face windows, face runs, load_videos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from export.model import ModelConfig
from export.videos import TrainVideo, face_runs, full_windows, load_videos, window_centres
from realtime.reference import transform_video


def _video(n: int, missing: tuple[int, ...] = ()) -> TrainVideo:
    valid = np.ones(n, bool)
    valid[list(missing)] = False
    return TrainVideo("s1", "v1", np.zeros((n, 8, 8), np.uint8), valid, np.zeros(n, np.int64),
                      30.0)


def test_window_centres_skip_windows_touching_a_missing_face() -> None:
    v = _video(20, missing=(8,))
    centres = window_centres(v, 5)
    assert centres.min() == 2 and centres.max() == 17
    assert not any(abs(c - 8) <= 2 for c in centres)


@pytest.mark.parametrize("valid, k, starts, runs", [
    ("11111", 5, [0], [(0, 5)]),
    ("1111", 5, [], []),
    ("", 3, [], []),
    ("1110111", 3, [0, 4], [(0, 3), (4, 7)]),
    ("0111101", 3, [1, 2], [(1, 5)]),
    ("110011111", 3, [4, 5, 6], [(4, 9)]),
])
def test_full_windows_and_face_runs_agree(valid: str, k: int, starts: list[int],
                                          runs: list[tuple[int, int]]) -> None:
    mask = np.array([c == "1" for c in valid], bool)
    assert full_windows(mask, k).tolist() == starts
    assert face_runs(mask, k) == runs
    # the windows of the runs are exactly the full windows
    assert [s for a, b in runs for s in range(a, b - k + 1)] == starts


def test_face_runs_without_a_minimum_lists_every_run() -> None:
    assert face_runs(np.array([1, 0, 1, 1, 0, 0, 1], bool)) == [(0, 1), (2, 4), (6, 7)]


def test_load_videos_feeds_the_models_input_transform(tiny_synth: Path, tiny_subjects: list[str],
                                                     tmp_path: Path) -> None:
    raw, info = load_videos(tiny_synth, "auto", tmp_path / "cache", ModelConfig(), progress=False)
    cfg = ModelConfig(input_tau_frames=15)
    ref, _ = load_videos(tiny_synth, "auto", tmp_path / "cache", cfg, progress=False)
    for a, b in zip(raw, ref, strict=True):
        np.testing.assert_array_equal(b.crops, transform_video(a.crops, a.valid,
                                                               cfg.input_transform))
        assert not np.array_equal(a.crops, b.crops)
    # transform=False hands over the cached raw crops (for the engine, which transforms itself)
    untouched, _ = load_videos(tiny_synth, "auto", tmp_path / "cache", cfg, progress=False,
                               transform=False)
    for a, c in zip(raw, untouched, strict=True):
        np.testing.assert_array_equal(a.crops, c.crops)
    assert info["videos"] == len(raw) == 3 and info["subjects"] == tiny_subjects
    assert list(info["expressions"]) == ["micro", "macro"]
