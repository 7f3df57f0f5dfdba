"""The frame tape's index logic: which slot each frame goes to and when to rebase.

A tape is a preallocated buffer of ``capacity`` slots written one slot per frame, so that the
last ``window`` frames always sit in contiguous slots in time order and the head reads them in
place (no gather copy, no per-frame allocation). When the tape is full, the last ``window - 1``
frames move to its start ("rebase"), once every ``capacity - window + 1`` frames. Storage is the
caller's (:mod:`realtime.engine.stores`); this module only does the arithmetic.
"""

from __future__ import annotations

from realtime.vocab import check_int, is_int

DEFAULT_TAPE_CAPACITY = 64  # slots; a rebase every capacity - K + 1 frames


class Tape:
    """Index logic of the frame buffer (shared by every storage backend; no storage here).

    ``capacity`` slots; frames are written to consecutive slots; the last ``window`` frames are
    the contiguous slots ``[end - window, end)``. :meth:`advance` returns the slot for the next
    frame, after a rebase when the tape is full (the caller moves or recomputes the kept frames).
    """

    def __init__(self, window: int, capacity: int = DEFAULT_TAPE_CAPACITY) -> None:
        window = check_int("window", window, 1)
        if not is_int(capacity) or capacity < window:
            raise ValueError(f"capacity must be an int >= window ({window}), got {capacity!r}")
        self.window = window
        self.capacity = int(capacity)
        self.end = 0  # next slot to write; slots [end - filled, end) hold the recent frames
        self.filled = 0  # consecutive frames since the last reset held, at most window
        self.pushed = 0  # frames pushed since the last reset (not capped)
        self.rebases = 0

    def reset(self) -> None:
        self.end = 0
        self.filled = 0
        self.pushed = 0

    def advance(self) -> tuple[int, tuple[int, int] | None]:
        """Claim the slot for the next frame: ``(slot, rebase)``.

        ``rebase`` is None, or ``(src, n)``: before writing, the caller must move the ``n``
        frames in slots ``[src, src + n)`` to slots ``[0, n)`` (keeping their order).
        """
        rebase = None
        if self.end == self.capacity:
            keep = min(self.filled, self.window - 1)
            rebase = (self.end - keep, keep)
            self.end = keep
            self.rebases += 1
        slot = self.end
        self.end += 1
        self.filled = min(self.filled + 1, self.window)
        self.pushed += 1
        return slot, rebase

    @property
    def ready(self) -> bool:
        """True when the last ``window`` consecutive frames are buffered."""
        return self.filled >= self.window

    @property
    def window_start(self) -> int:
        """First slot of the current window (valid when :attr:`ready`)."""
        return self.end - self.window

    def recent_slots(self) -> list[int]:
        """Slots of the buffered frames, oldest first."""
        return list(range(self.end - self.filled, self.end))
