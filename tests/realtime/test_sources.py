"""Frame sources: files, folders, iterables, fake cameras and streams, queue policy, errors."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime import readers, sources
from realtime.sources import Frame, SourceError, open_source


def numbered(index: int, h: int = 48, w: int = 64) -> np.ndarray:
    """A BGR frame that carries its own number in pixel (0, 0)."""
    image = np.full((h, w, 3), 40, np.uint8)
    image[0, 0, 0], image[0, 0, 1] = index % 256, index // 256
    return image


def number_of(image: np.ndarray) -> int:
    return int(image[0, 0, 0]) + 256 * int(image[0, 0, 1])


def write_video(path: Path, n_frames: int, fps: float, size: tuple[int, int] = (160, 120)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    for i in range(n_frames):
        frame = np.zeros((size[1], size[0], 3), np.uint8)
        cv2.rectangle(frame, (4 * i, 20), (4 * i + 15, 60), (255, 255, 255), -1)
        writer.write(frame)
    writer.release()
    return path


def bar_position(image: np.ndarray) -> int:
    cols = np.flatnonzero(image[40, :, 1] > 128)
    return int(cols[0]) if cols.size else -1


@pytest.fixture
def video(tmp_path: Path) -> Path:
    return write_video(tmp_path / "clip.mp4", 20, 20.0)


# -- fakes for cameras and streams -------------------------------------------------------------

class FakeCapture:
    """Stands in for cv2.VideoCapture: frames every ``delay_s``, optional stall or failure."""

    opened = True
    delay_s = 0.0
    stall_after: int | None = None  # after this many frames, read blocks then fails
    stall_s = 1.0
    fail_after: int | None = None  # after this many frames, read fails at once
    fps = 30.0
    instances: list[FakeCapture] = []

    def __init__(self, target: object, *args: object) -> None:
        self.target, self.args = target, args
        self.count = 0
        self.released = False
        type(self).instances.append(self)

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return self.opened and not self.released

    def get(self, prop: int) -> float:
        return self.fps if prop == cv2.CAP_PROP_FPS else 0.0

    def set(self, prop: int, value: float) -> bool:
        return True

    def read(self) -> tuple[bool, np.ndarray | None]:
        assert not self.released, "read after release"
        if self.stall_after is not None and self.count >= self.stall_after:
            time.sleep(self.stall_s)
            return False, None
        if self.fail_after is not None and self.count >= self.fail_after:
            return False, None
        time.sleep(self.delay_s)
        self.count += 1
        return True, numbered(self.count - 1)

    def release(self) -> None:
        self.released = True


@pytest.fixture
def fake_capture(monkeypatch: pytest.MonkeyPatch) -> type[FakeCapture]:
    """A fresh FakeCapture subclass patched in for cv2.VideoCapture; set attributes to tune."""
    cls = type("Fake", (FakeCapture,), {"instances": []})
    monkeypatch.setattr(readers.cv2, "VideoCapture", cls)
    return cls


# -- recorded sources ---------------------------------------------------------------------------

def test_video_file_gives_every_frame_in_order(video: Path) -> None:
    with open_source(video) as src:
        assert not src.is_live and src.fps == pytest.approx(20.0)
        assert str(video) in src.description
        frames = list(src)
    assert all(isinstance(f, Frame) for f in frames)
    assert [f.index for f in frames] == list(range(20))
    assert [bar_position(f.image) for f in frames] == pytest.approx(
        [4 * i for i in range(20)], abs=2)
    assert all(f.image.shape == (120, 160, 3) and f.image.dtype == np.uint8 for f in frames)
    times = np.array([f.time_s for f in frames])
    np.testing.assert_allclose(times, np.arange(20) / 20.0, atol=1e-3)
    assert src.frames_read == 20 and src.dropped_frames == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        frames[0].index = 5  # type: ignore[misc]


def test_video_file_is_never_dropped_under_a_slow_consumer(video: Path) -> None:
    frames = []
    with open_source(video, queue_size=2) as src:
        for f in src:
            time.sleep(0.01)
            frames.append(f)
    assert [f.index for f in frames] == list(range(20)) and src.dropped_frames == 0


def test_realtime_paces_a_recording_at_its_fps(video: Path) -> None:
    t0 = time.monotonic()
    with open_source(video) as src:
        assert sum(1 for _ in src) == 20
    fast_s = time.monotonic() - t0
    t0 = time.monotonic()
    with open_source(video, realtime=True) as src:
        assert sum(1 for _ in src) == 20
    paced_s = time.monotonic() - t0
    assert 0.8 <= paced_s <= 3.0, paced_s  # last frame is due at 19 / 20 s
    assert fast_s < paced_s / 2


def test_image_folder_in_natural_order_with_gray_and_alpha_images(tmp_path: Path) -> None:
    for i in range(1, 13):
        image = numbered(i)
        if i == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        elif i == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
        assert cv2.imwrite(str(tmp_path / f"img{i}.png"), image)
    (tmp_path / "notes.txt").write_text("not an image")
    with open_source(tmp_path, fps=25) as src:
        assert src.fps == 25.0 and not src.is_live
        frames = list(src)
    assert [number_of(f.image) for f in frames if f.index not in (2,)] == [
        i for i in range(1, 13) if i != 3]
    assert all(f.image.ndim == 3 and f.image.shape[2] == 3 for f in frames)
    assert [f.time_s for f in frames] == [i / 25.0 for i in range(12)]


def test_iterable_of_mixed_frames_is_normalised(tmp_path: Path) -> None:
    gray = np.full((48, 64), 77, np.uint8)
    frames_in = [numbered(0), gray, gray[:, :, None], np.dstack([numbered(3), gray[..., None]]),
                 numbered(4, h=60, w=80)]  # the last one changes size mid-stream
    with open_source(frames_in, fps=10) as src:
        out = list(src)
    assert [f.index for f in out] == [0, 1, 2, 3, 4]
    assert all(f.image.shape[2] == 3 and f.image.dtype == np.uint8 for f in out)
    assert out[1].image.shape == (48, 64, 3) and (out[1].image == 77).all()
    assert number_of(out[3].image) == 3
    assert out[4].image.shape == (60, 80, 3)  # passed through at its new size
    assert [f.fps for f in out] == [10.0] * 5


def test_generator_and_array_stack_sources() -> None:
    def gen() -> Iterator[np.ndarray]:
        for i in range(6):
            yield numbered(i)

    with open_source(gen()) as src:
        assert [number_of(f.image) for f in src] == list(range(6))
    stack = np.stack([numbered(i) for i in range(4)])
    with open_source(stack) as src:
        assert [number_of(f.image) for f in src] == list(range(4))


def test_bad_frame_in_an_iterable_is_named_after_the_good_ones() -> None:
    frames_in = [numbered(0), numbered(1), np.zeros((8, 8, 3), np.float32)]
    got = []
    with pytest.raises(SourceError, match="frame 2 of iterable.*float32"):
        with open_source(frames_in) as src:
            for f in src:
                got.append(f.index)
    assert got == [0, 1]


def test_abandoning_the_iteration_closes_and_joins(video: Path) -> None:
    src = open_source(video, queue_size=1)
    for _ in src:
        break
    assert not src._thread.is_alive()
    with pytest.raises(SourceError, match="closed"):
        iter(src)

    src = open_source(video, queue_size=1)
    it = iter(src)
    next(it)
    with pytest.raises(SourceError, match="already being iterated"):
        iter(src)
    del it  # dropping the generator closes the source
    assert not src._thread.is_alive()


# -- live sources (fakes) -----------------------------------------------------------------------

def test_camera_index_reads_live_frames_and_releases(fake_capture: type[FakeCapture]) -> None:
    fake_capture.delay_s = 0.005
    with open_source("0") as src:
        assert src.is_live and src.description == "camera 0"
        frames = []
        for f in src:
            frames.append(f)
            if len(frames) == 30:
                break
    cap = fake_capture.instances[0]
    assert cap.target == 0 and cap.released
    assert all(number_of(f.image) == f.index for f in frames)
    times = [f.time_s for f in frames]
    assert times == sorted(times) and times[0] >= 0
    assert 5.0 < src.fps < 400.0  # estimated from capture times (fake: one frame per ~5 ms)


def test_live_source_drops_the_oldest_frames_when_the_consumer_is_slow(
        fake_capture: type[FakeCapture]) -> None:
    fake_capture.delay_s = 0.002
    with open_source(0, queue_size=3) as src:
        it = iter(src)
        first = next(it)
        time.sleep(0.3)  # the camera keeps going meanwhile
        read_before = src.frames_read
        second = next(it)
        rest = [next(it) for _ in range(5)]
    assert first.index == 0
    assert second.index >= read_before - 3  # newest frames kept, oldest dropped
    assert src.dropped_frames >= read_before - 4 > 0
    indices = [f.index for f in [first, second, *rest]]
    assert indices == sorted(indices) and len(set(indices)) == len(indices)
    assert all(number_of(f.image) == f.index for f in [first, second, *rest])


def test_stalled_camera_raises_instead_of_hanging(fake_capture: type[FakeCapture]) -> None:
    fake_capture.stall_after, fake_capture.stall_s = 3, 0.8
    t0 = time.monotonic()
    got = []
    with pytest.raises(SourceError, match="camera 0"):
        with open_source(0, timeout_s=0.3) as src:
            for f in src:
                got.append(f.index)
    assert got == [0, 1, 2]
    assert time.monotonic() - t0 < 3.0
    assert not src._thread.is_alive() and fake_capture.instances[0].released


def test_camera_that_stops_delivering_raises(fake_capture: type[FakeCapture]) -> None:
    fake_capture.fail_after = 2
    with pytest.raises(SourceError, match="camera 0 stopped delivering frames"):
        with open_source(0, timeout_s=0.2) as src:
            assert len([f for f in src]) == 2


def test_absent_camera_is_named(fake_capture: type[FakeCapture]) -> None:
    fake_capture.opened = False
    with pytest.raises(SourceError, match="cannot open camera 3"):
        open_source(3)
    assert fake_capture.instances[0].released


def test_camera_that_opens_but_gives_nothing(fake_capture: type[FakeCapture]) -> None:
    fake_capture.fail_after = 0
    with pytest.raises(SourceError, match="camera 1 delivered no frame"):
        open_source(1, timeout_s=0.2)


def test_stream_url_is_live_and_its_password_masked(fake_capture: type[FakeCapture]) -> None:
    url = "rtsp://user:hunter2@cam.example/stream"
    fake_capture.delay_s = 0.01  # a 100 fps camera: a loaded test machine still gets frame 0
    with open_source(url, timeout_s=2.0) as src:
        assert src.is_live and "hunter2" not in src.description and "user:***@" in src.description
        first = next(iter(src))
    cap = fake_capture.instances[0]
    assert cap.target == url and cap.args[0] == cv2.CAP_FFMPEG  # opened with ffmpeg timeouts
    assert number_of(first.image) == 0


# -- errors on real files and sockets -------------------------------------------------------------

def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such video file or image folder.*gone.mp4"):
        open_source(tmp_path / "gone.mp4")


def test_file_that_is_not_a_video_is_named(tmp_path: Path) -> None:
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"this is not a video" * 100)
    with pytest.raises(SourceError, match="broken.mp4"):
        open_source(path)


def test_zero_frame_video_is_named(tmp_path: Path) -> None:
    path = write_video(tmp_path / "empty.mp4", 0, 25.0)
    with pytest.raises(SourceError, match="empty.mp4"):
        open_source(path)


def test_empty_folder_and_unreadable_images_are_named(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="has no images"):
        open_source(tmp_path)
    (tmp_path / "a1.png").write_bytes(b"garbage")
    with pytest.raises(SourceError, match="cannot read image .*a1.png.*no image .* readable"):
        open_source(tmp_path)


def test_corrupt_image_mid_folder_is_an_invalid_frame_and_the_rest_follows(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Issue 12 item 6: one corrupt image no longer ends a folder run; it is delivered as an
    invalid frame (Frame.error names the file) at its place, the images after it follow, and
    one warning names it."""
    for i in range(6):
        assert cv2.imwrite(str(tmp_path / f"a{i}.png"), numbered(i))
    for i in (2, 4):
        (tmp_path / f"a{i}.png").write_bytes(b"garbage")
    (tmp_path / "a0.png").write_bytes(b"garbage too")  # the first one as well
    with caplog.at_level("WARNING", logger="realtime.sources"), open_source(tmp_path) as src:
        frames = list(src)
    assert [f.index for f in frames] == list(range(6))
    bad = [f.index for f in frames if f.error is not None]
    assert bad == [0, 2, 4]
    assert "a2.png" in frames[2].error and frames[2].image.size == 0
    assert all(f.image.shape == numbered(0).shape for f in frames if f.error is None)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "a0.png" in warnings[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_refused_url_fails_fast() -> None:
    t0 = time.monotonic()
    with pytest.raises(SourceError, match="cannot open stream rtsp://127.0.0.1"):
        open_source(f"rtsp://127.0.0.1:{free_port()}/live", timeout_s=2.0)
    assert time.monotonic() - t0 < 5.0


def test_silent_server_open_is_bounded() -> None:
    """A server that accepts and never answers must not hold open_source beyond the timeout."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]
    held: list[socket.socket] = []

    def accept() -> None:
        try:
            while True:
                held.append(server.accept()[0])
        except OSError:
            return

    threading.Thread(target=accept, daemon=True).start()
    t0 = time.monotonic()
    try:
        with pytest.raises(SourceError, match=f"stream http://127.0.0.1:{port}"):
            open_source(f"http://127.0.0.1:{port}/cam.mjpg", timeout_s=1.0)
        assert time.monotonic() - t0 < 4.0
    finally:
        server.close()
        for conn in held:
            conn.close()


@pytest.mark.parametrize(
    ("spec", "kwargs", "words"),
    [(0, {"queue_size": 0}, "queue_size"), (0, {"timeout_s": 0}, "timeout_s"),
     (0, {"fps": -1.0}, "fps"), (True, {}, "spec"), (None, {}, "spec"),
     (b"0", {}, "spec"), (np.zeros((4, 4, 3), np.uint8), {}, "N x H x W x C"),
     (-1, {}, "camera index"), (0, {"realtime": "yes"}, "realtime")],
)
def test_bad_arguments_raise_value_error(spec: object, kwargs: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        open_source(spec, **kwargs)  # type: ignore[arg-type]



# -- the public reader interface ----------------------------------------------------------------

class PacedCamera(sources.Reader):
    """A reader of the public interface: a live camera of ``n`` numbered frames at ``fps``."""

    is_live = True

    def __init__(self, n: int, fps: float) -> None:
        self.n, self.fps, self.description = n, fps, f"paced camera ({n} frames)"
        self.given = 0
        self.closed = 0

    def read(self, stop: threading.Event) -> tuple[np.ndarray, float | None] | None:
        if self.given >= self.n or stop.wait(1.0 / self.fps):
            return None
        self.given += 1
        return numbered(self.given - 1), None

    def close(self) -> None:
        self.closed += 1


def test_open_reader_runs_a_custom_reader_with_the_live_policy() -> None:
    reader = PacedCamera(30, fps=200.0)
    with sources.open_reader(reader, queue_size=2) as src:
        assert src.is_live and not src.realtime and src.description == "paced camera (30 frames)"
        got = []
        for f in src:
            time.sleep(0.02)  # a slow consumer: the live policy drops the oldest frames
            got.append(number_of(f.image))
    assert got == sorted(got) and src.dropped_frames > 0
    assert len(got) + src.dropped_frames == src.frames_read == 30
    assert reader.closed == 1


def test_open_reader_reports_open_errors_and_checks_its_arguments() -> None:
    class Broken(sources.Reader):
        description = "broken device"

        def open(self) -> None:
            raise SourceError("broken device has no frames")

    with pytest.raises(SourceError, match="broken device has no frames"):
        sources.open_reader(Broken())
    with pytest.raises(ValueError, match="reader must be a realtime.sources.Reader"):
        sources.open_reader(iter([numbered(0)]))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="queue_size must be an integer >= 1"):
        sources.open_reader(PacedCamera(1, 30.0), queue_size=0)


def test_realtime_flag_is_public(video: Path) -> None:
    with open_source(video, realtime=True) as src:
        assert src.realtime
    with open_source(video) as src:
        assert not src.realtime
    with sources.open_reader(PacedCamera(1, 30.0), realtime=True) as src:
        assert not src.realtime  # live sources are real time anyway, never paced again
