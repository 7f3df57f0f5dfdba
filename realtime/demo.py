"""The built-in demo clip: a short synthetic face video with known expressions.

``python -m realtime spot`` without ``--source`` runs on it and scores the events against its
ground truth, so a fresh install shows the whole pipeline and its MEGC score in one command.
The clip and its ground truth ship in ``realtime/assets/`` (made by the synthetic-data
generator in ``export/synth``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
DEMO_VIDEO = ASSETS_DIR / "demo.mp4"
DEMO_GROUND_TRUTH = ASSETS_DIR / "demo_gt.csv"


class DemoMissingError(FileNotFoundError):
    """The demo clip or its ground truth is not where the package keeps it."""


@dataclass(frozen=True)
class DemoClip:
    video: Path  # the clip
    ground_truth: Path  # its intervals, CSV of subject,video,onset,offset,type


def demo_clip(assets_dir: str | Path | None = None) -> DemoClip:
    """Locate the demo clip and its ground truth (in ``assets_dir``, default :data:`ASSETS_DIR`);
    raise DemoMissingError naming what is absent."""
    folder = Path(assets_dir) if assets_dir is not None else ASSETS_DIR
    clip = DemoClip(video=folder / DEMO_VIDEO.name, ground_truth=folder / DEMO_GROUND_TRUTH.name)
    missing = [p for p in (clip.video, clip.ground_truth) if not p.is_file()]
    if missing:
        raise DemoMissingError(
            f"built-in demo file(s) missing: {', '.join(str(p) for p in missing)}; "
            "pass --source (a video file, camera index, URL or image folder) instead")
    return clip
