"""Base identities for SynthME: real face photographs found, cropped and landmarked once.

A *portrait source* is an image (every face in it becomes its own identity) or a video (the most
frontal, most neutral face among a few sampled frames becomes one identity). Each identity is
placed on a *world canvas*: the frame size plus a margin on every side, so that head motion
reveals real picture content instead of a border. Mediapipe's face mesh runs once on that canvas;
every expression field is built from those 468 landmarks.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm")

# Mesh landmark indices used to place the face (subject's right eye is on the image left).
RIGHT_EYE_CORNERS = (33, 133)
LEFT_EYE_CORNERS = (362, 263)
FOREHEAD_TOP = 10
CHIN = 152
NOSE_TIP = 1
UPPER_LIP_INNER = 13
LOWER_LIP_INNER = 14


class PortraitError(ValueError):
    """A portrait file or folder cannot give a usable face."""


@dataclass(frozen=True)
class FaceFound:
    """One face in one source picture: where it came from and its landmarks in that picture."""

    source: str
    face_index: int
    frame_index: int
    landmarks_px: np.ndarray = field(repr=False)  # (468, 2) x, y in the source picture
    picture: np.ndarray = field(repr=False)  # BGR uint8 source picture (or video frame)


@dataclass(frozen=True)
class Identity:
    """A face placed on a world canvas, ready to animate.

    ``canvas`` is BGR uint8 of size (height + 2*margin, width + 2*margin); frame pixel (x, y) at
    rest shows canvas pixel (x + margin, y + margin). ``landmarks_px`` are in canvas pixels.
    """

    name: str
    source: str
    face_index: int
    frame_index: int
    variant: str
    canvas: np.ndarray = field(repr=False)
    landmarks_px: np.ndarray = field(repr=False)
    margin_px: int
    width_px: int
    height_px: int
    smile_canvas: np.ndarray | None = field(default=None, repr=False)
    smile_landmarks_px: np.ndarray | None = field(default=None, repr=False)

    @property
    def paired(self) -> bool:
        """True when the smiling photo of this person is placed too (real smile morphs)."""
        return self.smile_canvas is not None

    @property
    def eye_centres_px(self) -> tuple[np.ndarray, np.ndarray]:
        """(subject's right eye centre, left eye centre) in canvas pixels."""
        lm = self.landmarks_px
        return lm[list(RIGHT_EYE_CORNERS)].mean(0), lm[list(LEFT_EYE_CORNERS)].mean(0)

    @property
    def face_centre_px(self) -> np.ndarray:
        """Centre between forehead top and chin, in canvas pixels."""
        return 0.5 * (self.landmarks_px[FOREHEAD_TOP] + self.landmarks_px[CHIN])

    def rest_frame(self) -> np.ndarray:
        """The frame at rest: the canvas without its margin."""
        m = self.margin_px
        return self.canvas[m:m + self.height_px, m:m + self.width_px].copy()


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence mediapipe's C++ start-up log lines (they go straight to file descriptor 2)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class _Mediapipe:
    """Lazily built mediapipe face detectors and mesh, shared within one process."""

    _detectors: list | None = None
    _mesh = None

    @classmethod
    def detectors(cls) -> list:
        if cls._detectors is None:
            import mediapipe as mp

            with _quiet_stderr():
                cls._detectors = [
                    mp.solutions.face_detection.FaceDetection(
                        model_selection=sel, min_detection_confidence=0.5)
                    for sel in (0, 1)
                ]
        return cls._detectors

    @classmethod
    def mesh(cls):
        if cls._mesh is None:
            import mediapipe as mp

            with _quiet_stderr():
                cls._mesh = mp.solutions.face_mesh.FaceMesh(
                    static_image_mode=True, max_num_faces=1, refine_landmarks=False,
                    min_detection_confidence=0.3)
        return cls._mesh


def detect_face_boxes(bgr: np.ndarray) -> list[tuple[float, np.ndarray]]:
    """Face boxes (score, [x0, y0, x1, y1] px) from mediapipe's short- and full-range detectors.

    Both detectors run because the short-range one misses small faces in group photos and the
    full-range one misses some large close-ups; overlapping boxes are merged.
    """
    h, w = bgr.shape[:2]
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    found: list[tuple[float, np.ndarray]] = []
    for det in _Mediapipe.detectors():
        res = det.process(rgb)
        for d in res.detections or []:
            b = d.location_data.relative_bounding_box
            box = np.array([b.xmin * w, b.ymin * h, (b.xmin + b.width) * w,
                            (b.ymin + b.height) * h])
            found.append((float(d.score[0]), box))
    found.sort(key=lambda sb: -sb[0])
    kept: list[tuple[float, np.ndarray]] = []
    for score, box in found:
        if all(_iou(box, k) < 0.3 for _, k in kept):
            kept.append((score, box))
    kept.sort(key=lambda sb: (sb[1][0], sb[1][1]))
    return kept


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def face_mesh_landmarks(bgr: np.ndarray) -> np.ndarray | None:
    """468 face-mesh landmarks (x, y px) of the most prominent face, or None without a face."""
    h, w = bgr.shape[:2]
    res = _Mediapipe.mesh().process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    if not res.multi_face_landmarks:
        return None
    pts = res.multi_face_landmarks[0].landmark
    return np.array([[p.x * w, p.y * h] for p in pts[:468]], dtype=np.float64)


def _mesh_in_box(bgr: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """Face mesh of the face in ``box``: run on a generous crop around it, map back."""
    h, w = bgr.shape[:2]
    bw, bh = box[2] - box[0], box[3] - box[1]
    size = 2.2 * max(bw, bh)
    cx, cy = 0.5 * (box[0] + box[2]), 0.5 * (box[1] + box[3])
    x0, y0 = int(round(cx - size / 2)), int(round(cy - size / 2))
    x1, y1 = int(round(cx + size / 2)), int(round(cy + size / 2))
    crop = cv2.copyMakeBorder(
        bgr[max(0, y0):min(h, y1), max(0, x0):min(w, x1)],
        max(0, -y0), max(0, y1 - h), max(0, -x0), max(0, x1 - w), cv2.BORDER_REPLICATE)
    scale = 1.0
    if crop.shape[0] < 256:  # small faces in group photos: upscale so the mesh has detail
        scale = 256.0 / crop.shape[0]
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    lm = face_mesh_landmarks(crop)
    if lm is None:
        return None
    lm = lm / scale + np.array([x0, y0])
    centre = lm.mean(0)
    if not (box[0] <= centre[0] <= box[2] and box[1] <= centre[1] <= box[3]):
        return None  # the mesh locked onto a neighbouring face
    return lm


def _frontal_neutral_cost(lm: np.ndarray) -> float:
    """Lower is better: yaw (nose off the eye midline) plus mouth opening, in eye distances."""
    r = lm[list(RIGHT_EYE_CORNERS)].mean(0)
    left = lm[list(LEFT_EYE_CORNERS)].mean(0)
    iod = float(np.linalg.norm(left - r))
    yaw = abs(float(lm[NOSE_TIP][0] - 0.5 * (r[0] + left[0]))) / iod
    roll = abs(float(np.arctan2(left[1] - r[1], left[0] - r[0])))
    mouth = float(np.linalg.norm(lm[LOWER_LIP_INNER] - lm[UPPER_LIP_INNER])) / iod
    return yaw + roll + 0.5 * mouth


def faces_in_image(path: Path) -> list[FaceFound]:
    """Every face in a photograph, left to right."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise PortraitError(f"portrait {path}: cannot be read as an image")
    out = []
    for _, box in detect_face_boxes(bgr):
        lm = _mesh_in_box(bgr, box)
        if lm is not None:
            out.append(FaceFound(str(path), len(out), 0, lm, bgr))
    return out


def face_in_video(path: Path, samples: int = 24) -> list[FaceFound]:
    """The most frontal, most neutral single face among ``samples`` evenly spaced frames."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise PortraitError(f"portrait video {path}: cannot be opened")
    try:
        frames: list[tuple[int, np.ndarray]] = []
        index = 0
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 0
        step = max(1, total // samples) if total > 0 else 5
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if index % step == 0:
                frames.append((index, frame))
            index += 1
    finally:
        cap.release()
    if not frames:
        raise PortraitError(f"portrait video {path}: no frame could be decoded")
    best: tuple[float, FaceFound] | None = None
    for index, frame in frames:
        boxes = detect_face_boxes(frame)
        if len(boxes) != 1:
            continue
        lm = _mesh_in_box(frame, boxes[0][1])
        if lm is None:
            continue
        cost = _frontal_neutral_cost(lm)
        if best is None or cost < best[0]:
            best = (cost, FaceFound(str(path), 0, index, lm, frame))
    return [] if best is None else [best[1]]


def list_portrait_files(paths: Sequence[str | Path]) -> list[tuple[Path, bool, Path | None]]:
    """Portrait files from files and folders: (path, named explicitly, folder it was found in).

    Folders are read recursively, files sorted by their path inside the folder.
    """
    out: list[tuple[Path, bool, Path | None]] = []
    suffixes = IMAGE_SUFFIXES + VIDEO_SUFFIXES
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            kids = sorted((k for k in p.rglob("*")
                           if k.is_file() and k.suffix.lower() in suffixes),
                          key=lambda k: k.relative_to(p).as_posix())
            if not kids:
                raise PortraitError(f"portrait folder {p}: holds no image or video file "
                                    f"({', '.join(suffixes)})")
            out.extend((k, False, p) for k in kids)
        elif p.is_file():
            if p.suffix.lower() not in suffixes:
                raise PortraitError(f"portrait {p}: unsupported file type {p.suffix!r}")
            out.append((p, True, None))
        else:
            raise PortraitError(f"portrait path {p}: no such file or folder")
    return out


def builtin_portraits() -> list[Path]:
    """Portrait photographs shipped by installed packages (matplotlib's Grace Hopper)."""
    import matplotlib.cbook

    return [Path(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))]


def find_faces(paths: Sequence[str | Path]) -> list[FaceFound]:
    """All usable faces in the given portrait files/folders, in a stable order.

    A file named explicitly must hold a face (else :class:`PortraitError`); files found inside a
    folder without a face are skipped with a note on stderr. Videos come after still pictures,
    and a face from a video that looks like the same person as an earlier one (see
    :func:`same_person`) is dropped, so that several clips of one person do not count as several
    subjects.
    """
    return [p.neutral for p in find_people(paths)]


SMILE_SUFFIX = "_smiling"
NEUTRAL_SUFFIX = "_neutral"


@dataclass(frozen=True)
class Person:
    """One identity: a stable subject id, its base face and, when paired, its smiling face.

    ``smiling`` is the smiling photo already aligned to the neutral photo (same picture size,
    a similarity transform fitted on landmarks that a smile does not move), or None.
    """

    subject: str
    neutral: FaceFound = field(repr=False)
    smiling: FaceFound | None = field(default=None, repr=False)
    files: tuple[str, ...] = ()

    @property
    def paired(self) -> bool:
        return self.smiling is not None


def _slug(text: str) -> str:
    out = "".join(c if c.isalnum() else "_" for c in text.lower())
    while "__" in out:
        out = out.replace("__", "_")
    return out.strip("_") or "face"


def person_key(path: Path, root: Path | None) -> tuple[str, str]:
    """(subject id, role) of a portrait file: role is neutral, smiling or single.

    The id is the file's path inside the folder it was found in (or its stem when named
    explicitly), without the suffix and the ``_neutral``/``_smiling`` ending, as a lower-case
    slug: ``london/001_neutral.jpg`` -> ``london_001``. A video's id ends in its file type
    (``clip.mp4`` -> ``clip_mp4``), so a photo and a clip of the same name stay apart.
    """
    rel = path.relative_to(root).with_suffix("") if root is not None else Path(path.stem)
    stem, role = rel.name, "single"
    if path.suffix.lower() in VIDEO_SUFFIXES:
        stem += "_" + path.suffix.lower().lstrip(".")
    for suffix, r in ((NEUTRAL_SUFFIX, "neutral"), (SMILE_SUFFIX, "smiling")):
        if stem.lower().endswith(suffix):
            stem, role = stem[: -len(suffix)], r
    return _slug("_".join([*rel.parent.parts, stem])), role


def find_people(paths: Sequence[str | Path]) -> list[Person]:
    """Every person in the given portrait files/folders, in a stable order (see find_faces).

    ``NAME_neutral.*`` and ``NAME_smiling.*`` in one folder are one person (paired); any other
    picture gives one person per face (``NAME_f2`` for the second face of a group photo) and a
    video one person. Subject ids are derived from the file names, so they do not depend on the
    other files given.
    """
    import sys

    files = list_portrait_files(paths)
    groups: dict[str, dict[str, tuple[Path, bool]]] = {}
    order: list[str] = []
    for path, explicit, root in files:
        key, role = person_key(path, root)
        g = groups.setdefault(key, {})
        if not g:
            order.append(key)
        if role in g or (role == "single" and g) or (role != "single" and "single" in g):
            other = next(iter(g.values()))[0]
            raise PortraitError(f"portraits {other} and {path} give the same subject id "
                                f"{key!r}; rename one of them")
        g[role] = (path, explicit)
    # stills first, then videos (a video's person may already be known from a still)
    order.sort(key=lambda k: any(p.suffix.lower() in VIDEO_SUFFIXES for p, _ in groups[k].values()))
    people: list[Person] = []
    for key in order:
        g = groups[key]
        base_path, explicit = g.get("neutral") or g.get("single") or g["smiling"]
        is_video = base_path.suffix.lower() in VIDEO_SUFFIXES
        got = face_in_video(base_path) if is_video else faces_in_image(base_path)
        if not got:
            if explicit:
                raise PortraitError(f"portrait {base_path}: no face found (mediapipe face "
                                    "detection and face mesh); give a photograph with a "
                                    "visible face")
            print(f"synth: skipping {base_path}: no face found", file=sys.stderr)
            continue
        if "neutral" in g or "smiling" in g:
            got = [max(got, key=_face_size)]
        smiling = None
        if "neutral" in g and "smiling" in g:
            smile_faces = faces_in_image(g["smiling"][0])
            if smile_faces:
                smiling = align_smile(got[0], max(smile_faces, key=_face_size))
            else:
                print(f"synth: {g['smiling'][0]}: no face found; {key} is not paired",
                      file=sys.stderr)
        for f in got:
            subject = key if len(got) == 1 else f"{key}_f{f.face_index + 1}"
            if is_video:
                dup = next((q for q in people if same_person(f, q.neutral)), None)
                if dup is not None:
                    print(f"synth: skipping {base_path}: looks like the same person as "
                          f"{dup.neutral.source} ({dup.subject})", file=sys.stderr)
                    continue
            people.append(Person(subject, f, smiling,
                                 tuple(str(p) for p, _ in sorted(g.values()))))
    if not people:
        raise PortraitError("no face found in any portrait: " + ", ".join(map(str, paths)))
    return people


def _face_size(face: FaceFound) -> float:
    lm = face.landmarks_px
    return float(np.ptp(lm[:, 0]) * np.ptp(lm[:, 1]))


# Mesh landmarks that a smile does not move much: nose bridge, forehead, eye corners, temples.
STABLE_LANDMARKS = (6, 168, 197, 195, 5, 4, 10, 151, 9, 8, 33, 133, 362, 263, 127, 356, 162,
                    389, 21, 251, 54, 284, 103, 332, 67, 297, 109, 338)


def align_smile(neutral: FaceFound, smiling: FaceFound) -> FaceFound:
    """The smiling photo warped onto the neutral one (similarity on :data:`STABLE_LANDMARKS`).

    The two photos of a pair are taken moments apart and the head may shift between them; after
    this, the landmarks differ by the expression only (plus the mesh's own jitter). Colours are
    matched per channel on the forehead and nose, which a smile does not change.
    """
    idx = list(STABLE_LANDMARKS)
    m, _ = cv2.estimateAffinePartial2D(smiling.landmarks_px[idx].astype(np.float32),
                                       neutral.landmarks_px[idx].astype(np.float32),
                                       method=cv2.LMEDS)
    if m is None:
        raise PortraitError(f"portrait {smiling.source}: cannot be aligned to {neutral.source}")
    h, w = neutral.picture.shape[:2]
    pic = cv2.warpAffine(smiling.picture, m, (w, h), flags=cv2.INTER_CUBIC,
                         borderMode=cv2.BORDER_REFLECT_101)
    lm = smiling.landmarks_px @ m[:, :2].T + m[:, 2]
    box = neutral.landmarks_px[[10, 151, 9, 8, 168, 6, 197, 195, 5]]
    x0, y0 = np.floor(box.min(0) - 4).astype(int)
    x1, y1 = np.ceil(box.max(0) + 4).astype(int)
    x0, y0 = max(x0, 0), max(y0, 0)
    a = neutral.picture[y0:y1, x0:x1].reshape(-1, 3).astype(np.float64).mean(0)
    b = pic[y0:y1, x0:x1].reshape(-1, 3).astype(np.float64).mean(0)
    gain = np.clip(a / np.maximum(b, 1.0), 0.85, 1.18)
    pic = np.clip(pic.astype(np.float32) * gain.astype(np.float32) + 0.5, 0, 255).astype(np.uint8)
    return FaceFound(smiling.source, smiling.face_index, 0, lm, pic)


def face_signature(face: FaceFound) -> np.ndarray:
    """Eye-aligned 32x32 grey patch of the inner face, zero mean and unit norm."""
    lm = face.landmarks_px
    r = lm[list(RIGHT_EYE_CORNERS)].mean(0)
    left = lm[list(LEFT_EYE_CORNERS)].mean(0)
    src = np.float32([r, left, 0.5 * (r + left) + np.array([-(left - r)[1], (left - r)[0]])])
    dst = np.float32([[9, 10], [23, 10], [16, 17]])
    m = cv2.getAffineTransform(src, dst)
    grey = cv2.cvtColor(face.picture, cv2.COLOR_BGR2GRAY)
    patch = cv2.warpAffine(grey, m, (32, 32), flags=cv2.INTER_AREA).astype(np.float64)
    patch = cv2.equalizeHist(patch.astype(np.uint8)).astype(np.float64)
    patch -= patch.mean()
    return patch.ravel() / (np.linalg.norm(patch) + 1e-9)


def same_person(a: FaceFound, b: FaceFound, threshold: float = 0.9) -> bool:
    """Heuristic duplicate test for faces from different files: aligned-patch correlation."""
    if a.source == b.source:
        return False
    return float(face_signature(a) @ face_signature(b)) > threshold
