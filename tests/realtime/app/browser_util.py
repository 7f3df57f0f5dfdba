"""Helpers of the browser tests: Debian's Chromium driven by Playwright, a video file as the
fake webcam, the Gradio page served in the test process on a free port.

No browser is ever downloaded: Playwright starts the system binary. Recipe and its reasons:
/work/shared/BROWSER-E2E.md (fake capture flags, ``mirror=False``, the record button).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

# Load tolerance of every wait_until (REALTIME_TEST_WAIT_SCALE overrides it).
WAIT_SCALE = float(os.environ.get("REALTIME_TEST_WAIT_SCALE", "3"))
CHROMIUM = Path("/usr/lib/chromium/chromium")  # the real binary; /usr/bin/chromium is a wrapper
INSTALL_HINT = ("install the Debian packages: apt-get update && apt-get install -y chromium "
                "chromium-driver ffmpeg (.ci/run does this); Playwright must not download one")
CHROMIUM_FLAGS = [
    "--no-sandbox",  # root in containers
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--mute-audio",
    "--use-fake-ui-for-media-stream",  # grant camera access without a prompt
    "--use-fake-device-for-media-stream",
]


def require_chromium() -> Path:
    """The Chromium binary; fails the test (not a skip: CI installs it) when it is absent."""
    if not CHROMIUM.is_file():
        pytest.fail(f"Chromium not found at {CHROMIUM}: {INSTALL_HINT}", pytrace=False)
    return CHROMIUM


def launch_chromium(playwright: Any, fake_video: Path | None = None) -> Any:
    """Headless Chromium; ``fake_video`` (.y4m or .mjpeg) plays, looping, as the webcam."""
    args = list(CHROMIUM_FLAGS)
    if fake_video is not None:
        args.append(f"--use-file-for-fake-video-capture={fake_video}")
    return playwright.chromium.launch(executable_path=str(require_chromium()), headless=True,
                                      args=args)


# ----------------------------------------------------------------------------------- media


def write_y4m(path: Path, frames_bgr: list[np.ndarray], fps: int = 30) -> Path:
    """Write BGR frames as an uncompressed YUV4MPEG2 (I420) file, Chromium's fake camera."""
    h, w = frames_bgr[0].shape[:2]
    if w % 2 or h % 2:
        raise ValueError(f"y4m frames need even sizes, got {w}x{h}")
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for image in frames_bgr:
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


def write_mp4(path: Path, frames_bgr: list[np.ndarray], fps: float = 30.0) -> Path:
    h, w = frames_bgr[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert writer.isOpened(), f"OpenCV cannot write {path}"
    for image in frames_bgr:
        writer.write(image)
    writer.release()
    return path


# ----------------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(blocks: Any, max_upload_mb: int = 50) -> Iterator[str]:
    """Launch the page in this process on a free local port; yield its URL; close it."""
    blocks.queue()
    port = free_port()
    blocks.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True,
                  quiet=True, ssr_mode=False, max_file_size=f"{max_upload_mb}mb",
                  show_error=True, js=getattr(blocks, "page_js", None))
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        blocks.spotter_app.sessions.close_all()
        blocks.close()


# ----------------------------------------------------------------------------------- page


def wait_until(page: Any, predicate: Callable[[], Any], timeout_s: float,
               what: str | Callable[[], str], step_ms: int = 200) -> Any:
    """Poll ``predicate`` (Playwright-friendly waiting) until truthy; fail naming ``what``
    (a callable is asked at the timeout, e.g. for the server's frame counts).

    ``timeout_s`` is the time the wait takes on an idle machine, times ``WAIT_SCALE``: on a
    shared 2-core CI machine the page's polls and the server's frames can run several times
    slower (10 s waits timed out there and passed alone). A wait that succeeds returns at once,
    so the scale costs time only when a test fails."""
    timeout_s = timeout_s * WAIT_SCALE
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            text = what() if callable(what) else what
            pytest.fail(f"timed out after {timeout_s:g} s waiting for {text}", pytrace=False)
        page.wait_for_timeout(step_ms)


def open_page(browser: Any, url: str) -> tuple[Any, Any]:
    """A fresh browser context (its own Gradio session) with the page loaded."""
    context = browser.new_context(viewport={"width": 1280, "height": 1400},
                                  accept_downloads=True)
    page = context.new_page()
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector("#webcam-in", timeout=60_000)
    return context, page


def start_webcam(page: Any) -> None:
    """Grant the camera, wait for the preview, press record (same button stops)."""
    root = page.locator("#webcam-in")
    root.get_by_title("grant webcam access").first.click()
    page.wait_for_function(
        "() => { const v = document.querySelector('#webcam-in video');"
        " return v && v.readyState >= 2; }", timeout=30_000)
    root.locator("button[aria-label='capture photo']").first.click()


def set_value(page: Any, elem_id: str, value: object, timeout_s: float = 15.0) -> None:
    """Type ``value`` into the text or number box ``elem_id`` so that it sticks.

    A box in an accordion or tab that was just opened is still being mounted: Gradio sets its
    initial value after the first render, which can overwrite what was typed a moment
    earlier (seen in CI). Type, leave the box, and retype until the value has held for a
    second."""
    box = page.locator(f"#{elem_id} textarea, #{elem_id} input").first
    box.wait_for(state="visible", timeout=timeout_s * 1000)
    want = str(value)
    deadline = time.monotonic() + timeout_s
    while True:
        box.fill(want)
        box.press("Tab")
        page.wait_for_timeout(500)
        if box.input_value() == want:
            page.wait_for_timeout(500)
            if box.input_value() == want:
                return
        if time.monotonic() > deadline:
            pytest.fail(f"the box #{elem_id} did not keep the value {want!r}",
                        pytrace=False)


def toggle_webcam(page: Any) -> None:
    page.locator("#webcam-in button[aria-label='capture photo']").first.click()


def log_rows(page: Any, prefix: str) -> list[dict[str, Any]]:
    """The page's event log of a tab, oldest first: kind, onset frame and the cell texts
    (see realtime.app.LOG_COLUMNS) of each row."""
    rows = page.evaluate(
        """(id) => Array.from(document.querySelectorAll(`#${id} tr[data-kind]`)).map(tr => ({
               kind: tr.dataset.kind, onset_frame: Number(tr.dataset.onsetFrame),
               cells: Array.from(tr.querySelectorAll('td')).map(td => td.innerText.trim())}))""",
        f"{prefix}-log")
    return list(reversed(rows))  # the page shows the newest first


def textbox_value(page: Any, elem_id: str) -> str:
    return page.locator(f"#{elem_id} textarea, #{elem_id} input").first.input_value()


def image_src(page: Any, elem_id: str) -> str | None:
    img = page.locator(f"#{elem_id} img")
    return img.first.get_attribute("src") if img.count() else None
