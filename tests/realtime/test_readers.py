"""The built-in readers: which one a spec gets, URL masking, and reading without a source."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.readers import (
    CaptureReader,
    FolderReader,
    IterableReader,
    Reader,
    SourceError,
    make_reader,
    mask_url,
)


@pytest.mark.parametrize(("url", "shown"), [
    ("rtsp://user:secret@cam.local:554/live", "rtsp://user:***@cam.local:554/live"),
    ("http://cam.local/video", "http://cam.local/video"),
    ("rtsp://:secret@10.0.0.2/s", "rtsp://10.0.0.2/s"),
])
def test_mask_url_hides_the_password(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_make_reader_picks_the_reader_for_each_spec(tmp_path: Path) -> None:
    for spec in (0, "3", np.int64(2)):
        reader = make_reader(spec, None, 1.0)
        assert isinstance(reader, CaptureReader) and reader.is_live
        assert reader.description.startswith("camera ")
    url = make_reader("rtsp://u:pw@h/x", None, 1.0)
    assert isinstance(url, CaptureReader) and url.is_live and "pw" not in url.description
    image = tmp_path / "still.PNG"
    assert cv2.imwrite(str(image), np.zeros((8, 8, 3), np.uint8))
    assert isinstance(make_reader(tmp_path, None, 1.0), FolderReader)
    single = make_reader(str(image), 12.0, 1.0)
    assert isinstance(single, FolderReader) and single.fps == 12.0
    assert single.description == f"image {image}"
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")
    recorded = make_reader(video, None, 1.0)
    assert isinstance(recorded, CaptureReader) and not recorded.is_live
    assert isinstance(make_reader([np.zeros((4, 4, 3), np.uint8)], None, 1.0), IterableReader)
    assert all(isinstance(make_reader(s, None, 1.0), Reader) for s in (0, tmp_path, []))


@pytest.mark.parametrize(("spec", "error", "words"), [
    (True, ValueError, "spec"), (-1, ValueError, "camera index must be >= 0"),
    (np.zeros((4, 4, 3), np.uint8), ValueError, "N x H x W x C"),
    (b"0", ValueError, "iterable of frames"), ("/no/such/file.mp4", SourceError, "no such"),
])
def test_make_reader_refuses_bad_specs(spec: object, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        make_reader(spec, None, 1.0)


def test_folder_reader_reads_in_natural_order_on_its_own(tmp_path: Path) -> None:
    for i in (10, 2, 1):
        assert cv2.imwrite(str(tmp_path / f"f{i}.png"), np.full((4, 4, 3), i, np.uint8))
    reader = FolderReader(tmp_path, fps=None)
    assert reader.fps == 30.0 and reader.description.endswith("(3 images)")
    reader.open()
    stop = threading.Event()
    values = []
    while (item := reader.read(stop)) is not None:
        image, media_s = item
        assert media_s is None
        values.append(int(image[0, 0, 0]))
    assert values == [1, 2, 10]
    reader.close()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="has no images"):
        FolderReader(empty, fps=None).open()
