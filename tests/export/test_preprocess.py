"""Face-crop cache: contents, resume, invalidation, atomic writes and errors."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import matplotlib.cbook as cbook
import numpy as np
import pytest

import export.preprocess as pp
from export.__main__ import main as export_main
from export.datasets import iter_frames, load_generic
from export.preprocess import (
    PreprocessError,
    cache_path,
    load_cached,
    preprocess_dataset,
)
from realtime.face import FACE_STATUSES, FaceCropConfig, FaceCropper

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"

N_VIDEO = 10  # frames of the face video
ANNOTATIONS = ("subject,video,onset,apex,offset,type\n"
               "alice,talk,2,3,4,micro\n"
               "alice,talk,1,5,8,macro\n")


def portrait() -> np.ndarray:
    image = cv2.imread(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    assert image is not None
    return cv2.resize(image, (256, 300), interpolation=cv2.INTER_AREA)


def shifted(image: np.ndarray, dx: float) -> np.ndarray:
    m = np.float32([[1, 0, dx], [0, 1, 0]])
    return cv2.warpAffine(image, m, (image.shape[1], image.shape[0]),
                          borderMode=cv2.BORDER_REPLICATE)


def make_dataset(root: Path) -> Path:
    """alice/talk.mp4: a face moving slightly; bob/still/: face, blank, face frame images."""
    face = portrait()
    (root / "alice").mkdir(parents=True)
    writer = cv2.VideoWriter(str(root / "alice" / "talk.mp4"), cv2.VideoWriter_fourcc(*"mp4v"),
                             30.0, (face.shape[1], face.shape[0]))
    assert writer.isOpened()
    for i in range(N_VIDEO):
        writer.write(shifted(face, 1.5 * i))
    writer.release()
    (root / "bob" / "still").mkdir(parents=True)
    blank = np.full_like(face, 128)
    for i, frame in enumerate([face, blank, face]):
        assert cv2.imwrite(str(root / "bob" / "still" / f"{i:03d}.png"), frame)
    (root / "annotations.csv").write_text(ANNOTATIONS)
    return root


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return make_dataset(tmp_path / "data")


class NoCropper:
    """Stands in for FaceCropper where nothing may be cropped again."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("a cached video was cropped again")


def test_cache_contents_match_the_live_cropper(data: Path, tmp_path: Path) -> None:
    ds = load_generic(data)
    cached = preprocess_dataset(ds, tmp_path / "cache", FaceCropConfig(crop_size=128),
                                progress=False)
    assert [(c.subject, c.video) for c in cached] == [("alice", "talk"), ("bob", "still")]
    talk, still = cached
    assert talk.path == tmp_path / "cache" / ds.key() / "alice" / "talk.npz"
    assert talk.path.is_file()
    assert talk.crops.shape == (N_VIDEO, 128, 128) and talk.crops.dtype == np.uint8
    assert talk.valid.dtype == bool and talk.valid.all()
    assert talk.boxes.shape == (N_VIDEO, 4) and talk.fps == pytest.approx(30.0)
    assert talk.num_frames == N_VIDEO
    # labels from the annotations: macro 1..8 with micro 2..4 winning
    assert talk.labels.tolist() == [0, 2, 1, 1, 1, 2, 2, 2, 2, 0]
    assert talk.labels_for(("none", "micro")).tolist() == [0, 0, 1, 1, 1, 0, 0, 0, 0, 0]
    # exactly what the live half's cropper gives on the same decoded frames
    with FaceCropper(FaceCropConfig(crop_size=128)) as fc:
        live = [fc.process(f) for f in iter_frames(ds.videos[0])]
    np.testing.assert_array_equal(talk.crops, np.stack([r.crop for r in live]))
    assert [tuple(b) for b in talk.boxes] == [r.box for r in live]
    # the blank middle frame has no face: zeros, invalid, no box
    assert still.valid.tolist() == [True, False, True]
    assert not still.crops[1].any() and still.crops[0].any()
    assert still.boxes[1].tolist() == [-1, -1, -1, -1]
    assert FACE_STATUSES[still.status[1]] == "no_face"
    assert still.fps == 30.0 and still.labels.tolist() == [0, 0, 0]

    loaded = load_cached(talk.path)
    assert (loaded.subject, loaded.video, loaded.num_frames) == ("alice", "talk", N_VIDEO)
    np.testing.assert_array_equal(loaded.crops, talk.crops)
    assert loaded.labels.tolist() == talk.labels.tolist()
    assert loaded.annotations == ds.videos[0].annotations


