"""What happens when in one SynthME video: expressions (the ground truth) and distractors.

Everything is drawn once from a seeded generator into frozen dataclasses, so the renderer is a
pure function of the plan. Temporal profiles are defined on frame indices, which makes ground
truth exact: an event's profile is strictly positive on [onset, offset] and exactly zero outside,
so onset is the first frame with any displacement and offset the last one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

MICRO, MACRO = "micro", "macro"

# AU prototypes: (name, ((AU, relative weight), ...)). Macro ones follow the prototypical
# emotion displays (EMFACS-style); micro ones are the single AUs and pairs most frequent in
# spontaneous micro-expression datasets (brow lowering, brow raising, lip corners, lids, chin).
MACRO_PROTOTYPES: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = (
    ("happiness", (("AU6", 0.8), ("AU12", 1.0))),
    ("happiness_open", (("AU6", 0.9), ("AU12", 1.0), ("AU25", 0.8))),
    ("surprise", (("AU1", 1.0), ("AU2", 1.0), ("AU5", 0.8), ("AU26", 0.8))),
    ("disgust", (("AU9", 1.0), ("AU10", 0.8), ("AU4", 0.4))),
    ("anger", (("AU4", 1.0), ("AU7", 0.8), ("AU23", 0.8))),
    ("sadness", (("AU1", 1.0), ("AU4", 0.5), ("AU15", 1.0), ("AU17", 0.6))),
    ("fear", (("AU1", 0.9), ("AU2", 0.7), ("AU4", 0.6), ("AU20", 1.0), ("AU25", 0.6))),
    ("brow_raise", (("AU1", 1.0), ("AU2", 1.0))),
    ("frown", (("AU4", 1.0), ("AU7", 0.5))),
    ("smile", (("AU12", 1.0),)),
    ("lip_press", (("AU17", 1.0), ("AU23", 0.8))),
    ("lip_depress", (("AU15", 1.0), ("AU17", 0.7))),
)
MICRO_PROTOTYPES: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = (
    ("brow_lower", (("AU4", 1.0),)),
    ("brow_raise", (("AU1", 1.0), ("AU2", 1.0))),
    ("inner_brow_raise", (("AU1", 1.0),)),
    ("lip_corner_pull", (("AU12", 1.0),)),
    ("dimpler", (("AU14", 1.0),)),
    ("lid_tighten", (("AU7", 1.0),)),
    ("cheek_lip_corner", (("AU6", 0.8), ("AU12", 1.0))),
    ("lip_corner_depress", (("AU15", 1.0),)),
    ("chin_raise", (("AU17", 1.0),)),
    ("upper_lip_raise", (("AU10", 1.0),)),
    ("nose_wrinkle", (("AU9", 1.0),)),
    ("brow_lower_lid", (("AU4", 1.0), ("AU7", 0.7))),
)


@dataclass(frozen=True)
class PlanConfig:
    """Rates and ranges for one video's plan (durations in seconds, rates per minute)."""

    micro_fraction: float = 0.35
    first_gap_s: tuple[float, float] = (0.8, 2.5)
    gap_s: tuple[float, float] = (1.0, 3.5)
    macro_duration_s: tuple[float, float] = (0.6, 3.6)
    micro_amplitude: tuple[float, float] = (0.28, 0.5)
    macro_amplitude: tuple[float, float] = (0.75, 1.35)
    unilateral_micro: float = 0.3
    unilateral_macro: float = 0.1
    blink_rate_per_min: tuple[float, float] = (10.0, 22.0)
    head_rate_per_min: tuple[float, float] = (3.0, 8.0)
    light_rate_per_min: tuple[float, float] = (1.0, 4.0)
    talk_fraction: float = 0.12  # share of event slots that are talking bouts, not expressions
    noise_sigma: tuple[float, float] = (1.0, 3.0)
    distractors: bool = True
    # SynthME2: share of expressions that are real smile morphs (paired people only), their
    # strengths, and the peak displacement targets on the 128-px face crop (see calibrate.py)
    morph_fraction: float = 0.4
    macro_morph_strength: tuple[float, float] = (0.85, 1.0)
    micro_peak_px: tuple[float, float] = (0.35, 1.4)
    macro_min_peak_px: float = 2.2

    def __post_init__(self) -> None:
        if not 0.0 <= self.micro_fraction <= 1.0:
            raise ValueError(f"micro_fraction={self.micro_fraction}: must be in [0, 1]")
        if not 0.0 <= self.talk_fraction < 1.0:
            raise ValueError(f"talk_fraction={self.talk_fraction}: must be in [0, 1)")
        if not 0.0 <= self.morph_fraction <= 1.0:
            raise ValueError(f"morph_fraction={self.morph_fraction}: must be in [0, 1]")
        if not 0.0 < self.micro_peak_px[0] <= self.micro_peak_px[1]:
            raise ValueError(f"micro_peak_px={self.micro_peak_px}: must be 0 < low <= high")


