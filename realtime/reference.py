"""Input transforms: what the network sees of each face crop (raw, reference or lag difference).

The paper's STSNet_SW classifies raw grayscale crops and starts from ImageNet + AffectNet
weights. Trained from scratch on a handful of identities (the only option without downloads),
a raw-crop model learns who is in the video, not what the face is doing: the backbone's features
vary 85 times more across people than over time (``python -m export diagnose``). This optional
input transform removes the person: the network sees

    x'_t = clip(128 + gain * (x_t - r_t), 0, 255),    r_t = EMA of x_0 .. x_{t-1}

where ``r_t`` is an exponential moving average of the previous crops of the same face track with
a time constant of ``tau_frames`` frames (``r`` starts at the track's first crop and restarts
whenever the track breaks). A neutral face gives a flat grey image; an expression shows as the
change it makes to the face for as long as it lasts (the apex of a long macro-expression stays
visible while ``r`` adapts slowly), which a 5-frame window of raw crops cannot show once the face
has stopped moving.

The transform is part of the model: the checkpoint's ``ModelConfig`` and every exported graph's
contract record it (``input_transform``), and the live engine, the offline evaluation and the
training code all run this one implementation. ``tau_frames = 0`` is the paper's raw input.

The reference difference keeps slow, large changes (a macro-expression's apex) but loses small,
fast ones: on unseen people its input does not separate micro-expression frames from neutral
ones (ROC AUC 0.49), because slow drift and crop jitter, times the gain, outline the whole face.
The *lag difference* keeps exactly those:

    x'_t = clip(128 + gain * (x_t - x_{t-k}), 0, 255)

with ``k = lag_frames`` about half a micro-expression (3-4 frames at 30 fps, where a 3-frame
difference separates micro frames from neutral ones with ROC AUC 0.87). Within a track the
first crop stands in for the frames before it, so every track starts on a flat grey image.

Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

KIND_RAW = "raw"
KIND_REFERENCE = "reference_difference"
KIND_LAG = "lag_difference"
TRANSFORM_KINDS = (KIND_RAW, KIND_REFERENCE, KIND_LAG)
MAX_TAU_FRAMES = 100_000
MAX_LAG_FRAMES = 1_000
MAX_GAIN = 64.0


@dataclass(frozen=True)
class InputTransform:
    """What the network's input is: raw crops, reference differences or lag differences.

    tau_frames: time constant of the running-average reference, in frames (0: no reference).
    lag_frames: k of the lag difference ``x_t - x_{t-k}``, in frames (0: no lag difference).
    gain: contrast of the difference image (grey levels out per grey level of change).
    At most one of ``tau_frames`` and ``lag_frames`` is non-zero; both 0 is the paper's raw input.
    """

    tau_frames: int = 0
    gain: float = 4.0
    lag_frames: int = 0

    def __post_init__(self) -> None:
        if (isinstance(self.tau_frames, bool) or not isinstance(self.tau_frames, int)
                or not 0 <= self.tau_frames <= MAX_TAU_FRAMES):
            raise ValueError(f"input transform tau_frames must be an int in [0, {MAX_TAU_FRAMES}]"
                             f" (0: raw crops), got {self.tau_frames!r}")
        if (isinstance(self.lag_frames, bool) or not isinstance(self.lag_frames, int)
                or not 0 <= self.lag_frames <= MAX_LAG_FRAMES):
            raise ValueError(f"input transform lag_frames must be an int in [0, {MAX_LAG_FRAMES}]"
                             f" (0: no lag difference), got {self.lag_frames!r}")
        if self.tau_frames and self.lag_frames:
            raise ValueError("input transform: give tau_frames (reference difference) or "
                             "lag_frames (lag difference), not both")
        if (isinstance(self.gain, bool) or not isinstance(self.gain, int | float)
                or not 0 < float(self.gain) <= MAX_GAIN):
            raise ValueError(f"input transform gain must be a number in (0, {MAX_GAIN}], "
                             f"got {self.gain!r}")
        object.__setattr__(self, "gain", float(self.gain))

    @property
    def kind(self) -> str:
        if self.lag_frames:
            return KIND_LAG
        return KIND_RAW if self.tau_frames == 0 else KIND_REFERENCE

    def to_dict(self) -> dict[str, Any]:
        if self.kind == KIND_RAW:
            return {"kind": KIND_RAW}
        if self.kind == KIND_LAG:
            return {"kind": KIND_LAG, "lag_frames": self.lag_frames, "gain": self.gain}
        return {"kind": KIND_REFERENCE, "tau_frames": self.tau_frames, "gain": self.gain}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> InputTransform:
        """Inverse of :meth:`to_dict`; ``None`` or ``{}`` (graphs older than the field) is raw."""
        if not d:
            return cls()
        if not isinstance(d, dict):
            raise ValueError(f"input_transform must be an object, got {type(d).__name__}")
        kind = d.get("kind")
        if kind == KIND_RAW:
            return cls()
        if kind == KIND_REFERENCE:
            tau = _whole(d.get("tau_frames"))
            if tau == 0:
                raise ValueError("input_transform: a reference_difference needs tau_frames > 0")
            return cls(tau_frames=tau, gain=d.get("gain", 4.0))
        if kind == KIND_LAG:
            lag = _whole(d.get("lag_frames"))
            if lag == 0:
                raise ValueError("input_transform: a lag_difference needs lag_frames > 0")
            return cls(lag_frames=lag, gain=d.get("gain", 4.0))
        raise ValueError(f"input_transform kind {kind!r} unknown; valid: {list(TRANSFORM_KINDS)}")

    def describe(self) -> str:
        if self.kind == KIND_RAW:
            return "raw crops"
        if self.kind == KIND_LAG:
            return f"lag difference (lag {self.lag_frames} frames, gain {self.gain:g})"
        return f"reference difference (tau {self.tau_frames} frames, gain {self.gain:g})"


def _whole(value: Any) -> Any:
    """A frame count read from JSON: ``3.0`` -> ``3``; anything else unchanged (checked later)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


