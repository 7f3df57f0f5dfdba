"""Issue 15 in a real browser (headless Debian Chromium, as test_browser.py): the timeline's
break at a face loss, the run summary's whole-run timeline with its event lanes, the overlay
toggles, "Neutral face now" on a reference-difference model, and the Space key.

The page runs on reference-difference graphs (random weights) with ``threshold=0`` and
duration relabelling: the recording clip's face runs 0-39 and 46-119 give the macro segments
2-37 and 48-117, and nothing is classified between frames 37 and 48. Real time: waits are long
so that a busy machine only makes the test slower.
"""

from __future__ import annotations

import base64

import cv2
import numpy as np
import pytest

from realtime.app import build_app
from realtime.overlay import EXPRESSION_COLORS
from tests.realtime.app.browser_util import (
    image_src,
    launch_chromium,
    log_rows,
    open_page,
    require_chromium,
    serve,
    textbox_value,
    wait_until,
    write_mp4,
    write_y4m,
)
from tests.realtime.app.test_browser import (
    CAM_BLANK,
    CAM_FACE,
    PREDICTABLE,
    REC_BLANK,
    REC_EXPECTED,
    REC_FRAMES,
    new_session,
    segment_rows,
    webcam_load,
)
from tests.realtime.test_spotter import face_clip

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:.*np.bool8.*:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting.*"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

LINE_COLOURS = [np.array(c[::-1]) for c in EXPRESSION_COLORS.values()]  # RGB
MACRO = np.array(EXPRESSION_COLORS["macro"][::-1])
FPS = 30.0


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("controls-media")
    truth = folder / "clip_gt.csv"
    truth.write_text("subject,video,onset,apex,offset,type\n" + "".join(
        f"clip,clip,{a},{a + 1},{b},macro\n" for a, b in REC_EXPECTED))
    cam = face_clip(CAM_FACE + CAM_BLANK, blank=range(CAM_FACE, CAM_FACE + CAM_BLANK))
    return {"cam": write_y4m(folder / "cam.y4m", cam), "truth": truth,
            "clip": write_mp4(folder / "clip.mp4", face_clip(REC_FRAMES, blank=REC_BLANK))}


@pytest.fixture(scope="module")
def server(reference_exported_graphs, media, tmp_path_factory):
    require_chromium()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio-cache")))
        blocks = build_app(reference_exported_graphs.out_dir, provider="cpu", threads=1,
                           settings=PREDICTABLE, demo_video=media["clip"],
                           demo_ground_truth=media["truth"], concurrency=3, time_limit_s=30)
        with serve(blocks) as url:
            yield url, blocks.spotter_app


@pytest.fixture(scope="module")
def browser(media):
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        chromium = launch_chromium(pw, media["cam"])
        yield chromium
        chromium.close()
    finally:
        pw.stop()


def fetched_image(page, elem_id: str) -> np.ndarray:
    """The image a widget shows, fetched as the browser would (RGB)."""
    src = image_src(page, elem_id)
    assert src, f"no image in #{elem_id}"
    if src.startswith("data:"):
        data = base64.b64decode(src.split(",", 1)[1])
    else:
        data = page.request.get(src).body()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, f"#{elem_id} holds no decodable image"
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def has_colour(column: np.ndarray, colours: list[np.ndarray]) -> bool:
    """Whether a pixel column (N, 3) holds a pixel close to one of ``colours``."""
    column = column.astype(int)
    return any(np.abs(column - c).sum(axis=1).min() < 60 for c in colours)


def status(page, prefix: str) -> str:
    return textbox_value(page, f"{prefix}-status")


def play_demo_to_the_end(page, timeout_s: float = 90) -> None:
    page.locator("#rec-demo").click()
    wait_until(page, lambda: status(page, "rec").startswith("running"), 30, "the demo to run")
    wait_until(page, lambda: status(page, "rec").startswith("ended"), timeout_s,
               "the end of the demo clip")


