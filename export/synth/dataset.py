"""Write a SynthME dataset (videos, ground truth, metadata, contact sheet) and the demo clip.

Layout (the generic dataset format shared with the dataset reader)::

    DIR/annotations.csv   subject,video,onset,apex,offset,type   (0-based inclusive frames)
    DIR/videos.csv        subject,video,path,fps,num_frames      (path relative to DIR)
    DIR/<subject>/<video>.mp4
    DIR/metadata.json     generator version, arguments, seed, identities, every event's
                          parameters (expressions and distractors)
    DIR/contact_sheet.png per subject: neutral, micro apex, macro apex and blink, with
                          amplified difference images
"""

from __future__ import annotations

import csv
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .actions import FieldBank
from .faces import FaceFound, Identity, Variant, builtin_portraits, find_faces, place_identity
from .render import Renderer
from .schedule import MACRO, MICRO, PlanConfig, VideoPlan, plan_video

GENERATOR_VERSION = "synthme-1.0"
SUPPORTED_FPS = (30, 200)
DEFAULT_VIDEOS = {30: 3, 200: 2}
DEFAULT_DURATION_S = {30: 35.0, 200: 15.0}
MAX_DEFAULT_SUBJECTS = 10
MIN_DEFAULT_SUBJECTS = 8


@dataclass(frozen=True)
class SynthConfig:
    """Settings of one SynthME generation run (None = the default for the frame rate)."""

    out_dir: Path
    seed: int = 0
    fps: int = 30
    subjects: int | None = None
    videos_per_subject: int | None = None
    duration_s: float | None = None
    portraits: tuple[str, ...] = ()
    width_px: int = 320
    height_px: int = 240
    distractors: bool = True
    micro_fraction: float = 0.35
    contact_sheet: bool = True
    quiet: bool = False

    def __post_init__(self) -> None:
        if self.fps not in SUPPORTED_FPS:
            raise ValueError(f"fps={self.fps}: must be one of {SUPPORTED_FPS} "
                             "(30 like CAS(ME)^2, 200 like SAMM)")
        if self.subjects is not None and not 1 <= self.subjects <= 999:
            raise ValueError(f"subjects={self.subjects}: must be in [1, 999]")
        if self.videos_per_subject is not None and not 1 <= self.videos_per_subject <= 99:
            raise ValueError(f"videos_per_subject={self.videos_per_subject}: must be in [1, 99]")
        if self.duration_s is not None and not (
                math.isfinite(self.duration_s) and 2.0 <= self.duration_s <= 3600.0):
            raise ValueError(f"duration_s={self.duration_s}: must be in [2, 3600] seconds")
        if not (96 <= self.width_px <= 1920 and 96 <= self.height_px <= 1080):
            raise ValueError(f"frame size {self.width_px}x{self.height_px}: width must be in "
                             "[96, 1920] and height in [96, 1080] pixels")
        if self.width_px % 2 or self.height_px % 2:
            raise ValueError(f"frame size {self.width_px}x{self.height_px}: width and height "
                             "must be even (video codecs need it)")
        if not 0.0 <= self.micro_fraction <= 1.0:
            raise ValueError(f"micro_fraction={self.micro_fraction}: must be in [0, 1]")
        if not 0 <= self.seed < 2**63:
            raise ValueError(f"seed={self.seed}: must be in [0, 2**63)")

    @property
    def videos(self) -> int:
        return self.videos_per_subject or DEFAULT_VIDEOS[self.fps]

    @property
    def seconds(self) -> float:
        return self.duration_s if self.duration_s is not None else DEFAULT_DURATION_S[self.fps]


@dataclass(frozen=True)
class SynthSummary:
    """What a run wrote."""

    out_dir: Path
    subjects: int
    videos: int
    frames: int
    micro: int
    macro: int
    distractors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _log(cfg: SynthConfig, msg: str) -> None:
    if not cfg.quiet:
        print(f"synth: {msg}", file=sys.stderr, flush=True)


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


def subject_identities(faces: list[FaceFound], n_subjects: int, seed: int
                       ) -> list[tuple[FaceFound, Variant]]:
    """One (face, base variant) per subject; faces are reused mirrored and re-toned if short."""
    out = []
    for i in range(n_subjects):
        face = faces[i % len(faces)]
        k = i // len(faces)
        if k == 0:
            out.append((face, Variant()))
            continue
        r = _rng(seed, 7919, i)
        out.append((face, Variant(
            flip=bool(k % 2), gain=float(r.uniform(0.8, 1.15)), gamma=float(r.uniform(0.8, 1.25)),
            colour_bgr=tuple(float(c) for c in r.uniform(0.9, 1.1, 3)),
            face_frac=0.5)))
    return out


