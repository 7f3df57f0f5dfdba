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


def list_portrait_files(paths: Sequence[str | Path]) -> list[tuple[Path, bool]]:
    """Portrait files from files and folders: (path, named explicitly). Folders sorted by name."""
    out: list[tuple[Path, bool]] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            kids = sorted(k for k in p.iterdir()
                          if k.is_file() and k.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES)
            if not kids:
                raise PortraitError(f"portrait folder {p}: holds no image or video file "
                                    f"({', '.join(IMAGE_SUFFIXES + VIDEO_SUFFIXES)})")
            out.extend((k, False) for k in kids)
        elif p.is_file():
            if p.suffix.lower() not in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
                raise PortraitError(f"portrait {p}: unsupported file type {p.suffix!r}")
            out.append((p, True))
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
    and a face that looks like the same person as an earlier one (see :func:`same_person`) is
    dropped, so that several clips of one person do not count as several subjects.
    """
    import sys

    files = list_portrait_files(paths)
    files.sort(key=lambda fe: (fe[0].suffix.lower() in VIDEO_SUFFIXES,))
    faces: list[FaceFound] = []
    for path, explicit in files:
        is_video = path.suffix.lower() in VIDEO_SUFFIXES
        got = face_in_video(path) if is_video else faces_in_image(path)
        if not got:
            if explicit:
                raise PortraitError(f"portrait {path}: no face found (mediapipe face detection "
                                    "and face mesh); give a photograph with a visible face")
            print(f"synth: skipping {path}: no face found", file=sys.stderr)
            continue
        for f in got:
            dup = next((g for g in faces if same_person(f, g)), None)
            if dup is not None:
                print(f"synth: skipping face {f.face_index} of {path}: looks like the same "
                      f"person as face {dup.face_index} of {dup.source}", file=sys.stderr)
                continue
            faces.append(f)
    if not faces:
        raise PortraitError("no face found in any portrait: " + ", ".join(map(str, paths)))
    return faces


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


@dataclass(frozen=True)
class Variant:
    """How an identity is varied: mirror, tone, size and placement of the face."""

    flip: bool = False
    gain: float = 1.0
    gamma: float = 1.0
    colour_bgr: tuple[float, float, float] = (1.0, 1.0, 1.0)
    face_frac: float = 0.5  # forehead-to-chin height / frame height
    offset_frac: tuple[float, float] = (0.0, 0.0)  # face centre shift, fraction of frame size
    roll_deg: float = 0.0

    def describe(self) -> str:
        parts = ["flip"] if self.flip else []
        if (self.gain, self.gamma, self.colour_bgr) != (1.0, 1.0, (1.0, 1.0, 1.0)):
            parts.append(f"tone(gain={self.gain:.2f},gamma={self.gamma:.2f})")
        parts.append(f"face={self.face_frac:.2f}")
        return "+".join(parts)


def place_identity(face: FaceFound, name: str, width_px: int, height_px: int,
                   variant: Variant = Variant(), margin_px: int | None = None) -> Identity:
    """Put a found face upright on a world canvas of the frame size plus a margin.

    The face is scaled so that forehead-to-chin spans ``variant.face_frac`` of the frame height,
    centred (plus ``offset_frac``), mirrored and toned as the variant says; the face mesh is then
    run again on the canvas so that landmarks match the pixels exactly.
    """
    if margin_px is None:
        margin_px = int(round(0.12 * max(width_px, height_px))) + 8
    lm = face.landmarks_px
    r = lm[list(RIGHT_EYE_CORNERS)].mean(0)
    left = lm[list(LEFT_EYE_CORNERS)].mean(0)
    roll = float(np.degrees(np.arctan2(left[1] - r[1], left[0] - r[0])))
    face_h = float(np.linalg.norm(lm[CHIN] - lm[FOREHEAD_TOP]))
    scale = variant.face_frac * height_px / face_h
    centre_src = 0.5 * (lm[CHIN] + lm[FOREHEAD_TOP])
    picture = face.picture
    pre = 1.0
    if scale < 0.8:  # shrink with area averaging first so the warp does not alias
        pre = scale * 1.25
        picture = cv2.resize(picture, None, fx=pre, fy=pre, interpolation=cv2.INTER_AREA)
        centre_src = centre_src * pre
    cw, ch = width_px + 2 * margin_px, height_px + 2 * margin_px
    target = np.array([cw / 2 + variant.offset_frac[0] * width_px,
                       ch / 2 + variant.offset_frac[1] * height_px])
    m = cv2.getRotationMatrix2D((float(centre_src[0]), float(centre_src[1])),
                                roll - variant.roll_deg, scale / pre)
    m[:, 2] += target - centre_src
    canvas = cv2.warpAffine(picture, m, (cw, ch), flags=cv2.INTER_CUBIC,
                            borderMode=cv2.BORDER_REFLECT_101)
    if variant.flip:
        canvas = np.ascontiguousarray(canvas[:, ::-1])
    canvas = _tone(canvas, variant)
    placed = face_mesh_landmarks(canvas)
    if placed is None:
        raise PortraitError(f"portrait {face.source} face {face.face_index}: the face mesh "
                            f"fails on the face resized to {width_px}x{height_px} "
                            f"(variant {variant.describe()}); try a larger frame size")
    return Identity(name, face.source, face.face_index, face.frame_index, variant.describe(),
                    canvas, placed, margin_px, width_px, height_px)


def _tone(bgr: np.ndarray, v: Variant) -> np.ndarray:
    if (v.gain, v.gamma, v.colour_bgr) == (1.0, 1.0, (1.0, 1.0, 1.0)):
        return bgr
    x = bgr.astype(np.float32) / 255.0
    x = np.power(x, v.gamma) * v.gain * np.asarray(v.colour_bgr, np.float32)
    return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)