def test_timeline_breaks_at_the_face_loss_and_the_summary_shows_the_whole_run(
        server, browser) -> None:
    url, app = server
    context, page = open_page(browser, url)
    try:
        page.get_by_role("tab", name="Recording").click()
        play_demo_to_the_end(page)
        wait_until(page, lambda: len(segment_rows(log_rows(page, "rec"))) == 2, 20,
                   "both segments")
        wait_until(page, lambda: page.locator("#rec-downloads img.run-timeline").count(), 20,
                   "the whole-run timeline in the summary")
        # The last-10-s timeline (640 px: plot columns 34..632 for now - 10 s .. now): class
        # lines until frame 37 and from frame 48, none across the face loss between.
        timeline = fetched_image(page, "rec-timeline")
        now = (REC_FRAMES - 1) / FPS

        def x_of(t: float) -> int:
            return round(34 + (t - (now - 10)) / 10 * (640 - 42))

        plot = slice(8, 131)
        assert has_colour(timeline[plot, x_of(1.0)], LINE_COLOURS)
        assert has_colour(timeline[plot, x_of(2.5)], LINE_COLOURS)
        assert not has_colour(timeline[plot, x_of(1.42)], LINE_COLOURS), \
            "a line was drawn across the frames without a face"
        # The summary's whole-run timeline: the found and the true expressions' lanes.
        src = page.locator("#rec-downloads img.run-timeline").get_attribute("src")
        run = cv2.cvtColor(cv2.imdecode(np.frombuffer(base64.b64decode(src.split(",", 1)[1]),
                                                      np.uint8), cv2.IMREAD_COLOR),
                           cv2.COLOR_BGR2RGB)
        assert run.shape[:2] == (200, 720)

        def run_x(t: float) -> int:
            return round(34 + t / now * (720 - 42))

        found, truth = run[152:166], run[168:182]  # the lanes under the plot
        for lane in (found, truth):
            assert has_colour(lane[:, run_x(0.6)], [MACRO])  # frames 2-37
            assert has_colour(lane[:, run_x(3.0)], [MACRO])  # frames 48-117
            assert not has_colour(lane[:, run_x(1.42)], [MACRO])
        assert not has_colour(run[8:148, run_x(1.42)], LINE_COLOURS)
    finally:
        context.close()


def region_spread(image: np.ndarray) -> int:
    """Largest distance from the background grey in the frame's top-left corner (background
    only in the clip; the label and the bars are drawn there)."""
    return int(np.abs(image[10:110, 10:110].astype(int) - 90).max())


def test_overlay_toggles_and_neutral_face(server, browser) -> None:
    url, app = server
    known = {s.id for s in app.sessions.sessions()}
    context, page = open_page(browser, url)
    try:
        page.get_by_role("tab", name="Recording").click()
        page.locator("#rec-demo").click()
        session = new_session(app, known, page)
        wait_until(page, lambda: image_src(page, "rec-out"), 30, "an annotated frame")
        assert region_spread(fetched_image(page, "rec-out")) > 100  # label and bars drawn
        # "Neutral face now" while the face is in view: the reference restarts, it says so.
        wait_until(page, lambda: any(r["kind"] == "onset" for r in log_rows(page, "rec")), 30,
                   "the first onset")
        page.locator("#rec-neutral").click()
        wait_until(page, lambda: "neutral reference restarted at" in status(page, "rec"), 20,
                   "the neutral-face message")
        wait_until(page, lambda: status(page, "rec").startswith("ended"), 90, "the end")
        assert session.recording.analysis.spotter.stats.breaks >= 2  # the loss and the reset
        # Every layer off: the next run's frames come back without label, bars, box, flash.
        page.get_by_text("Display, neutral face, keys", exact=True).first.click()

        def all_off() -> bool:  # uncheck what is still checked (a click can be lost under load)
            for box in page.locator("#overlay-layers input[type=checkbox]").all():
                if box.is_checked():
                    box.uncheck()
            return session.recording.layers == ()

        wait_until(page, all_off, 60, lambda: f"the toggles to apply (server layers "
                   f"{session.recording.layers})", step_ms=1000)
        before = image_src(page, "rec-out")
        page.locator("#rec-demo").click()
        wait_until(page, lambda: image_src(page, "rec-out") not in (None, before), 30,
                   "a frame of the new run")
        page.wait_for_timeout(500)
        assert region_spread(fetched_image(page, "rec-out")) < 40
        assert session.recording.analysis.layers == ()
    finally:
        context.close()


def record_state(page) -> str:
    """The title of the webcam record button's icon: "start recording" while idle."""
    return page.evaluate("() => { const i = document.querySelector("
                         "\"#webcam-in button[aria-label='capture photo'] [title]\");"
                         " return i ? i.title : ''; }")


