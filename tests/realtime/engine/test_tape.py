"""Index logic of the frame tape (realtime/engine/tape.py), simulated against a list store."""

from __future__ import annotations

import pytest

from realtime.engine import Tape


@pytest.mark.parametrize("window,capacity", [(1, 1), (3, 3), (5, 5), (5, 6), (5, 9), (5, 64)])
def test_tape_window_slots_hold_the_last_frames_in_order(window: int, capacity: int) -> None:
    """Simulate the storage: follow each advance() (and its rebase) and check the window."""
    tape = Tape(window, capacity)
    store: list[int | None] = [None] * capacity
    for frame in range(3 * capacity + 7):
        slot, rebase = tape.advance()
        if rebase is not None:
            src, n = rebase
            assert n == min(frame, window - 1)
            store[:n] = store[src:src + n]
        assert 0 <= slot < capacity
        store[slot] = frame
        held = min(frame + 1, window)
        assert tape.filled == held
        assert [store[s] for s in tape.recent_slots()] == list(range(frame + 1 - held, frame + 1))
        assert tape.ready == (frame + 1 >= window)
        if tape.ready:
            start = tape.window_start
            assert store[start:start + window] == list(range(frame + 1 - window, frame + 1))


def test_tape_rebases_once_per_capacity_minus_window_plus_one_frames() -> None:
    tape = Tape(5, 12)
    rebases = [i for i in range(100) if tape.advance()[1] is not None]
    # First rebase when the 13th frame arrives, then every 12 - 4 = 8 frames.
    assert rebases == list(range(12, 100, 8))


def test_tape_reset_empties_and_restarts_at_slot_zero() -> None:
    tape = Tape(5, 8)
    for _ in range(6):
        tape.advance()
    assert tape.ready
    tape.reset()
    assert (tape.filled, tape.pushed, tape.ready) == (0, 0, False)
    assert tape.advance() == (0, None)
    assert tape.recent_slots() == [0]


@pytest.mark.parametrize("window,capacity", [(0, 5), (5, 4), (True, 5), (5, 2.5)])
def test_tape_rejects_bad_sizes(window, capacity) -> None:
    with pytest.raises(ValueError, match="window|capacity"):
        Tape(window, capacity)
