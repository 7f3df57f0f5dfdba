"""Frame-rate resampling in front of the model: a faster source seen at the training rate.

The model counts frames: its K=5 window, the input transform's lag or reference time constant
and the merger's gap are all in frames of the training video (30 fps for the shipped weights).
A 200 fps source (SAMM-like) would show it every motion 6.7 times slower than in training. The
:class:`Resampler` keeps the frames of a faster source that fall on the training rate's time
grid (the first frame at or after each tick ``n / train_fps``), renumbers them consecutively
for the model, the engine and the merger, and maps what comes back (frame indices of events
and outputs) to the source's own frame numbers, so users only ever see source frames and
media times. Slower sources are passed through untouched (upsampling would invent frames; the
spotter warns about the rate instead).

Times come from the frames' own ``time_s`` (container timestamps for recordings, capture times
for live sources), so variable-rate and dropped frames land on the right ticks.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque

from realtime.events import Event
from realtime.sources import Frame
from realtime.vocab import check_fps

# Resample only when the source is clearly faster than training (30 fps vs 29.97 or a jittery
# live estimate of 31 is the same rate).
RESAMPLE_FACTOR = 1.5
HISTORY = 4096  # kept-frame numbers remembered for mapping events back (> any open segment)


def needs_resampling(train_fps: float | None, source_fps: float) -> bool:
    """Whether a source at ``source_fps`` should be resampled to ``train_fps``."""
    if train_fps is None or not (source_fps > 0 and math.isfinite(source_fps)):
        return False
    return source_fps >= RESAMPLE_FACTOR * train_fps


class Resampler:
    """Keeps the frames of one stream that fall on the ``target_fps`` grid.

    :meth:`keep` decides per source frame and returns the model's frame number or None. The
    model's number of a kept frame is its tick, ``floor(t * target_fps)`` with ``t`` the time
    since the stream's first frame: consecutive while the source delivers every tick, with a
    jump where it missed one (a hole in the source stays a break for the engine).
    :meth:`source_frame` and :meth:`to_source` map model frame numbers and events back.
    :meth:`reset` starts a new stream (a new video, a seek).
    """

    def __init__(self, target_fps: float) -> None:
        self.target_fps = check_fps(target_fps, "target_fps")
        self._next_tick = 0
        self._origin: float | None = None  # media time of the stream's first frame
        self._kept: deque[tuple[int, int]] = deque(maxlen=HISTORY)  # (model frame, source)
        self.kept = 0
        self.skipped = 0

    def reset(self) -> None:
        self._next_tick = 0
        self._origin = None
        self._kept.clear()

    def keep(self, source_index: int, time_s: float) -> int | None:
        """The model's frame number for this source frame, or None when it is skipped."""
        if self._origin is None:
            self._origin = float(time_s)
        tick = int(math.floor((float(time_s) - self._origin) * self.target_fps + 1e-6))
        if tick < self._next_tick:
            self.skipped += 1
            return None
        self._next_tick = tick + 1
        self._kept.append((tick, int(source_index)))
        self.kept += 1
        return tick

    def source_frame(self, model_frame: int) -> int:
        """The source frame number behind a kept model frame (KeyError when unknown)."""
        for m, s in reversed(self._kept):
            if m == model_frame:
                return s
            if m < model_frame:
                break
        raise KeyError(f"model frame {model_frame} was not kept (or is too old)")

    def to_source(self, event: Event) -> Event:
        """``event`` with its frame numbers in source frames (times and duration unchanged)."""
        return dataclasses.replace(
            event, onset_frame=self.source_frame(event.onset_frame),
            apex_frame=self.source_frame(event.apex_frame),
            offset_frame=None if event.offset_frame is None
            else self.source_frame(event.offset_frame))


def resampler_for(engine: object, source_fps: float) -> Resampler | None:
    """A resampler to the training rate of ``engine``'s graphs (``contract.train_fps``) when a
    source at ``source_fps`` needs one, else None."""
    train_fps = getattr(getattr(engine, "contract", None), "train_fps", None)
    if not needs_resampling(train_fps, source_fps):
        return None
    return Resampler(train_fps)


def model_frame(resampler: Resampler, frame: Frame) -> Frame | None:
    """``frame`` renumbered on the training rate's grid, or None when it is skipped."""
    tick = resampler.keep(frame.index, frame.time_s)
    if tick is None:
        return None
    return dataclasses.replace(frame, index=tick, fps=resampler.target_fps)