def video_variant(base: Variant, rng: np.random.Generator) -> Variant:
    """Per-video session change: face size and place, slight roll and tone."""
    return Variant(
        flip=base.flip, gain=base.gain * float(rng.uniform(0.92, 1.06)),
        gamma=base.gamma * float(rng.uniform(0.93, 1.07)),
        colour_bgr=tuple(c * float(rng.uniform(0.97, 1.03)) for c in base.colour_bgr),
        face_frac=float(rng.uniform(0.46, 0.58)),
        offset_frac=(float(rng.uniform(-0.05, 0.05)), float(rng.uniform(-0.04, 0.03))),
        roll_deg=float(rng.uniform(-3.0, 3.0)))


def write_video(path: Path, renderer: Renderer, fps: float) -> None:
    """Encode all frames of a renderer as MPEG-4 part 2 (mp4v) with OpenCV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps),
                             (renderer.width_px, renderer.height_px))
    if not writer.isOpened():
        raise OSError(f"cannot open a video writer for {path} (OpenCV mp4v)")
    try:
        for frame in renderer.frames():
            writer.write(frame)
    finally:
        writer.release()


def generate(cfg: SynthConfig) -> SynthSummary:
    """Generate a whole SynthME dataset into ``cfg.out_dir``."""
    t0 = time.monotonic()
    portraits = list(cfg.portraits) or [str(p) for p in builtin_portraits()]
    faces = find_faces(portraits)
    n_subjects = cfg.subjects or (min(len(faces), MAX_DEFAULT_SUBJECTS)
                                  if len(faces) >= MIN_DEFAULT_SUBJECTS else MIN_DEFAULT_SUBJECTS)
    _log(cfg, f"{len(faces)} distinct face(s) found; {n_subjects} subjects x {cfg.videos} "
              f"videos x {cfg.seconds:g} s at {cfg.fps} fps")
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plan_cfg = PlanConfig(micro_fraction=cfg.micro_fraction, distractors=cfg.distractors)
    num_frames = int(round(cfg.seconds * cfg.fps))
    ann_rows, vid_rows, meta_videos, meta_subjects, sheet_rows = [], [], [], {}, []
    for si, (face, base) in enumerate(subject_identities(faces, n_subjects, cfg.seed)):
        subject = f"s{si + 1:02d}"
        meta_subjects[subject] = {"source": face.source, "face_index": face.face_index,
                                  "frame_index": face.frame_index,
                                  "base_variant": asdict(base), "person": _person_key(face)}
        for vi in range(cfg.videos):
            video = f"{subject}_v{vi + 1:02d}"
            rng = _rng(cfg.seed, si, vi)
            variant = video_variant(base, rng)
            ident = place_identity(face, subject, cfg.width_px, cfg.height_px, variant)
            plan = plan_video(rng, num_frames, cfg.fps, plan_cfg)
            renderer = Renderer(ident, plan, noise_seed=int(rng.integers(2**31)))
            rel = Path(subject) / f"{video}.mp4"
            write_video(out / rel, renderer, cfg.fps)
            vid_rows.append([subject, video, rel.as_posix(), cfg.fps, num_frames])
            for e in plan.expressions:
                ann_rows.append([subject, video, e.onset, e.apex, e.offset, e.kind])
            meta_videos.append({"subject": subject, "video": video, "path": rel.as_posix(),
                                "variant": asdict(variant), "iod_px": renderer.bank.iod_px,
                                **plan.to_json()})
            if vi == 0 and cfg.contact_sheet:
                sheet_rows.append(contact_row(renderer, subject))
            _log(cfg, f"{video}: {num_frames} frames, "
                      f"{sum(e.kind == MICRO for e in plan.expressions)} micro, "
                      f"{sum(e.kind == MACRO for e in plan.expressions)} macro, "
                      f"{len(plan.distractors)} distractors ({time.monotonic() - t0:.0f} s)")
    _write_csv(out / "annotations.csv", ["subject", "video", "onset", "apex", "offset", "type"],
               ann_rows)
    _write_csv(out / "videos.csv", ["subject", "video", "path", "fps", "num_frames"], vid_rows)
    counts: dict[str, int] = {}
    for v in meta_videos:
        for d in v["distractors"]:
            counts[d["kind"]] = counts.get(d["kind"], 0) + 1
    summary = SynthSummary(out, n_subjects, len(vid_rows), num_frames * len(vid_rows),
                           sum(r[5] == MICRO for r in ann_rows),
                           sum(r[5] == MACRO for r in ann_rows), counts,
                           round(time.monotonic() - t0, 1))
    meta = {
        "generator": GENERATOR_VERSION,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "seed": cfg.seed,
        "ground_truth": ("onset/offset = first/last frame whose expression displacement is "
                         "nonzero (the temporal profile is > 0 exactly on [onset, offset]); "
                         "apex = middle of the peak plateau; frames 0-based inclusive; "
                         "distractors are not expressions"),
        "amplitude_units": "1.0 = nominal macro-expression peak of that AU (see actions.py)",
        "plan_config": asdict(plan_cfg),
        "summary": {k: (str(v) if isinstance(v, Path) else v)
                    for k, v in asdict(summary).items() if k != "seconds"},
        "subjects": meta_subjects,
        "videos": meta_videos,
    }
    (out / "metadata.json").write_text(json.dumps(meta, indent=1, default=_jsonable))
    if sheet_rows:
        cv2.imwrite(str(out / "contact_sheet.png"), _stack_rows(sheet_rows))
    _log(cfg, f"done: {summary.videos} videos, {summary.frames} frames, {summary.micro} micro, "
              f"{summary.macro} macro in {summary.seconds:.0f} s -> {out}")
    return summary


def _person_key(face: FaceFound) -> str:
    return f"{Path(face.source).name}#{face.face_index}"


def _jsonable(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


# --- contact sheet ---
TILE_PX = 112


def _face_tile(img: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return cv2.resize(img[y0:y1, x0:x1], (TILE_PX, TILE_PX), interpolation=cv2.INTER_AREA)


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    tile = tile.copy()
    cv2.putText(tile, text, (3, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 0, 0), 2, cv2.LINE_AA)
    cv2.putText(tile, text, (3, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (80, 255, 80), 1,
                cv2.LINE_AA)
    return tile


def contact_row(renderer: Renderer, subject: str) -> np.ndarray:
    """Neutral, then (apex, amplified |apex - neutral|) for a micro, a macro and a blink."""
    ident = renderer.identity
    lm = ident.landmarks_px - ident.margin_px
    cx, cy = lm.mean(0)
    half = 0.62 * float(lm[:, 1].max() - lm[:, 1].min())
    box = (int(max(0, cx - half)), int(max(0, cy - half)),
           int(min(ident.width_px, cx + half)), int(min(ident.height_px, cy + half)))
    neutral = renderer.frame(0, expressions=False, distractors=False, noise=False)
    tiles = [_label(_face_tile(neutral, box), f"{subject} neutral")]
    plan: VideoPlan = renderer.plan
    picks = []
    for kind in (MICRO, MACRO):
        e = next((e for e in plan.expressions if e.kind == kind), None)
        picks.append((kind, e.apex if e else None, e.prototype if e else "", True, False))
    blink = next((d for d in plan.distractors if d.kind == "blink"), None)
    picks.append(("blink", blink.start + int(blink.params["close_frames"]) - 1 if blink else None,
                  "", False, True))
    for kind, n, name, expr, dist in picks:
        if n is None:
            tiles += [np.zeros((TILE_PX, TILE_PX, 3), np.uint8)] * 2
            continue
        if dist:  # a blink alone: no pose, light or noise, only the blink itself
            acts = {k: a for k, a in renderer.actions_at(n, False, True).items()
                    if k[0] == "BLINK"}
            img = renderer._warp(acts, (0.0, 0.0, 0.0, 1.0))
        else:
            img = renderer.frame(n, expressions=expr, distractors=False, noise=False)
        diff = cv2.absdiff(img, neutral).astype(np.float32)
        gain = 8.0 if kind == MICRO else 4.0
        diff = np.clip(diff.max(axis=2) * gain, 0, 255).astype(np.uint8)
        tiles.append(_label(_face_tile(img, box), f"{kind} {n} {name}"[:24]))
        tiles.append(_label(_face_tile(cv2.cvtColor(diff, cv2.COLOR_GRAY2BGR), box),
                            f"|diff| x{gain:g}"))
    return np.hstack(tiles)


def _stack_rows(rows: list[np.ndarray]) -> np.ndarray:
    width = max(r.shape[1] for r in rows)
    return np.vstack([np.pad(r, ((0, 2), (0, width - r.shape[1]), (0, 0))) for r in rows])


# --- demo clip ---
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
        rng = _rng(seed, 4242, attempt)
        plan = plan_video(rng, int(round(cfg.seconds * fps)), fps, plan_cfg)
        kinds = [e.kind for e in plan.expressions]
        if (kinds.count(MICRO) >= 2 and kinds.count(MACRO) >= 2
                and any(d.kind == "blink" for d in plan.distractors)):
            break
    renderer = Renderer(ident, plan, noise_seed=int(rng.integers(2**31)))
    write_video(out_path, renderer, fps)
    ann = out_path.with_suffix(".csv")
    _write_csv(ann, ["subject", "video", "onset", "apex", "offset", "type"],
               [["demo", out_path.stem, e.onset, e.apex, e.offset, e.kind]
                for e in plan.expressions])
    return DemoClip(out_path, ann, plan.num_frames, fps, len(plan.expressions))


def load_identity(portrait: str | Path, width_px: int = 320, height_px: int = 240,
                  variant: Variant = Variant()) -> tuple[Identity, FieldBank]:
    """The first face of a portrait placed on a canvas, with its field bank (for tools/tests)."""
    ident = place_identity(find_faces([str(portrait)])[0], "x", width_px, height_px, variant)
    return ident, FieldBank(ident.landmarks_px, ident.canvas.shape[:2])
