"""The built-in demo clip (a short SynthME video with its ground truth) and a one-portrait
identity loader for tools and tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .actions import FieldBank
from .dataset import SynthConfig, seeded_rng, write_csv, write_video
from .faces import Identity, builtin_portraits, find_faces
from .placement import Variant, place_identity
from .render import Renderer
from .schedule import MACRO, MICRO, PlanConfig, plan_video


@dataclass(frozen=True)
class DemoClip:
    """A written demo clip and its ground truth."""

    video_path: Path
    annotations_path: Path
    num_frames: int
    fps: int
    expressions: int


def make_demo_clip(out_path: str | Path, seed: int = 0, duration_s: float = 18.0,
                   fps: int = 30, portrait: str | Path | None = None,
                   width_px: int = 320, height_px: int = 240) -> DemoClip:
    """Write a short SynthME clip (default: Grace Hopper, 18 s at 30 fps) plus ground truth.

    The ground truth goes next to the video as ``<stem>.csv`` with the columns of
    ``annotations.csv`` (subject ``demo``, video ``<stem>``). Expressions are a little denser
    than in the benchmark so that a short clip shows several micro and macro events.
    """
    cfg = SynthConfig(Path(out_path).parent, seed=seed, fps=fps, duration_s=duration_s,
                      width_px=width_px, height_px=height_px)
    out_path = Path(out_path)
    if out_path.suffix.lower() != ".mp4":
        raise ValueError(f"demo clip {out_path}: must end in .mp4")
    faces = find_faces([str(portrait)] if portrait else [str(p) for p in builtin_portraits()])
    ident = place_identity(faces[0], "demo", width_px, height_px,
                           Variant(face_frac=0.55))
    plan_cfg = PlanConfig(micro_fraction=0.45, first_gap_s=(0.8, 1.5), gap_s=(0.8, 2.2),
                          talk_fraction=0.08)
    for attempt in range(100):  # first draw (from this seed) showing both kinds and a blink
        rng = seeded_rng(seed, 4242, attempt)
        plan = plan_video(rng, int(round(cfg.seconds * fps)), fps, plan_cfg)
        kinds = [e.kind for e in plan.expressions]
        if (kinds.count(MICRO) >= 2 and kinds.count(MACRO) >= 2
                and any(d.kind == "blink" for d in plan.distractors)):
            break
    renderer = Renderer(ident, plan, noise_seed=int(rng.integers(2**31)))
    write_video(out_path, renderer, fps)
    ann = out_path.with_suffix(".csv")
    write_csv(ann, ["subject", "video", "onset", "apex", "offset", "type"],
               [["demo", out_path.stem, e.onset, e.apex, e.offset, e.kind]
                for e in plan.expressions])
    return DemoClip(out_path, ann, plan.num_frames, fps, len(plan.expressions))


def load_identity(portrait: str | Path, width_px: int = 320, height_px: int = 240,
                  variant: Variant = Variant()) -> tuple[Identity, FieldBank]:
    """The first face of a portrait placed on a canvas, with its field bank (for tools/tests)."""
    ident = place_identity(find_faces([str(portrait)])[0], "x", width_px, height_px, variant)
    return ident, FieldBank(ident.landmarks_px, ident.canvas.shape[:2])
