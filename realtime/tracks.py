"""Several faces per frame: one crop track per face, with ids kept across frames.

:class:`FaceTracks` follows up to ``max_faces`` faces. Each face has its own
:class:`TrackCropper`: the single-face :class:`~realtime.face.FaceCropper`'s logic (template
tracking between detector runs, confirmation of weak new faces, the deadband stabiliser of the
crop box) without a detector of its own. The detector runs at most once per frame, when a track
asks for it (its detector period is due, its template lost the face, it is not yet confirmed)
or, with room for more faces, every ``detect_every_frames`` frames to find new ones. Its
detections are shared out:

1. each detection goes to the track whose last face box it overlaps most (IoU >= 0.3, one
   detection per track), the rule by which the single-face cropper recognises its face;
2. norfair's :class:`~norfair.Tracker` (``update()`` once per frame) keeps the ids: it is fed
   every tracked face's box of this frame (matched to its own track only) and the detections no
   track took. A leftover detection that looks like a face lost less than ``keep_frames`` ago
   (normalised correlation >= 0.5 of 32 px grey thumbnails, taken on the frames where the
   detector confirmed that face) and lies within 3 face sides of where it was last confirmed
   gets that face's id back. A new face that appears within 3 sides of a lost one but does not
   look like it yet (it comes out from behind the face in front, half hidden) waits up to
   10 frames without an id (``unconfirmed``, not classified) for its likeness to reach 0.5;
   any other face gets the next id (0, 1, 2, ... in the order faces are confirmed).
   Appearance, not predicted motion, decides a return: in a crossing the face behind is lost
   while the template of its last frames slides onto the face in front, which spoils a motion
   prediction (norfair runs without a motion filter here).

A face whose cropper loses it (no detection and no template match, see
:class:`~realtime.face.FaceCropper`) ends its track: its window breaks and its input reference
restarts, as for the single face; its id stays reserved for ``keep_frames``. Two tracks on the
same face (a template that slid onto the face in front during a crossing) are cut to one.

With one face in view the crops are those of :class:`~realtime.face.FaceCropper` frame for frame
(the same detector frames, the same boxes); the one difference is a face that jumps to a place
that does not overlap its last box, which the single-face cropper follows and this class
treats as a new face.

Torch-free.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from realtime.face import (
    STATUS_NO_FACE,
    STATUS_UNCONFIRMED,
    FaceCropConfig,
    FaceCropper,
    FaceResult,
    _Detection,
    _iou,
    _Stabilizer,
)
from realtime.image import crop_face, normalize_frame
from realtime.vocab import check_int

DEFAULT_MAX_FACES = 4
MAX_FACES_LIMIT = 32
DEFAULT_KEEP_S = 1.0  # a lost face's id is kept this long for its return
_CLAIM_IOU = 0.3  # as realtime.face._MATCH_IOU: a detection this close is the track's face
_DUPLICATE_IOU = 0.5  # two tracks overlapping this much follow one face
_RETURN_SIDES = 3.0  # a returning face lies within this many face sides of its last place
_RETURN_LIKENESS = 0.5  # ... and its thumbnail correlates at least this much with the face's
_THUMB_PX = 32
_PENDING_FRAMES = 10  # a face near a lost one waits this long to show whether it is that one
_THRESHOLD = 1.0  # norfair's distance threshold; a return's distance is 2 * (1 - likeness)
_FAR = 2.0 * _THRESHOLD  # "never match" for norfair (above its threshold)


def check_max_faces(value: Any, name: str = "max_faces") -> int:
    """``value`` as an int in [1, MAX_FACES_LIMIT]; ValueError naming ``name`` otherwise."""
    return check_int(name, value, 1, MAX_FACES_LIMIT)


class TrackCropper(FaceCropper):
    """The per-face part of :class:`~realtime.face.FaceCropper` (template, confirmation,
    stabiliser), fed detections by :class:`FaceTracks` instead of running a detector."""

    def __init__(self, config: FaceCropConfig, tracks: FaceTracks, key: int) -> None:
        # No super().__init__(): that builds a mediapipe detector, which a track never uses.
        self.config = config
        self._on_timing = None
        self._detector = None
        self._tracks = tracks
        self.key = key
        self._stab = _Stabilizer(config)
        self._closed = False
        self.reset()

    def close(self) -> None:
        self._closed = True

    @property
    def last_face(self) -> _Detection | None:
        """The face's raw box on the last frame it was found (None after a loss)."""
        return self._face

    def _detect(self, image: np.ndarray) -> list[_Detection]:
        return self._tracks.detections_for(self.key, image)


