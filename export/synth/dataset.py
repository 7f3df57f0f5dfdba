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
import shutil
import subprocess
import sys
import time
import zlib
from dataclasses import asdict, dataclass, field
from itertools import zip_longest
from pathlib import Path

import cv2
import numpy as np

from .actions import EXPRESSION_AUS, FieldBank
from .calibrate import calibrate_plan, crop_scale
from .contact import contact_row, stack_rows
from .faces import (
    Person,
    PortraitError,
    builtin_portraits,
    find_people,
)
from .morph import SmileMorph
from .placement import Variant, place_identity
from .render import Renderer
from .schedule import MACRO, MICRO, PlanConfig, plan_video

GENERATOR_VERSION = "synthme-2.0"
SUPPORTED_FPS = (30, 200)
DEFAULT_VIDEOS = {30: 2, 200: 2}
DEFAULT_DURATION_S = {30: 30.0, 200: 15.0}
SPLITS = ("train", "validation", "test")
# Subject-disjoint split, per stratum (paired = neutral + smiling photo; single = one photo):
# fractions of each stratum, drawn with a fixed seed from the sorted subject ids, so a subject's
# split depends only on which people are in the set, never on the generation seed.
SPLIT_FRACTIONS = {"test": 0.27, "validation": 0.12}
SPLIT_SEED = 20231013


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
    train_only_portraits: tuple[str, ...] = ()
    per_split: int | None = None
    splits: tuple[str, ...] = ()
    paired_only: bool = False
    morph_fraction: float = 0.4
    width_px: int = 320
    height_px: int = 240
    distractors: bool = True
    micro_fraction: float = 0.35
    contact_sheet: bool = True
    contact_subjects: int = 12
    workers: int = 1
    codec: str = "auto"
    keyframe_s: float = 2.0
    crf: int = 20
    frame_truth: bool = True
    quiet: bool = False

    def __post_init__(self) -> None:
        if self.fps not in SUPPORTED_FPS:
            raise ValueError(f"fps={self.fps}: must be one of {SUPPORTED_FPS} "
                             "(30 like CAS(ME)^2, 200 like SAMM)")
        if self.subjects is not None and not 1 <= self.subjects <= 999:
            raise ValueError(f"subjects={self.subjects}: must be in [1, 999]")
        if self.per_split is not None and not 1 <= self.per_split <= 999:
            raise ValueError(f"per_split={self.per_split}: must be in [1, 999]")
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
        if not 0.0 <= self.morph_fraction <= 1.0:
            raise ValueError(f"morph_fraction={self.morph_fraction}: must be in [0, 1]")
        bad = sorted(set(self.splits) - set(SPLITS))
        if bad:
            raise ValueError(f"splits={bad}: must be among {SPLITS}")
        if not 0 <= self.seed < 2**63:
            raise ValueError(f"seed={self.seed}: must be in [0, 2**63)")
        if not 1 <= self.workers <= 64:
            raise ValueError(f"workers={self.workers}: must be in [1, 64]")
        if self.codec not in CODECS:
            raise ValueError(f"codec={self.codec!r}: must be one of {CODECS}")
        if not 0.1 <= self.keyframe_s <= 60.0:
            raise ValueError(f"keyframe_s={self.keyframe_s}: must be in [0.1, 60] seconds")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf={self.crf}: must be in [0, 51] (x264 quality)")

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
    codec: str = ""


def _log(cfg: SynthConfig, msg: str) -> None:
    if not cfg.quiet:
        print(f"synth: {msg}", file=sys.stderr, flush=True)


def seeded_rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


def _key(text: str) -> int:
    return zlib.crc32(text.encode())


@dataclass(frozen=True)
class Subject:
    """One subject of a dataset: a person (possibly a re-toned mirror of one) and its split."""

    subject: str
    person: Person = field(repr=False)
    base: Variant
    split: str = "train"
    train_only: bool = False

    @property
    def paired(self) -> bool:
        return self.person.paired


