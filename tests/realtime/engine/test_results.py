"""Result types of the engine (realtime/engine/results.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from realtime.engine import BatchOutput, WindowOutput


def test_window_output_label_is_the_argmax_and_the_result_is_frozen() -> None:
    out = WindowOutput(probs=np.array([0.2, 0.1, 0.7], np.float32),
                       keyframe_scores=np.zeros(5, np.float32), key_indices=np.array([0, 2, 4]),
                       frames_behind=2, position=7, tag=(9, 0.3))
    assert out.label == 2 and out.tag == (9, 0.3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        out.position = 8  # type: ignore[misc]


@pytest.mark.parametrize("rows", [0, 1, 6])
def test_batch_output_length_is_its_rows(rows: int) -> None:
    out = BatchOutput(probs=np.zeros((rows, 3), np.float32),
                      keyframe_scores=np.zeros((rows, 5), np.float32),
                      key_indices=np.zeros((rows, 3), np.int64), first_middle=2)
    assert len(out) == rows
