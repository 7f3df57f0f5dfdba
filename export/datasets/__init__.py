"""Readers for long-video spotting datasets: CAS(ME)^2, SAMM Long Videos and a generic CSV layout.

Every reader returns a :class:`Dataset` of :class:`VideoItem` s whose annotations use **0-based,
inclusive frame indices into the video's decoded frame sequence** (the sorted frame list of a
frame folder, or the decode order of a video file). Converting the datasets' own 1-based
spreadsheet numbers happens here, once, so training and evaluation never see them.

One module per format (:mod:`.casme2`, :mod:`.samm`, :mod:`.generic`, each documenting its
layout and what it tolerates), the data model (:mod:`.items`), frame files (:mod:`.frames`) and
the spreadsheet helpers the formats share (:mod:`.sheets`). Pure numpy / opencv / openpyxl:
importable without torch.
"""

from __future__ import annotations

from .casme2 import CASME2_FPS, load_casme2
from .frames import DEFAULT_FPS, iter_frames, list_frame_files
from .generic import load_generic, write_generic_annotations, write_generic_videos
from .items import Annotation, Dataset, DatasetError, FrameReadError, VideoItem, frame_labels
from .load import FORMATS, detect_format, load_dataset
from .samm import SAMM_FPS, load_samm_lv
from .split import read_split, subjects_in

__all__ = [
    "CASME2_FPS", "DEFAULT_FPS", "FORMATS", "SAMM_FPS", "Annotation", "Dataset", "DatasetError",
    "FrameReadError", "VideoItem", "detect_format", "frame_labels", "iter_frames",
    "list_frame_files", "load_casme2", "load_dataset", "load_generic", "load_samm_lv", "read_split",
    "subjects_in",
    "write_generic_annotations", "write_generic_videos",
]
