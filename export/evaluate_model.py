"""Old home of :func:`export.videos.load_videos`, kept only because ``export/baseline.py`` (not
part of the #11 redesign) still imports it from here; delete once it imports
``export.videos``."""

from export.videos import load_videos

__all__ = ["load_videos"]