def assign_splits(subjects: list[str], paired: set[str], train_only: set[str]
                  ) -> dict[str, str]:
    """Subject-disjoint train/validation/test split, stratified by paired vs single people.

    ``train_only`` subjects (for example people a shipped model was trained on) always go to
    train. Within each stratum the sorted ids are shuffled with :data:`SPLIT_SEED` and the first
    ``round(fraction * n)`` go to test, the next to validation.
    """
    out = {s: "train" for s in train_only}
    for stratum in (sorted(s for s in subjects if s in paired and s not in train_only),
                    sorted(s for s in subjects if s not in paired and s not in train_only)):
        order = [stratum[i] for i in seeded_rng(SPLIT_SEED, len(stratum)).permutation(len(stratum))]
        n_test = int(round(SPLIT_FRACTIONS["test"] * len(order)))
        n_val = int(round(SPLIT_FRACTIONS["validation"] * len(order)))
        if len(order) < 3:
            n_test = n_val = 0
        for i, s in enumerate(order):
            out[s] = "test" if i < n_test else "validation" if i < n_test + n_val else "train"
    return out


def select_subjects(people: list[Person], train_only: set[str], cfg: SynthConfig
                    ) -> list[Subject]:
    """The dataset's subjects: every person (sorted by id), split, then capped as asked.

    With ``subjects`` above the number of people, people are reused mirrored and re-toned
    (ids ``<person>_m1``, ...); reused faces go to their person's split.
    """
    people = sorted(people, key=lambda p: p.subject)
    splits = assign_splits([p.subject for p in people], {p.subject for p in people if p.paired},
                           train_only)
    chosen = [Subject(p.subject, p, Variant(), splits[p.subject], p.subject in train_only)
              for p in people]
    if cfg.splits:
        chosen = [c for c in chosen if c.split in cfg.splits]
    if cfg.paired_only:
        chosen = [c for c in chosen if c.paired]
    if not chosen:
        raise PortraitError(f"no subject left after splits={list(cfg.splits)} and "
                            f"paired_only={cfg.paired_only}")
    if cfg.per_split is not None:  # paired and single people alternate within each split
        keep = []
        for split in SPLITS:
            strata = [[c for c in chosen if c.split == split and c.paired == paired]
                      for paired in (True, False)]
            mixed = [c for pair in zip_longest(*strata) for c in pair if c is not None]
            keep += mixed[:cfg.per_split]
        chosen = sorted(keep, key=lambda s: s.subject)
    if cfg.subjects is not None:
        if cfg.subjects <= len(chosen):
            chosen = chosen[:cfg.subjects]
        else:
            base = list(chosen)
            for i in range(len(base), cfg.subjects):
                src = base[i % len(base)]
                k = i // len(base)
                r = seeded_rng(cfg.seed, 7919, i)
                chosen.append(Subject(f"{src.subject}_m{k}", src.person, Variant(
                    flip=bool(k % 2), gain=float(r.uniform(0.8, 1.15)),
                    gamma=float(r.uniform(0.8, 1.25)),
                    colour_bgr=tuple(float(c) for c in r.uniform(0.9, 1.1, 3)),
                    face_frac=0.5), src.split, src.train_only))
    return chosen


def reuse_note(subjects: list[Subject]) -> str | None:
    """What ``--subjects`` did when it asked for more subjects than people were found: which
    subjects are mirrored and re-toned copies of which person (None when there are none)."""
    reused = [s for s in subjects if s.subject != s.person.subject]
    if not reused:
        return None
    people = sorted({s.person.subject for s in subjects})
    mirrored = sum(s.base.flip for s in reused)
    names = ", ".join(f"{s.subject} (from {s.person.subject})" for s in reused[:6])
    more = f" and {len(reused) - 6} more" if len(reused) > 6 else ""
    return (f"note: {len(subjects)} subjects from {len(people)} people: {len(reused)} are "
            f"re-toned copies of the same faces ({mirrored} of them mirrored), not new people: "
            f"{names}{more}. A model scored on them meets faces it may have seen; for more "
            "real people add photographs with --portraits")


def video_variant(base: Variant, rng: np.random.Generator) -> Variant:
    """Per-video session change: face size and place, slight roll and tone."""
    return Variant(
        flip=base.flip, gain=base.gain * float(rng.uniform(0.92, 1.06)),
        gamma=base.gamma * float(rng.uniform(0.93, 1.07)),
        colour_bgr=tuple(c * float(rng.uniform(0.97, 1.03)) for c in base.colour_bgr),
        face_frac=float(rng.uniform(0.46, 0.58)),
        offset_frac=(float(rng.uniform(-0.05, 0.05)), float(rng.uniform(-0.04, 0.03))),
        roll_deg=float(rng.uniform(-3.0, 3.0)))