@dataclass(frozen=True)
class Expression:
    """One labelled expression. Frames are 0-based and inclusive."""

    kind: str  # "micro" | "macro"
    prototype: str
    aus: tuple[tuple[str, str, float], ...]  # (AU, side "R"/"L", peak amplitude; 1 = macro peak)
    onset: int
    apex_start: int
    apex_end: int
    offset: int
    ease: str = "rise sin(pi/2 s), fall sin(pi/2 s)^2"
    morph: float = 0.0  # peak neutral -> smile morph strength (0: an action-unit expression)
    peak_px: float = 0.0  # target (after calibration: measured) peak displacement, crop px

    @property
    def apex(self) -> int:
        return (self.apex_start + self.apex_end) // 2

    def profile(self, n: int) -> float:
        return _profile(n, self.onset, self.apex_start, self.apex_end, self.offset)


@dataclass(frozen=True)
class Distractor:
    """One unlabelled event (kind: blink, head, light, talk). Frames 0-based, inclusive."""

    kind: str
    start: int
    end: int
    params: dict[str, float | str] = field(default_factory=dict)


@dataclass(frozen=True)
class VideoPlan:
    """Everything one video shows, in frames."""

    num_frames: int
    fps: float
    expressions: tuple[Expression, ...]
    distractors: tuple[Distractor, ...]
    drift: dict[str, tuple[float, ...]]  # slow head and light drift: amplitudes/periods/phases
    noise_sigma: float

    def to_json(self) -> dict:
        return {
            "num_frames": self.num_frames, "fps": self.fps, "noise_sigma": self.noise_sigma,
            "drift": {k: list(v) for k, v in self.drift.items()},
            "expressions": [dict(asdict(e), apex=e.apex) for e in self.expressions],
            "distractors": [asdict(d) for d in self.distractors],
        }


def _rise(s: float) -> float:
    """Onset: moves off at once (nonzero slope) and decelerates into the apex."""
    return math.sin(0.5 * math.pi * s)


def _fall(s: float) -> float:
    """Offset: leaves the apex gently and relaxes with a soft tail."""
    return math.sin(0.5 * math.pi * s) ** 2


def _profile(n: int, onset: int, a0: int, a1: int, offset: int) -> float:
    """0 outside [onset, offset]; rises to 1 at a0, holds to a1, falls to just above 0.

    With L rise frames the onset frame already shows sin(pi / 2L) of the peak (about 3% for a
    one-second rise at 30 fps), so the exact onset is also a visible one.
    """
    if n < onset or n > offset:
        return 0.0
    if n <= a0:
        return _rise((n - onset + 1) / (a0 - onset + 1))
    if n <= a1:
        return 1.0
    return _fall((offset + 1 - n) / (offset + 1 - a1))


def micro_frame_range(fps: float) -> tuple[int, int]:
    """Inclusive length range of a micro-expression in frames: 1/6 s to 1/2 s."""
    return max(3, math.ceil(fps / 6.0)), int(math.floor(fps / 2.0))


def macro_frame_range(fps: float) -> tuple[int, int]:
    """Inclusive length range of a macro-expression in frames: over 1/2 s up to 4 s."""
    return int(math.floor(fps / 2.0)) + 1, int(math.floor(4.0 * fps))


def plan_video(rng: np.random.Generator, num_frames: int, fps: float,
               cfg: PlanConfig = PlanConfig(), paired: bool = False) -> VideoPlan:
    """Draw one video's expressions and distractors (smile morphs only when ``paired``)."""
    expressions, talks = _plan_slots(rng, num_frames, fps, cfg, paired)
    distractors: list[Distractor] = []
    drift: dict[str, tuple[float, ...]] = {}
    noise = 0.0
    if cfg.distractors:
        distractors = _plan_distractors(rng, num_frames, fps, cfg, expressions) + talks
        distractors.sort(key=lambda d: (d.start, d.kind))
        drift = {
            # three slow sinusoids per channel: (amplitude, period_s, phase) flattened
            "tx_px": _drift(rng, 2.0), "ty_px": _drift(rng, 1.5), "rot_deg": _drift(rng, 0.7),
            "gain": _drift(rng, 0.03),
        }
        noise = float(rng.uniform(*cfg.noise_sigma))
    return VideoPlan(num_frames, float(fps), tuple(expressions), tuple(distractors), drift, noise)


