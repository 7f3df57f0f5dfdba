"""Test media written on the fly (nothing is downloaded): mp4 clips from lists of frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def write_video(path: Path, images: list[np.ndarray], fps: float = 30.0) -> Path:
    """Write BGR ``images`` (all one size) as an mp4v clip at ``fps``; returns ``path``."""
    h, w = images[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert writer.isOpened(), f"OpenCV cannot write {path}"
    for image in images:
        writer.write(image)
    writer.release()
    return path