# --- video encoding ---
CODECS = ("auto", "x264", "mp4v")


MP4V_FALLBACK = (
    "warning: ffmpeg not found, so --codec auto writes OpenCV mp4v: its keyframe every 12th "
    "frame pulses like a micro-expression, and the dataset (and every score on it) differs "
    "from the x264 one the shipped model's figures come from. Install ffmpeg (Debian: apt-get "
    "install ffmpeg) or pass --codec mp4v to choose it.")


def resolve_codec(codec: str) -> str:
    """``auto``: H.264 (x264 through the ffmpeg program) when ffmpeg is found, else mp4v."""
    if codec not in CODECS:
        raise ValueError(f"codec={codec!r}: must be one of {CODECS}")
    if codec == "auto":
        if shutil.which("ffmpeg"):
            return "x264"
        print(MP4V_FALLBACK, file=sys.stderr, flush=True)
        return "mp4v"
    if codec == "x264" and not shutil.which("ffmpeg"):
        raise ValueError("codec x264 needs the ffmpeg program on PATH (or use --codec mp4v)")
    return codec


def write_video(path: Path, renderer: Renderer, fps: float, codec: str = "mp4v",
                keyframe_s: float = 2.0, crf: int = 20) -> None:
    """Encode all frames of a renderer.

    ``x264``: H.264 through ffmpeg, one thread (same bytes every run), a keyframe every
    ``keyframe_s`` seconds, ``-tune grain`` so that P-frames keep the sensor noise instead of
    smoothing it away until the next keyframe refreshes it (a periodic full-frame flicker as large
    as a micro-expression, which mp4v at OpenCV's settings shows every 12th frame).
    ``mp4v``: MPEG-4 part 2 through OpenCV (no ffmpeg program needed).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = renderer.width_px, renderer.height_px
    if codec == "x264":
        gop = max(1, int(round(keyframe_s * fps)))
        cmd = ["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "bgr24",
               "-s", f"{w}x{h}", "-r", f"{fps:g}", "-i", "-", "-c:v", "libx264",
               "-threads", "1", "-preset", "ultrafast", "-tune", "grain", "-crf", str(crf),
               "-g", str(gop), "-keyint_min", str(gop), "-bf", "0", "-pix_fmt", "yuv420p",
               "-fflags", "+bitexact", "-map_metadata", "-1", str(path)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdin is not None
        try:
            for frame in renderer.frames():
                proc.stdin.write(frame.tobytes())
        finally:
            proc.stdin.close()
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            rc = proc.wait()
        if rc != 0:
            raise OSError(f"ffmpeg failed ({rc}) writing {path}: {err.strip()[-300:]}")
        return
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h))
    if not writer.isOpened():
        raise OSError(f"cannot open a video writer for {path} (OpenCV mp4v)")
    try:
        for frame in renderer.frames():
            writer.write(frame)
    finally:
        writer.release()


# --- one video, in a worker process ---
TRUTH_AUS = EXPRESSION_AUS


@dataclass(frozen=True)
class _Task:
    subject: Subject
    video_index: int
    cfg: SynthConfig
    codec: str
    contact: bool


_CROPPER = None


def _cropper():
    global _CROPPER
    if _CROPPER is None:
        from realtime.face import FaceCropConfig, FaceCropper

        _CROPPER = FaceCropper(FaceCropConfig())
    return _CROPPER


def _render_task(task: _Task) -> dict:
    """Plan, calibrate, render and encode one video; write its per-frame truth."""
    cfg, subj = task.cfg, task.subject
    out = Path(cfg.out_dir)
    vi = task.video_index
    video = f"{subj.subject}_v{vi + 1:02d}"
    rng = seeded_rng(cfg.seed, _key(subj.subject), vi)
    variant = video_variant(subj.base, rng)
    ident = place_identity(subj.person.neutral, subj.subject, cfg.width_px, cfg.height_px,
                           variant, smiling=subj.person.smiling)
    plan_cfg = PlanConfig(micro_fraction=cfg.micro_fraction, distractors=cfg.distractors,
                          morph_fraction=cfg.morph_fraction)
    num_frames = int(round(cfg.seconds * cfg.fps))
    plan = plan_video(rng, num_frames, cfg.fps, plan_cfg, paired=ident.paired)
    noise_seed = int(rng.integers(2**31))
    bank = FieldBank(ident.landmarks_px, ident.canvas.shape[:2])
    morph = (SmileMorph(ident.landmarks_px, ident.smile_landmarks_px, bank.roi)
             if ident.paired else None)
    scale = crop_scale(ident.rest_frame(), _cropper())
    plan = calibrate_plan(plan, bank, morph, scale, plan_cfg)
    renderer = Renderer(ident, plan, noise_seed=noise_seed, bank=bank, morph=morph)
    rel = Path(subj.subject) / f"{video}.mp4"
    write_video(out / rel, renderer, cfg.fps, task.codec, cfg.keyframe_s, cfg.crf)
    truth_rel = None
    if cfg.frame_truth:
        truth_rel = Path(subj.subject) / f"{video}.frames.csv"
        write_frame_truth(out / truth_rel, renderer)
    meta = {"subject": subj.subject, "video": video, "path": rel.as_posix(),
            "frames_csv": truth_rel.as_posix() if truth_rel else None,
            "split": subj.split, "paired": ident.paired, "variant": asdict(variant),
            "iod_px": renderer.bank.iod_px, "crop_px_per_frame_px": round(scale, 5),
            **plan.to_json()}
    return {"meta": meta, "num_frames": num_frames,
            "smile_corner_iod": morph.corner_displacement_iod() if morph else None,
            "contact": contact_row(renderer, subj.subject) if task.contact else None}


def write_frame_truth(path: Path, renderer: Renderer) -> None:
    """``frame,label,smile,AU1..AU26,blink``: what is active on every frame (see truth_at)."""
    cols = ["smile", *TRUTH_AUS, "blink"]
    rows = []
    for n in range(renderer.plan.num_frames):
        t = renderer.truth_at(n)
        rows.append([n, t["label"], *(_fmt(float(t.get(c, 0.0))) for c in cols)])
    write_csv(path, ["frame", "label", *cols], rows)


def _fmt(x: float) -> str:
    return "0" if x == 0.0 else f"{x:.4f}"


def _run_tasks(tasks: list[_Task], cfg: SynthConfig) -> list[dict]:
    from tqdm import tqdm

    bar = tqdm(total=len(tasks), desc="synth", unit="video", disable=cfg.quiet,
               file=sys.stderr, dynamic_ncols=True)
    try:
        if cfg.workers == 1:
            results = []
            for t in tasks:
                results.append(_render_task(t))
                bar.update()
            return results
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(cfg.workers, maxtasksperchild=40) as pool:
            results = []
            for r in pool.imap(_render_task, tasks, chunksize=1):
                results.append(r)
                bar.update()
            return results
    finally:
        bar.close()


def generate(cfg: SynthConfig) -> SynthSummary:
    """Generate a whole SynthME dataset into ``cfg.out_dir``."""
    t0 = time.monotonic()
    codec = resolve_codec(cfg.codec)
    portraits = list(cfg.portraits) or [str(p) for p in builtin_portraits()]
    people = find_people(portraits)
    train_only: set[str] = set()
    if cfg.train_only_portraits:
        extra = find_people(cfg.train_only_portraits)
        known = {p.subject for p in people}
        clash = sorted(known & {p.subject for p in extra})
        if clash:
            raise PortraitError(f"subject ids {clash} come from --portraits and "
                                "--train-only-portraits; rename the files")
        people += extra
        train_only = {p.subject for p in extra}
    subjects = select_subjects(people, train_only, cfg)
    _log(cfg, f"{len(people)} people ({sum(p.paired for p in people)} with a smiling photo); "
              f"{len(subjects)} subjects x {cfg.videos} videos x {cfg.seconds:g} s at "
              f"{cfg.fps} fps, codec {codec}, {cfg.workers} worker(s)")
    note = reuse_note(subjects)
    if note is not None:
        _log(cfg, note)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    contact = {s.subject for s in subjects[:cfg.contact_subjects]} if cfg.contact_sheet else set()
    tasks = [_Task(s, vi, cfg, codec, vi == 0 and s.subject in contact)
             for s in subjects for vi in range(cfg.videos)]
    results = _run_tasks(tasks, cfg)
    ann_rows, vid_rows, meta_videos, sheet_rows = [], [], [], []
    smile_iod: dict[str, float] = {}
    frames = 0
    for r in results:
        m = r["meta"]
        vid_rows.append([m["subject"], m["video"], m["path"], cfg.fps, r["num_frames"]])
        frames += r["num_frames"]
        for e in m["expressions"]:
            ann_rows.append([m["subject"], m["video"], e["onset"], e["apex"], e["offset"],
                             e["kind"]])
        meta_videos.append(m)
        if r["smile_corner_iod"] is not None:
            smile_iod.setdefault(m["subject"], round(r["smile_corner_iod"], 5))
        if r["contact"] is not None:
            sheet_rows.append(r["contact"])
    write_csv(out / "annotations.csv", ["subject", "video", "onset", "apex", "offset", "type"],
               ann_rows)
    write_csv(out / "videos.csv", ["subject", "video", "path", "fps", "num_frames"], vid_rows)
    write_csv(out / "split.csv", ["subject", "split", "paired"],
               [[s.subject, s.split, int(s.paired)] for s in subjects])
    counts: dict[str, int] = {}
    for v in meta_videos:
        for d in v["distractors"]:
            counts[d["kind"]] = counts.get(d["kind"], 0) + 1
    summary = SynthSummary(out, len(subjects), len(vid_rows), frames,
                           sum(r[5] == MICRO for r in ann_rows),
                           sum(r[5] == MACRO for r in ann_rows), counts,
                           round(time.monotonic() - t0, 1), codec)
    meta = {
        "generator": GENERATOR_VERSION,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()
                   if k not in ("out_dir", "quiet", "workers")},
        "seed": cfg.seed,
        "codec": {"name": codec, "keyframe_s": cfg.keyframe_s, "crf": cfg.crf},
        "ground_truth": ("onset/offset = first/last frame whose expression displacement is "
                         "nonzero (the temporal profile is > 0 exactly on [onset, offset]); "
                         "apex = middle of the peak plateau; frames 0-based inclusive; "
                         "distractors are not expressions. Per frame: <video>.frames.csv "
                         "(label, smile morph strength, AU and blink intensities)"),
        "amplitude_units": "1.0 = nominal macro-expression peak of that AU (see actions.py)",
        "peak_px_units": ("largest pixel displacement of the expression at its apex on the "
                          "128x128 face crop of realtime.face (see calibrate.py)"),
        "plan_config": asdict(PlanConfig(micro_fraction=cfg.micro_fraction,
                                         distractors=cfg.distractors,
                                         morph_fraction=cfg.morph_fraction)),
        "split_rule": (f"subject-disjoint; per stratum (paired / single photo) sorted ids "
                       f"shuffled with seed {SPLIT_SEED}: {SPLIT_FRACTIONS['test']:.0%} test, "
                       f"{SPLIT_FRACTIONS['validation']:.0%} validation, the rest train; "
                       "--train-only-portraits people always train"),
        "split": {sp: [s.subject for s in subjects if s.split == sp] for sp in SPLITS},
        "summary": {k: (str(v) if isinstance(v, Path) else v)
                    for k, v in asdict(summary).items() if k != "seconds"},
        "subjects": {s.subject: {
            "split": s.split, "paired": s.paired, "train_only": s.train_only,
            "files": list(s.person.files), "source": s.person.neutral.source,
            "face_index": s.person.neutral.face_index,
            "frame_index": s.person.neutral.frame_index, "base_variant": asdict(s.base),
            "smile_corner_displacement_iod": smile_iod.get(s.subject)} for s in subjects},
        "videos": meta_videos,
    }
    (out / "metadata.json").write_text(json.dumps(meta, indent=1, default=_jsonable))
    if sheet_rows:
        cv2.imwrite(str(out / "contact_sheet.png"), stack_rows(sheet_rows))
    _log(cfg, f"done: {summary.videos} videos, {summary.frames} frames, {summary.micro} micro, "
              f"{summary.macro} macro in {summary.seconds:.0f} s -> {out}")
    return summary


def _jsonable(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


# --- contact sheet ---