def _drift(rng: np.random.Generator, amplitude: float) -> tuple[float, ...]:
    out: list[float] = []
    for _ in range(3):
        out += [float(rng.uniform(0.2, 1.0) * amplitude / 2), float(rng.uniform(4.0, 25.0)),
                float(rng.uniform(0, 2 * math.pi))]
    return tuple(out)


def drift_value(params: tuple[float, ...], t_s: float) -> float:
    return sum(params[i] * math.sin(2 * math.pi * t_s / params[i + 1] + params[i + 2])
               for i in range(0, len(params), 3))


def _pick_aus(rng: np.random.Generator, protos, amp_range, unilateral: float):
    name, aus = protos[int(rng.integers(len(protos)))]
    amp = float(rng.uniform(*amp_range))
    sides = ("R", "L")
    if rng.random() < unilateral:
        sides = (("R",), ("L",))[int(rng.integers(2))]
        name += "_" + sides[0]
    out = []
    for au, weight in aus:
        jitter = float(rng.uniform(0.85, 1.15))
        for s in sides:
            out.append((au, s, round(amp * weight * jitter, 4)))
    return name, tuple(out)


def _plan_slots(rng, num_frames, fps, cfg, paired=False
                ) -> tuple[list[Expression], list[Distractor]]:
    """Expressions (and talking bouts, which take an expression's slot) one after another.

    The micro/macro choice is steered towards ``micro_fraction`` within each video, so that
    every video of a reasonable length holds both kinds.
    """
    out: list[Expression] = []
    talks: list[Distractor] = []
    mic_lo, mic_hi = micro_frame_range(fps)
    mac_lo, mac_hi = macro_frame_range(fps)
    n = int(round(rng.uniform(*cfg.first_gap_s) * fps))
    n_micro = 0
    while True:
        if cfg.distractors and rng.random() < cfg.talk_fraction:
            length = int(round(rng.uniform(1.0, 3.5) * fps))
            if n + length + int(0.5 * fps) > num_frames:
                break
            talks.append(Distractor("talk", n, n + length - 1, {
                "freq_hz": round(float(rng.uniform(3.0, 5.5)), 3),
                "jaw": round(float(rng.uniform(0.12, 0.3)), 4),
                "lips": round(float(rng.uniform(0.2, 0.5)), 4),
                "round": round(float(rng.uniform(0.0, 0.4)), 4),
                "phase": round(float(rng.uniform(0, 2 * math.pi)), 4)}))
            n += length + int(round(rng.uniform(*cfg.gap_s) * fps))
            continue
        deficit = cfg.micro_fraction * (len(out) + 1) - n_micro
        p_micro = float(np.clip(cfg.micro_fraction + 0.5 * (deficit - cfg.micro_fraction), 0, 1))
        if cfg.micro_fraction in (0.0, 1.0):
            p_micro = cfg.micro_fraction
        micro = rng.random() < p_micro
        morph = paired and rng.random() < cfg.morph_fraction
        strength, peak = 0.0, 0.0
        if micro:
            length = int(rng.integers(mic_lo, mic_hi + 1))
            name, aus = _pick_aus(rng, MICRO_PROTOTYPES, cfg.micro_amplitude,
                                  cfg.unilateral_micro)
            rise = max(1, int(round(length * rng.uniform(0.3, 0.55))))
            hold = 0
            lo, hi = cfg.micro_peak_px
            peak = round(math.exp(rng.uniform(math.log(lo), math.log(hi))), 4)
            if morph:
                name, aus, strength = "real_smile_partial", (), 0.3  # set by calibration
        else:
            lo_s, hi_s = cfg.macro_duration_s
            dur_s = math.exp(rng.uniform(math.log(lo_s), math.log(hi_s)))
            length = int(np.clip(round(dur_s * fps), mac_lo, mac_hi))
            name, aus = _pick_aus(rng, MACRO_PROTOTYPES, cfg.macro_amplitude,
                                  cfg.unilateral_macro)
            rise = max(1, int(round(length * rng.uniform(0.2, 0.4))))
            hold = int(round(length * rng.uniform(0.1, 0.4)))
            if morph:
                name, aus = "real_smile", ()
                strength = round(float(rng.uniform(*cfg.macro_morph_strength)), 4)
        if n + length + int(0.5 * fps) > num_frames:
            break
        onset, offset = n, n + length - 1
        a0 = onset + rise - 1
        a1 = min(a0 + hold, offset - 1)
        out.append(Expression(MICRO if micro else MACRO, name, aus, onset, a0, a1, offset,
                              morph=strength, peak_px=peak))
        n_micro += micro
        n = offset + 1 + int(round(rng.uniform(*cfg.gap_s) * fps))
    return out, talks