@dataclass
class _Track:
    key: int  # norfair's object id
    face_id: int | None
    cropper: TrackCropper
    active: bool = True
    seen: _Detection | None = None  # the face's box when the detector last confirmed it
    looks: np.ndarray | None = None  # its thumbnail then (zero mean, unit norm)
    pending: int = 0  # frames this new face has waited to be told apart from a lost one


def thumbnail(gray: np.ndarray) -> np.ndarray:
    """A face crop as a zero-mean, unit-norm 32 px thumbnail (appearance for returns)."""
    import cv2

    t = cv2.resize(gray, (_THUMB_PX, _THUMB_PX), interpolation=cv2.INTER_AREA).astype(np.float32)
    t -= t.mean()
    norm = float(np.linalg.norm(t))
    return t / norm if norm > 0 else t


@dataclass(frozen=True)
class TrackResult:
    """One face's part of a frame: its id, the crop result, and whether the track started
    (a new face or a returning one) or ended (the face was lost) on this frame."""

    face_id: int
    face: FaceResult
    started: bool = False
    ended: bool = False


def _points(d: _Detection) -> np.ndarray:
    h = d.side / 2.0
    return np.array([[d.cx - h, d.cy - h], [d.cx + h, d.cy + h]])


class FaceTracks:
    """Detect, associate and crop up to ``max_faces`` faces per frame (one call per frame).

    detector: a :class:`~realtime.face.FaceCropper` whose mediapipe detector is borrowed (its
        own tracking state is left alone).
    keep_frames: how long a lost face's id waits for its return (norfair's hit counter).
    """

    def __init__(self, detector: FaceCropper, max_faces: int = DEFAULT_MAX_FACES,
                 keep_frames: int = 30) -> None:
        if not isinstance(detector, FaceCropper):
            raise ValueError(f"detector must be a FaceCropper, got {type(detector).__name__}")
        self.detector = detector
        self.config = detector.config
        self.max_faces = check_max_faces(max_faces)
        self.keep_frames = check_int("keep_frames", keep_frames, 1, 100_000)
        self.detect_ms = 0.0  # time of this frame's detector run (0 when none)
        self.reset()

    def reset(self) -> None:
        """Forget every face; ids start again at 0."""
        self._tracker = self._new_tracker()
        self._tracks: dict[int, _Track] = {}
        self._next_id = 0
        self._frame_shape: tuple[int, ...] | None = None
        self._since_detect = 0
        self.num_detected = 0
        self._begin_frame()

    def _new_tracker(self) -> Any:
        from norfair import Tracker
        from norfair.filter import NoFilterFactory

        quiet = logging.getLogger()  # norfair warns on the root logger about scalar distances
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            return Tracker(distance_function=self._distance, distance_threshold=_THRESHOLD,
                           hit_counter_max=self.keep_frames, initialization_delay=0,
                           pointwise_hit_counter_max=self.keep_frames,
                           filter_factory=NoFilterFactory())
        finally:
            quiet.setLevel(level)

    def _begin_frame(self) -> None:
        self._dets: list[_Detection] | None = None
        self._claims: dict[int, _Detection] = {}

    @property
    def empty(self) -> bool:
        """No face followed and no lost one kept for its return: what the tracks do next is
        what fresh tracks do, but for the ids they give (the corpus runner's chunk joins)."""
        return not self._tracks and not self._tracker.tracked_objects

    @property
    def active_ids(self) -> list[int]:
        return sorted(t.face_id for t in self._tracks.values() if t.active)

    # -- the detector, shared out -------------------------------------------------------------
    def detections_for(self, key: int, image: np.ndarray) -> list[_Detection]:
        """What a track's cropper gets when it asks for a detector run: its own detection."""
        self._run_detector(image)
        claim = self._claims.get(key)
        return [] if claim is None else [claim]

    def _run_detector(self, image: np.ndarray) -> None:
        if self._dets is not None:
            return
        t0 = time.perf_counter()
        self._dets = self.detector._detect(image)  # noqa: SLF001 - the cropper's own detector
        self.detect_ms += (time.perf_counter() - t0) * 1e3
        self.num_detected = len(self._dets)
        self._since_detect = 0
        pairs = []
        for t in self._tracks.values():
            face = t.cropper.last_face
            if t.active and face is not None:
                for j, d in enumerate(self._dets):
                    iou = _iou((face.cx, face.cy, face.side), (d.cx, d.cy, d.side))
                    if iou >= _CLAIM_IOU:
                        pairs.append((iou, t.key, j))
        taken: set[int] = set()
        for _, key, j in sorted(pairs, reverse=True):
            if key not in self._claims and j not in taken:
                self._claims[key] = self._dets[j]
                taken.add(j)

    def _leftovers(self) -> list[_Detection]:
        """This frame's detections no track took, largest first, as many as there is room."""
        if self._dets is None:
            return []
        taken = {id(d) for d in self._claims.values()}
        free = sorted((d for d in self._dets if id(d) not in taken), key=lambda d: -d.area)
        room = self.max_faces - sum(t.active for t in self._tracks.values())
        return free[:max(room, 0)]

    # -- ids (norfair) ------------------------------------------------------------------------
    def _distance(self, detection: Any, obj: Any) -> float:
        kind, value = detection.data
        track = self._tracks.get(obj.id)
        if kind == "track":
            return 0.0 if value == obj.id else _FAR
        if track is None or track.active or track.seen is None or track.looks is None:
            return _FAR  # a face being followed is matched to its own box only
        seen = track.seen
        if not (1 / 1.5 < value.side / seen.side < 1.5) or math.hypot(
                value.cx - seen.cx, value.cy - seen.cy) > _RETURN_SIDES * seen.side:
            return _FAR
        likeness = float(np.sum(self._looks[id(value)] * track.looks))
        return _FAR if likeness < _RETURN_LIKENESS else 2.0 * (1.0 - likeness)

    def _thumb_of(self, image: np.ndarray, d: _Detection) -> np.ndarray:
        side = d.side * (1.0 + 2.0 * self.config.margin)
        x0, y0 = round(d.cx - side / 2), round(d.cy - side / 2)
        n = max(1, round(side))
        return thumbnail(crop_face(image, (x0, y0, x0 + n, y0 + n), _THUMB_PX))

    def _associate(self, image: np.ndarray) -> list[TrackResult]:
        """norfair's update for this frame; crops the new and returning faces it names."""
        from norfair import Detection

        followed = [Detection(_points(t.cropper.last_face), data=("track", t.key))
                    for t in self._tracks.values() if t.active and t.cropper.last_face is not None]
        leftovers = self._leftovers()
        self._looks = {id(d): self._thumb_of(image, d) for d in leftovers}
        fresh = [Detection(_points(d), data=("new", d)) for d in leftovers]
        self._tracker.update(followed + fresh)
        for obj in self._tracker.tracked_objects:
            track = self._tracks.get(obj.id)
            if track is not None and track.active:
                obj.hit_counter = self.keep_frames  # a lost face waits keep_frames, whatever
                # its age (norfair's counter would give a young face less)
        by_detection = {id(o.last_detection): o for o in self._tracker.tracked_objects}
        started = []
        for det in fresh:
            obj = by_detection.get(id(det))
            if obj is None or obj.id is None:
                continue
            track = self._tracks.get(obj.id)
            if track is None:
                track = self._tracks[obj.id] = _Track(obj.id, None, TrackCropper(
                    self.config, self, obj.id))
            track.cropper.reset()
            track.active = True
            self._claims[obj.id] = det.data[1]
            started.append(self._result(track, track.cropper.process(image), started=True))
        alive = {o.id for o in self._tracker.tracked_objects}
        for key in [k for k, t in self._tracks.items() if not t.active and k not in alive]:
            del self._tracks[key]  # gone longer than keep_frames: its id is retired
        return started

    def _clear(self, track: _Track) -> bool:
        """Whether the face's box overlaps no other followed face's (a clean view of it)."""
        face = track.cropper.last_face
        if face is None:
            return False
        return all(_iou((face.cx, face.cy, face.side), (o.cx, o.cy, o.side)) == 0.0
                   for t in self._tracks.values() if t is not track and t.active
                   for o in (t.cropper.last_face,) if o is not None)

    def _lost_near(self, face: _Detection) -> list[_Track]:
        """Lost faces (id kept) last confirmed within 3 sides of ``face``, of a like size."""
        out = []
        for t in self._tracks.values():
            seen = t.seen
            if t.active or t.face_id is None or seen is None or t.looks is None:
                continue
            if 1 / 1.5 < face.side / seen.side < 1.5 and math.hypot(
                    face.cx - seen.cx, face.cy - seen.cy) <= _RETURN_SIDES * seen.side:
                out.append(t)
        return out

    def _name(self, track: _Track, face: FaceResult) -> FaceResult:
        """Give a newly confirmed face its id: a lost face's that it looks like, else the next
        one; near a lost face it does not look like (yet), it waits without a crop."""
        near = self._lost_near(track.cropper.last_face) if track.cropper.last_face else []
        if near and face.crop is not None:
            looks = thumbnail(face.crop)
            best = max(near, key=lambda t: float(np.sum(looks * t.looks)))
            if float(np.sum(looks * best.looks)) >= _RETURN_LIKENESS:
                track.face_id = best.face_id
                del self._tracks[best.key]  # the returning face takes over the lost one's id
                return face
            if track.pending < _PENDING_FRAMES:
                track.pending += 1
                return replace(face, crop=None, status=STATUS_UNCONFIRMED)
        track.face_id = self._next_id  # ids go to confirmed faces only, in order
        self._next_id += 1
        return face

    def _result(self, track: _Track, face: FaceResult, *, started: bool = False,
                ended: bool = False) -> TrackResult:
        if face.crop is not None and track.face_id is None:
            face = self._name(track, face)
            started = started or face.crop is not None
        if face.crop is not None and track.key in self._claims and self._clear(track):
            track.seen = track.cropper.last_face  # confirmed by the detector, nothing in front
            track.looks = thumbnail(face.crop)
        n = self.num_detected
        face = replace(face, num_faces=n, multiple_faces=n > 1)
        return TrackResult(track.face_id, face, started=started, ended=ended)

    # -- per frame ----------------------------------------------------------------------------
    def process(self, frame: np.ndarray) -> list[TrackResult]:
        """Every followed face in ``frame`` (BGR uint8; gray and BGRA accepted), by id.

        Faces lost on this frame are included once, ``ended`` and without a crop. Raises
        ValueError for an unusable frame (the tracks are left as they were).
        """
        image = normalize_frame(frame)
        self.detect_ms = 0.0
        results: dict[int, TrackResult] = {}
        if self._frame_shape is not None and image.shape != self._frame_shape:
            results = self._end_all()
        self._frame_shape = image.shape
        self._begin_frame()
        self._since_detect += 1
        for t in sorted((t for t in self._tracks.values() if t.active), key=_order):
            face = t.cropper.process(image)
            t.active = face.status != STATUS_NO_FACE
            results[t.key] = self._result(t, face, ended=not t.active)
        active = sum(t.active for t in self._tracks.values())
        due = active == 0 or self._since_detect >= self.config.detect_every_frames
        if self._dets is None and active < self.max_faces and due:
            self._run_detector(image)
        self._drop_duplicates(results)
        started = self._associate(image)
        return sorted([*results.values(), *started], key=_result_order)

    def _end_all(self) -> dict[int, TrackResult]:
        """A change of frame size: every face is lost (ids are not reused)."""
        ended = {}
        for t in self._tracks.values():
            if t.active:
                ended[-1 - t.key] = TrackResult(t.face_id, _no_face(), ended=True)
        self._tracker = self._new_tracker()
        self._tracks = {}
        return ended

    def _drop_duplicates(self, results: dict[int, TrackResult]) -> None:
        """Two tracks on one face: keep the one the detector confirmed now, else the older."""
        live = sorted((t for t in self._tracks.values()
                       if t.active and t.cropper.last_face is not None), key=_order)
        for i, a in enumerate(live):
            for b in live[i + 1:]:
                if not (a.active and b.active):
                    continue
                fa, fb = a.cropper.last_face, b.cropper.last_face
                assert fa is not None and fb is not None
                if _iou((fa.cx, fa.cy, fa.side), (fb.cx, fb.cy, fb.side)) < _DUPLICATE_IOU:
                    continue
                loser = a if (b.key in self._claims and a.key not in self._claims) else b
                loser.cropper.reset()
                loser.active = False
                results[loser.key] = TrackResult(loser.face_id, _no_face(), ended=True)

    def close(self) -> None:
        """Nothing of its own to release (the detector belongs to its cropper)."""
        self._tracks = {}


def _no_face() -> FaceResult:
    return FaceResult(crop=None, box=None, score=0.0, num_faces=0, status=STATUS_NO_FACE,
                      tracked=False, multiple_faces=False)


def _order(track: _Track) -> tuple[bool, int, int]:
    return (track.face_id is None, track.face_id or 0, track.key)


def _result_order(result: TrackResult) -> tuple[bool, int]:
    return (result.face_id is None, result.face_id or 0)