class ReferenceDifference:
    """Streaming form of any :class:`InputTransform`: :meth:`update` takes the next crop of a
    face track and returns the network's input for it; :meth:`reset` at every break of the
    track (face lost, frame gap).

    Reference difference: ``clip(128 + gain * (x_t - r_t))`` with ``r_t`` the track's EMA.
    Lag difference: ``clip(128 + gain * (x_t - x_{t-k}))``, the track's first crop standing in
    for the frames before it (so a new track starts grey, like the reference difference).
    Raw: the crop is returned unchanged (no copy). The float buffers are allocated once per crop
    size; pass ``out`` to :meth:`update` to avoid the result array too.
    """

    def __init__(self, transform: InputTransform) -> None:
        if not isinstance(transform, InputTransform):
            raise ValueError(f"transform must be an InputTransform, "
                             f"got {type(transform).__name__}")
        self.transform = transform
        self._alpha = np.float32(1.0 / transform.tau_frames) if transform.tau_frames else None
        self._lag = transform.lag_frames
        self._gain = np.float32(transform.gain)
        self._ref: np.ndarray | None = None  # r_t, float32; None right after a reset
        self._ring = np.empty((0, 0, 0), np.uint8)  # lag: the last k crops, slot t % k
        self._count = 0  # lag: crops of this track so far
        self._work = np.empty(0, np.float32)
        self._step = np.empty(0, np.float32)

    @property
    def is_identity(self) -> bool:
        """True for raw crops: :meth:`update` returns its input."""
        return self._alpha is None and not self._lag

    def reset(self) -> None:
        """Forget the track: the next crop starts a new one."""
        self._ref = None
        self._count = 0

    def state(self) -> np.ndarray | None:
        """A copy of the current reference (float32; for a lag difference the oldest of the
        last k crops), or None right after a reset."""
        if self._lag:
            if self._count == 0:
                return None
            return self._ring[self._count % self._lag].astype(np.float32)
        return None if self._ref is None else self._ref.copy()

    def update(self, crop: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``(S, S)`` uint8 crop -> ``(S, S)`` uint8 network input, written to ``out`` when
        given (same shape, uint8), else to a new array."""
        if self.is_identity:
            return crop
        if not isinstance(crop, np.ndarray) or crop.ndim != 2 or crop.dtype != np.uint8:
            got = (f"{crop.dtype} array of shape {crop.shape}" if isinstance(crop, np.ndarray)
                   else type(crop).__name__)
            raise ValueError(f"crop must be a 2-D uint8 grayscale array, got {got}")
        if self._work.shape != crop.shape:
            self._work = np.empty(crop.shape, np.float32)
            self._step = np.empty(crop.shape, np.float32)
            self.reset()
        work = self._work
        if self._lag:
            self._lag_step(crop, work)
        else:
            self._reference_step(crop, work)
        work *= self._gain
        work += np.float32(128.0)
        np.clip(work, 0.0, 255.0, out=work)
        np.rint(work, out=work)
        if out is None:
            return work.astype(np.uint8)
        np.copyto(out, work, casting="unsafe")
        return out

    def _reference_step(self, crop: np.ndarray, work: np.ndarray) -> None:
        if self._ref is None:
            self._ref = crop.astype(np.float32)
        np.subtract(crop, self._ref, out=work)  # x_t - r_t
        np.multiply(work, self._alpha, out=self._step)
        self._ref += self._step  # r_{t+1} = r_t + alpha (x_t - r_t)

    def _lag_step(self, crop: np.ndarray, work: np.ndarray) -> None:
        if self._count == 0:
            if self._ring.shape[1:] != crop.shape:
                self._ring = np.empty((self._lag, *crop.shape), np.uint8)
            self._ring[:] = crop
        slot = self._ring[self._count % self._lag]  # x_{t-k} (the first crop early on)
        np.subtract(crop, slot, out=work, dtype=np.float32)
        slot[:] = crop
        self._count += 1

    def apply(self, crops: np.ndarray) -> np.ndarray:
        """A run of consecutive crops ``(N, S, S)`` (continuing the current track)."""
        if self.is_identity:
            return crops
        out = np.empty_like(crops)
        for i in range(len(crops)):
            self.update(crops[i], out=out[i])
        return out


def transform_video(crops: np.ndarray, valid: np.ndarray, transform: InputTransform) -> np.ndarray:
    """Offline form for a whole video: the reference restarts after every frame without a face.

    ``crops`` ``(N, S, S)`` uint8, ``valid`` ``(N,)`` bool. Frames without a face keep their
    (unused) crop. Gives byte for byte what :class:`ReferenceDifference` gives live.
    """
    if transform.kind == KIND_RAW:
        return crops
    valid = np.asarray(valid, bool)
    if crops.ndim != 3 or len(valid) != len(crops):
        raise ValueError(f"crops must be (N, S, S) and valid (N,), got {crops.shape} and "
                         f"{valid.shape}")
    out = crops.copy()
    ref = ReferenceDifference(transform)
    for i in range(len(crops)):
        if not valid[i]:
            ref.reset()
            continue
        ref.update(crops[i], out=out[i])
    return out