def test_space_starts_and_stops_the_stream_in_view(server, browser) -> None:
    url, app = server
    known = {s.id for s in app.sessions.sessions()}
    context, page = open_page(browser, url)
    try:
        page.locator("#about").click()  # focus on the page, not on a control
        page.keyboard.press("Space")  # webcam tab: grant the camera
        page.wait_for_function(
            "() => { const v = document.querySelector('#webcam-in video');"
            " return v && v.readyState >= 2; }", timeout=60_000)
        page.keyboard.press("Space")  # record
        wait_until(page, lambda: record_state(page) != "start recording", 30,
                   "the record button to leave its idle state")
        session = new_session(app, known, page, timeout_s=120)
        cam = session.webcam
        wait_until(page, lambda: cam.frames_received >= 2, 120,
                   lambda: f"webcam frames ({webcam_load(session)})")
        page.keyboard.press("Space")  # stop
        wait_until(page, lambda: record_state(page) == "start recording", 30,
                   "the record button back to idle (stopped)")
        # Recording tab: Space plays the demo clip (no upload), Space again stops it.
        page.get_by_role("tab", name="Recording").click()
        page.locator("#about").click()
        page.keyboard.press("Space")
        wait_until(page, lambda: status(page, "rec").startswith("running"), 30, "the demo")
        page.keyboard.press("Space")
        wait_until(page, lambda: status(page, "rec").startswith("ended"), 30, "the stop")
        assert session.recording.analysis.frames < REC_FRAMES  # stopped before its end
    finally:
        context.close()


def viewer_frame(page) -> int:
    """The frame the Viewer shows (-1 before a run is open)."""
    value = page.evaluate("() => { const d = document.querySelector('#view-info .viewer-info');"
                          " return d && d.dataset.frame !== undefined ? d.dataset.frame : '-1'; }")
    return int(value)


def viewer_events(page) -> list[int]:
    return page.evaluate("() => Array.from(document.querySelectorAll('#view-info "
                         ".viewer-event')).map(li => Number(li.dataset.onsetFrame))")


def test_the_viewer_scrubs_the_last_recording_to_its_events(server, browser) -> None:
    url, app = server
    context, page = open_page(browser, url)
    try:
        page.get_by_role("tab", name="Recording").click()
        play_demo_to_the_end(page)
        page.get_by_role("tab", name="Viewer").click()
        page.locator("#view-last").click()
        wait_until(page, lambda: viewer_frame(page) == 0, 30, "the run to open at frame 0")
        assert f"frame 0 of {REC_FRAMES}" in page.locator("#view-info").inner_text()
        wait_until(page, lambda: image_src(page, "view-frame") and image_src(page,
                   "view-timeline"), 20, "the frame and the whole-run timeline")
        # Next event: the first expression's onset, with its probabilities.
        page.locator("#view-next").click()
        wait_until(page, lambda: viewer_frame(page) == REC_EXPECTED[0][0], 30,
                   "the first event's onset")
        assert viewer_events(page) == [REC_EXPECTED[0][0]]
        assert "probabilities (frame 2)" in page.locator("#view-info").inner_text()
        # Scrub to 3 s: frame 90, inside the second expression.
        box = page.locator("#view-time input[type=number]").first
        box.fill("3")
        box.press("Enter")
        wait_until(page, lambda: viewer_frame(page) == 90, 30, "frame 90 at 3 s")
        assert viewer_events(page) == [REC_EXPECTED[1][0]]
        # Into the face loss: nothing classified, no expression under way.
        box.fill("1.4")
        box.press("Enter")
        wait_until(page, lambda: viewer_frame(page) == 42, 30, "frame 42 at 1.4 s")
        assert viewer_events(page) == []
        assert "none here" in page.locator("#view-info").inner_text()
    finally:
        context.close()


def test_the_settings_defaults_say_where_they_come_from(exported_graphs, browser,
                                                         tmp_path_factory) -> None:
    """Item 7: a page built without settings starts from the graphs' recommendation (the
    test graphs name none: the paper's) and says so above the Settings box."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio-cache-defaults")))
        blocks = build_app(exported_graphs.out_dir, provider="cpu", threads=1)
        with serve(blocks) as url:
            context, page = open_page(browser, url)
            try:
                page.get_by_text("Settings", exact=True).first.click()
                origin = page.locator("#set-origin")
                origin.wait_for(state="visible", timeout=30_000)
                text = origin.inner_text()
                assert "Defaults" in text and "the paper's post-processing" in text
                assert "At 30 frames/s: pauses up to 1 frame (0.03 s)" in text
                assert textbox_value(page, "set-gap") == "1"
                assert not page.locator("#set-use-threshold input").first.is_checked()
            finally:
                context.close()