def _poisson_starts(rng, num_frames, fps, rate_per_min, min_gap_s) -> list[int]:
    rate = rng.uniform(*rate_per_min) / 60.0
    t, out = float(rng.exponential(1.0 / rate)), []
    while t * fps < num_frames:
        out.append(int(t * fps))
        t += min_gap_s + float(rng.exponential(1.0 / rate))
    return out


def _plan_distractors(rng, num_frames, fps, cfg, expressions) -> list[Distractor]:
    guard = int(round(0.2 * fps))
    micro_zones = [(e.onset - guard, e.offset + guard) for e in expressions if e.kind == MICRO]

    def free(a: int, b: int, zones) -> bool:
        return b < num_frames and all(b < z0 or a > z1 for z0, z1 in zones)

    out: list[Distractor] = []
    mic_lo, mic_hi = micro_frame_range(fps)
    for s in _poisson_starts(rng, num_frames, fps, cfg.blink_rate_per_min, 0.8):
        length = int(rng.integers(mic_lo, mic_hi + 1))  # blinks last as long as micro-expressions
        if free(s, s + length - 1, micro_zones):
            close = max(1, int(round(length * rng.uniform(0.3, 0.45))))
            both = rng.random() < 0.93
            sides = "RL" if both else "RL"[int(rng.integers(2))]
            out.append(Distractor("blink", s, s + length - 1, {
                "amplitude": round(float(rng.uniform(0.75, 1.05)), 4), "close_frames": close,
                "sides": sides}))
    for s in _poisson_starts(rng, num_frames, fps, cfg.head_rate_per_min, 1.0):
        length = max(2, int(round(rng.uniform(0.15, 1.2) * fps)))
        if free(s, s + length - 1, micro_zones):
            out.append(Distractor("head", s, s + length - 1, {
                "dx_px": round(float(rng.normal(0, 3.0)), 3),
                "dy_px": round(float(rng.normal(0, 2.0)), 3),
                "rot_deg": round(float(rng.normal(0, 1.5)), 3),
                "scale": round(float(rng.normal(0, 0.012)), 4),
                "returns": float(rng.random() < 0.5)}))
    for s in _poisson_starts(rng, num_frames, fps, cfg.light_rate_per_min, 2.0):
        length = max(2, int(round(rng.uniform(0.1, 1.5) * fps)))
        if free(s, s + length - 1, micro_zones):
            out.append(Distractor("light", s, s + length - 1, {
                "gain": round(float(rng.choice([-1, 1]) * rng.uniform(0.04, 0.12)), 4),
                "grad_x": round(float(rng.normal(0, 0.05)), 4),
                "grad_y": round(float(rng.normal(0, 0.03)), 4),
                "returns": float(rng.random() < 0.4)}))
    out.sort(key=lambda d: (d.start, d.kind))
    return out


def blink_profile(d: Distractor, n: int) -> float:
    """Fast close, slower open; zero outside the blink."""
    if n < d.start or n > d.end:
        return 0.0
    a0 = d.start + int(d.params["close_frames"]) - 1
    return float(d.params["amplitude"]) * _profile(n, d.start, a0, a0, d.end)


def step_profile(d: Distractor, n: int) -> float:
    """0 before, smooth rise to 1 over the event, then 1 (or back to 0 if it returns)."""
    if n < d.start:
        return 0.0
    if d.params.get("returns", 0.0) > 0.5:
        mid = (d.start + d.end) // 2
        return _profile(n, d.start, mid, mid, d.end)
    if n >= d.end:
        return 1.0
    s = (n - d.start + 1) / (d.end - d.start + 1)
    return 0.5 - 0.5 * math.cos(math.pi * s)


def talk_amplitudes(d: Distractor, n: int, fps: float) -> dict[str, float]:
    """Mouth action amplitudes while talking: jaw and lips oscillate at syllable rate."""
    if n < d.start or n > d.end:
        return {}
    env = _profile(n, d.start, d.start + int(0.15 * fps), d.end - int(0.15 * fps), d.end)
    t = (n - d.start) / fps
    p = d.params
    osc = 0.5 - 0.5 * math.cos(2 * math.pi * p["freq_hz"] * t + p["phase"])
    osc2 = 0.5 - 0.5 * math.cos(2 * math.pi * p["freq_hz"] * 0.61 * t)
    return {"AU26": env * p["jaw"] * osc, "AU25": env * p["lips"] * osc,
            "AU23": env * p["round"] * osc2}