def test_second_run_resumes_without_cropping(data: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    ds = load_generic(data)
    first = preprocess_dataset(ds, tmp_path / "cache", progress=False)
    stamps = [c.path.stat().st_mtime_ns for c in first]
    monkeypatch.setattr(pp, "FaceCropper", NoCropper)
    again = preprocess_dataset(ds, tmp_path / "cache", progress=False)
    assert [c.path.stat().st_mtime_ns for c in again] == stamps
    np.testing.assert_array_equal(again[0].crops, first[0].crops)


def test_changed_config_or_source_is_cropped_again(data: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    ds = load_generic(data)
    cache = tmp_path / "cache"
    preprocess_dataset(ds, cache, FaceCropConfig(crop_size=128), progress=False)
    calls = []

    class CountingCropper(FaceCropper):
        def __init__(self, config: FaceCropConfig) -> None:
            calls.append(config.crop_size)
            super().__init__(config)

    monkeypatch.setattr(pp, "FaceCropper", CountingCropper)
    small = preprocess_dataset(ds, cache, FaceCropConfig(crop_size=64), progress=False)
    assert calls == [64, 64]
    assert small[0].crops.shape == (N_VIDEO, 64, 64) and small[0].crop_size == 64
    # one frame image rewritten: only that video is cropped again
    frame = ds.videos[1].frame_paths[1]
    os.utime(frame, ns=(frame.stat().st_atime_ns, frame.stat().st_mtime_ns + 10**9))
    preprocess_dataset(ds, cache, FaceCropConfig(crop_size=64), progress=False)
    assert calls == [64, 64, 64]


def test_annotation_change_rewrites_labels_without_cropping(
        data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    preprocess_dataset(load_generic(data), tmp_path / "cache", progress=False)
    (data / "annotations.csv").write_text("subject,video,onset,apex,offset,type\n"
                                          "bob,still,0,0,1,micro\n")
    ds = load_generic(data)
    monkeypatch.setattr(pp, "FaceCropper", NoCropper)
    talk, still = preprocess_dataset(ds, tmp_path / "cache", progress=False)
    assert talk.labels.tolist() == [0] * N_VIDEO
    assert load_cached(still.path).labels.tolist() == [1, 1, 0]


def test_killed_run_leaves_no_complete_looking_file(data: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    ds = load_generic(data)
    cache = tmp_path / "cache"

    def boom(self: FaceCropper, frame: np.ndarray) -> None:
        raise KeyboardInterrupt

    # an earlier run killed mid-write left a temporary file behind
    target = cache_path(cache, ds, ds.videos[0])
    target.parent.mkdir(parents=True)
    stale = target.parent / f".{target.name}.99999.tmp"
    stale.write_bytes(b"PK\x03\x04 half a zip")
    with monkeypatch.context() as m:
        m.setattr(FaceCropper, "process", boom)
        with pytest.raises(KeyboardInterrupt):
            preprocess_dataset(ds, cache, progress=False)
    assert not target.exists()
    # a truncated cache file is not taken for a finished one
    target.write_bytes(b"PK\x03\x04 truncated")
    done = preprocess_dataset(ds, cache, progress=False)
    assert done[0].crops.shape == (N_VIDEO, 128, 128)
    assert not stale.exists()
    assert sorted(p.name for p in target.parent.iterdir()) == ["talk.npz"]


def test_unreadable_frame_names_video_file_and_frame(data: Path, tmp_path: Path) -> None:
    (data / "bob" / "still" / "001.png").write_bytes(b"not a png")
    ds = load_generic(data)
    with pytest.raises(PreprocessError, match=r"bob/still.*001\.png \(frame index 1\)"):
        preprocess_dataset(ds, tmp_path / "cache", progress=False)
    # the video before it was finished and kept
    assert cache_path(tmp_path / "cache", ds, ds.videos[0]).is_file()
    assert not cache_path(tmp_path / "cache", ds, ds.videos[1]).exists()


def test_load_cached_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing.npz"):
        load_cached(tmp_path / "nothing.npz")
    bad = tmp_path / "bad.npz"
    np.savez(bad, crops=np.zeros((1, 8, 8), np.uint8))
    with pytest.raises(PreprocessError, match=r"bad\.npz.*missing"):
        load_cached(bad)


def test_cli(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["preprocess", "--data", str(data), "--cache", str(tmp_path / "cache"),
            "--crop-size", "64", "--no-progress"]
    assert export_main(argv) == 0
    out = capsys.readouterr().out
    assert "2 videos" in out and "13 frames" in out
    ds = load_generic(data)
    assert load_cached(cache_path(tmp_path / "cache", ds, ds.videos[0])).crop_size == 64
    assert export_main(["preprocess", "--data", str(tmp_path / "none"), "--cache",
                        str(tmp_path / "cache")]) == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.skipif(not (REAL / "single_face.mp4").is_file(), reason="no /work/shared real clips")
def test_real_clip_has_a_face_on_every_frame(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    (root / "annotations.csv").write_text("subject,video,onset,apex,offset,type\n")
    (root / "videos.csv").write_text("subject,video,path,fps\n"
                                     f"p1,single_face,{REAL / 'single_face.mp4'},\n")
    (c,) = preprocess_dataset(load_generic(root), tmp_path / "cache", progress=False)
    assert c.num_frames == 72 and c.valid.all() and c.fps == pytest.approx(30.0)
    assert (c.crops.reshape(72, -1).std(axis=1) > 10).all()  # real texture, not blank
