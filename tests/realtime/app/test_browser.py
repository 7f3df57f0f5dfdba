"""The Gradio page in a real browser: headless Debian Chromium (Playwright, never a downloaded
browser) with a video file as its webcam, against the page served in this process.

With random weights the classes are arbitrary, so the page runs with ``threshold=0`` and
duration relabelling (its Settings defaults here): every run of face frames becomes one
expression segment, closed ("cut short") when the face leaves. The fake webcam shows a face for
2 s and nothing for 0.5 s, looping: the expected event is a macro segment (longer than 0.5 s)
of about 2 s, cut short, once per loop. The recording clip's segments are known in frames.

The webcam tests are real time: they need the spotter to keep up with about 10 frames/s
(about 25 ms per frame on one core here); on a machine far busier than that a timeout message
reports the rate the server reached.

Screenshots go to $BROWSER_ARTIFACTS (default: a pytest temporary folder); with
UPDATE_SCREENSHOT=1 the webcam screenshot also replaces docs/screenshot.png.
"""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import cv2
import pytest

from realtime.app import SpotSettings, SpotterApp, build_app
from realtime.events import Event
from tests.realtime.app.browser_util import (
    image_src,
    launch_chromium,
    log_rows,
    open_page,
    require_chromium,
    serve,
    set_value,
    start_webcam,
    textbox_value,
    toggle_webcam,
    wait_until,
    write_mp4,
    write_y4m,
)
from tests.realtime.test_spotter import face_clip

pytestmark = [
    pytest.mark.browser,
    # Gradio's own per-request noise (numpy and pandas deprecations inside gradio).
    pytest.mark.filterwarnings("ignore:.*np.bool8.*:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting.*"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

DOCS_SCREENSHOT = Path(__file__).resolve().parents[3] / "docs" / "screenshot.png"
DOCS_SUMMARY = DOCS_SCREENSHOT.with_name("screenshot_summary.png")
PREDICTABLE = SpotSettings(relabel_by_duration=True, threshold=0.0)
TIME_LIMIT_S = 3  # short, so the webcam test outlives a stream event and sees the rejoin
CAM_FACE, CAM_BLANK = 60, 15  # fake webcam loop: 2 s of face, 0.5 s without, at 30 fps
REC_FRAMES, REC_BLANK = 120, range(40, 46)  # recording clip: 4 s, face runs 0-39 and 46-119
REC_EXPECTED = [(2, 37), (48, 117)]


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("browser-media")
    cam = face_clip(CAM_FACE + CAM_BLANK, blank=range(CAM_FACE, CAM_FACE + CAM_BLANK))
    broken = folder / "broken.mp4"
    broken.write_bytes(b"this is not a video" * 64)
    truth = folder / "clip_gt.csv"  # the clip's expected segments, as its ground truth
    truth.write_text("subject,video,onset,apex,offset,type\n" + "".join(
        f"clip,clip,{a},{a + 1},{b},macro\n" for a, b in REC_EXPECTED))
    return {"cam": write_y4m(folder / "cam.y4m", cam), "truth": truth,
            "clip": write_mp4(folder / "clip.mp4", face_clip(REC_FRAMES, blank=REC_BLANK)),
            "broken": broken}


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    env = os.environ.get("BROWSER_ARTIFACTS")
    folder = Path(env) if env else tmp_path_factory.mktemp("browser-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def server(exported_graphs, media, tmp_path_factory):
    require_chromium()  # fail before building anything when the browser is missing
    with pytest.MonkeyPatch.context() as mp:  # Gradio's file cache: a temporary folder
        mp.setenv("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio-cache")))
        blocks = build_app(exported_graphs.out_dir, provider="cpu", threads=1,
                           settings=PREDICTABLE, demo_video=media["clip"],
                           demo_ground_truth=media["truth"], concurrency=3,
                           time_limit_s=TIME_LIMIT_S)
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


def new_session(app: SpotterApp, known: set[str], page, timeout_s: float = 60.0):
    """The session that appears besides ``known`` (sessions start with their first call)."""
    def find():
        fresh = [s for s in app.sessions.sessions() if s.id not in known]
        return fresh[0] if fresh else None
    return wait_until(page, find, timeout_s, "the page's session on the server")


def webcam_load(session) -> str:
    """How fast the server got this session's webcam frames (for timeout messages: a machine
    too busy to run the spotter near real time shows here)."""
    cam = session.webcam
    a = cam.analysis
    rate = "-" if a is None else f"{a.rate.fps:.1f}"
    return (f"{cam.frames_received} frames received, {rate} frames/s, {cam.pauses} pauses "
            "over 0.5 s")


def segment_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["kind"] == "segment"]


def same_log(page, prefix: str, shown: list[Event]) -> bool:
    """The page's log lists exactly the server's events (kind, frames, type, times)."""
    rows = log_rows(page, prefix)
    want = [(e.kind, e.onset_frame, e.expression, f"{e.onset_time_s:.3f}") for e in shown]
    got = [(r["kind"], r["onset_frame"], r["cells"][1], r["cells"][2]) for r in rows]
    return got == want


def uploaded(page, stem: str) -> bool:
    """The file box lists the upload (name, shown as stem and suffix, and its size)."""
    text = page.locator("#rec-file").inner_text()
    return stem in text and ".mp4" in text and "KB" in text


def save_screenshot(page, artifacts: Path, name: str) -> Path:
    path = artifacts / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def publish_screenshot(shot: Path, target: Path = DOCS_SCREENSHOT,
                       width_px: int | None = 900) -> None:
    """Copy a screenshot to docs/ (UPDATE_SCREENSHOT=1), scaled to ``width_px`` wide."""
    if os.environ.get("UPDATE_SCREENSHOT") != "1":
        return
    image = cv2.imread(str(shot))
    h, w = image.shape[:2]
    if width_px is not None:
        image = cv2.resize(image, (width_px, round(h * width_px / w)),
                           interpolation=cv2.INTER_AREA)
    target.parent.mkdir(exist_ok=True)
    cv2.imwrite(str(target), image, [cv2.IMWRITE_PNG_COMPRESSION, 9])


# ----------------------------------------------------------------------------------- tests


def test_webcam_frames_come_back_annotated_and_the_expected_event_is_logged(
        server, browser, artifacts: Path) -> None:
    url, app = server
    known = {s.id for s in app.sessions.sessions()}
    context, page = open_page(browser, url)
    joins: list[str] = []  # one queue/join per stream event: a second one is a rejoin
    page.on("request", lambda r: joins.append(r.url) if "/queue/join" in r.url else None)
    try:
        start_webcam(page)
        session = new_session(app, known, page)
        cam = session.webcam
        # Annotated frames come back: the output image keeps changing.
        first = wait_until(page, lambda: image_src(page, "webcam-out"), 30, "an annotated frame")
        wait_until(page, lambda: image_src(page, "webcam-out") not in (None, first), 10,
                   "a second annotated frame")
        # Two face loops: two segments, each closed when the face left.
        wait_until(page, lambda: len(segment_rows(log_rows(page, "webcam"))) >= 2, 60,
                   lambda: f"two segments in the page's event log ({webcam_load(session)})")
        # Screenshot with the face in view and an expression open (face box, bars, flash).
        wait_until(page, lambda: cam.analysis.face_status == "ok"
                   and cam.analysis.merger.state.open_label is not None, 20,
                   "the face back in view")
        page.wait_for_timeout(400)
        shot = save_screenshot(page, artifacts, "webcam")
        first_analysis = cam.analysis
        # Keep streaming past the stream event's time limit: the page rejoins by itself, and
        # the session's spotter, log and frame count carry on.
        wait_until(page, lambda: len(joins) >= 3, 40, "two rejoins after the time limit")
        before = cam.frames_received
        page.wait_for_timeout(1500)
        assert cam.frames_received > before, "frames stopped after the rejoin"
        assert cam.analysis is first_analysis
        toggle_webcam(page)  # stop
        page.wait_for_timeout(1000)
        analysis = cam.analysis
        assert analysis is not None and analysis.settings == PREDICTABLE  # widgets -> server
        # The page polls the log; on a loaded 2-core machine a poll can take several seconds.
        wait_until(page, lambda: same_log(page, "webcam", analysis.log.shown()), 30,
                   "the page's log to match the server's")
        # Counted server-side: every received frame went through the spotter, in order.
        assert cam.frames_received >= 40 and analysis.frames == cam.frames_received
        assert analysis.last_index >= cam.frames_received - 1
        # No event lost or repeated across the rejoin(s): all the spotter's events are logged.
        events = analysis.log.events
        assert analysis.spotter.stats.events == len(events)
        assert len({(e.kind, e.onset_frame) for e in events}) == len(events)
        # The expected event: macro (over 0.5 s), cut short by the face leaving, about 2 s.
        expected = [e for e in events if e.kind == "segment" and e.expression == "macro"
                    and e.cut_short and 1.0 <= e.offset_time_s - e.onset_time_s <= 2.4]
        assert expected, f"no ~2 s macro segment ({webcam_load(session)}) among {events}"
        # Its duration (frames / measured rate) agrees with the time that passed.
        e = expected[0]
        frames = e.offset_frame - e.onset_frame + 1
        span_s = (e.offset_time_s - e.onset_time_s) * frames / max(frames - 1, 1)
        assert 0.6 < e.duration_s / span_s < 1.6, (e.duration_s, span_s)
        rows = {r["onset_frame"]: r["cells"] for r in log_rows(page, "webcam")}
        cells = rows[expected[0].onset_frame]
        assert cells[1] == "macro" and cells[7] == "cut short"
        assert float(cells[3]) - float(cells[2]) == pytest.approx(
            expected[0].offset_time_s - expected[0].onset_time_s, abs=2e-3)
        status = textbox_value(page, "webcam-status")
        assert re.search(r"\d+\.\d frames/s \| \d+ ms per window \| cpu", status), status
        assert re.search(r"\| \d+ frames \|", status)
        assert shot.is_file()
    finally:
        context.close()


def test_recording_tab_plays_the_demo_clip_and_downloads_its_events(
        server, browser, media, artifacts: Path) -> None:
    url, app = server
    context, page = open_page(browser, url)
    try:
        page.get_by_role("tab", name="Recording").click()
        page.locator("#rec-demo").click()
        # The first segment shows while the clip still plays.
        first = wait_until(page, lambda: segment_rows(log_rows(page, "rec")), 30,
                           "the first segment during playback")
        assert "running" in textbox_value(page, "rec-status")
        assert first[0]["cells"][6] == "2-37"
        wait_until(page, lambda: textbox_value(page, "rec-status").startswith("ended"), 30,
                   "the end of the clip")
        wait_until(page, lambda: len(segment_rows(log_rows(page, "rec"))) == 2, 10,
                   "both segments")
        rows = segment_rows(log_rows(page, "rec"))
        assert [r["cells"][6] for r in rows] == [f"{a}-{b}" for a, b in REC_EXPECTED]
        assert all(r["cells"][7] == "cut short" for r in rows)
        # At 1280x900 the frame, the status and the log are side by side, all in view, and
        # the annotated frame is drawn enlarged (its 320x240 source at 640x480 or more).
        page.set_viewport_size({"width": 1280, "height": 900})
        page.wait_for_timeout(300)
        frame_box = page.locator("#rec-out img").first.bounding_box()
        log_box = page.locator("#rec-log").bounding_box()
        status_box = page.locator("#rec-status").bounding_box()
        assert log_box["x"] > frame_box["x"] + frame_box["width"] - 5  # beside, not under
        assert log_box["y"] < 900 and status_box["y"] < 900 and frame_box["y"] < 900
        natural = page.locator("#rec-out img").first.evaluate("i => i.naturalWidth")
        assert natural >= 640 and frame_box["width"] >= 400, (natural, frame_box)
        # The run summary: counts by type, face time, rate, the truth and the score.
        summary = page.locator("#rec-downloads .run-summary").inner_text()
        assert "2 expressions (2 macro)" in summary and "expressions per minute" in summary
        assert "Ground truth: macro 2-37, macro 48-117" in summary
        assert "F1 overall 1.0000" in summary
        publish_screenshot(save_screenshot(page, artifacts, "recording"))
        top = page.locator("#rec-status").bounding_box()
        bottom = page.locator("#rec-downloads").bounding_box()
        summary_shot = artifacts / "summary.png"
        page.screenshot(path=str(summary_shot), full_page=True, clip={
            "x": top["x"], "y": top["y"], "width": max(top["width"], bottom["width"]),
            "height": bottom["y"] + bottom["height"] - top["y"]})
        publish_screenshot(summary_shot, DOCS_SUMMARY, width_px=None)
        # The downloads hold the same events.
        with page.expect_download() as info:
            page.locator("#rec-downloads a[download$='.csv']").click()
        assert info.value.suggested_filename == "clip-events.csv"  # named after the video
        with open(info.value.path(), encoding="utf-8") as f:
            table = list(csv.DictReader(f))
        assert [(int(r["onset_frame"]), int(r["offset_frame"])) for r in table
                if r["kind"] == "segment"] == REC_EXPECTED
        with page.expect_download() as info:
            page.locator("#rec-downloads a[download$='.json']").click()
        events = [Event.from_dict(d) for d in json.loads(Path(info.value.path()).read_text())]
        assert [(e.onset_frame, e.offset_frame) for e in events if e.kind == "segment"] \
            == REC_EXPECTED
        assert [e.kind for e in events] == ["onset", "segment", "onset", "segment"]

        # An unreadable upload gets a clear message and starts nothing.
        upload = page.locator("#rec-file input[type=file]")
        upload.set_input_files(str(media["broken"]))
        wait_until(page, lambda: uploaded(page, "broken"), 20, "the upload")
        page.locator("#rec-start").click()
        wait_until(page, lambda: "cannot open video file" in textbox_value(page, "rec-status"),
                   20, "the unreadable-file message")
        # ... free of server paths and library names, and without the last run's figures.
        status = textbox_value(page, "rec-status")
        assert "broken.mp4" in status and "/" not in status and "OpenCV" not in status, status
        assert "frames/s" not in status and not log_rows(page, "rec")
        # A real upload is processed like the demo clip, in a fresh log.
        page.locator("#rec-file button[aria-label='Clear']").first.click()
        upload.set_input_files(str(media["clip"]))
        wait_until(page, lambda: uploaded(page, "clip"), 20, "the second upload")
        page.locator("#rec-start").click()
        wait_until(page, lambda: textbox_value(page, "rec-status").startswith("running"), 20,
                   "the upload to play")
        wait_until(page, lambda: textbox_value(page, "rec-status").startswith("ended"), 30,
                   "the end of the upload")
        wait_until(page, lambda: [r["cells"][6] for r in segment_rows(log_rows(page, "rec"))]
                   == [f"{a}-{b}" for a, b in REC_EXPECTED], 10, "the upload's segments")
    finally:
        context.close()


def test_server_source_runs_until_stop(server, browser, media) -> None:
    url, app = server
    context, page = open_page(browser, url)
    try:
        page.get_by_role("tab", name="Server source").click()
        set_value(page, "server-spec", media["clip"])
        page.locator("#server-start").click()
        wait_until(page, lambda: textbox_value(page, "server-status").startswith("running"), 20,
                   "the source to run")
        wait_until(page, lambda: image_src(page, "server-out"), 20, "an annotated frame")
        wait_until(page, lambda: segment_rows(log_rows(page, "server")), 30, "the first segment")
        wait_until(page, lambda: any(r["kind"] == "onset" for r in log_rows(page, "server")), 20,
                   "the second face run's onset")
        page.locator("#server-stop").click()
        wait_until(page, lambda: textbox_value(page, "server-status").startswith("ended"), 20,
                   "the stop")
        # Stop closed the open expression: the second face run ends early, cut short.
        rows = wait_until(page, lambda: len(segment_rows(log_rows(page, "server"))) == 2
                          and segment_rows(log_rows(page, "server")), 10, "the closed segment")
        assert rows[0]["cells"][6] == "2-37"
        assert rows[1]["onset_frame"] == 48 and rows[1]["cells"][7] == "cut short"
        assert int(rows[1]["cells"][6].split("-")[1]) < REC_FRAMES - 3  # stopped mid-clip
    finally:
        context.close()


def test_two_browser_sessions_stay_independent(server, browser) -> None:
    url, app = server
    known = {s.id for s in app.sessions.sessions()}
    ctx_a, page_a = open_page(browser, url)
    ctx_b, page_b = open_page(browser, url)
    try:
        start_webcam(page_a)
        a = new_session(app, known, page_a)
        wait_until(page_a, lambda: segment_rows(log_rows(page_a, "webcam")), 60,
                   lambda: f"a segment on page A ({webcam_load(a)})")
        # B asks for a longer minimum length in its own Settings box, then streams too.
        page_b.get_by_text("Settings", exact=True).first.click()
        set_value(page_b, "set-minlen", 3)
        start_webcam(page_b)
        b = new_session(app, known | {a.id}, page_b)
        wait_until(page_b, lambda: segment_rows(log_rows(page_b, "webcam")), 60,
                   lambda: f"a segment on page B ({webcam_load(b)})")
        toggle_webcam(page_a)
        toggle_webcam(page_b)
        page_a.wait_for_timeout(1000)
        log_a, log_b = a.webcam.analysis.log, b.webcam.analysis.log
        # Each page lists its own session's events, and each session has its own spotter.
        wait_until(page_a, lambda: same_log(page_a, "webcam", log_a.shown()), 10, "page A's log")
        wait_until(page_b, lambda: same_log(page_b, "webcam", log_b.shown()), 10, "page B's log")
        assert a.webcam.analysis.spotter is not b.webcam.analysis.spotter
        assert a.webcam.analysis.settings.min_length_frames == 1
        assert b.webcam.analysis.settings.min_length_frames == 3
        for s in (a, b):  # indices count the session's own frames, not both pages' frames
            assert s.webcam.analysis.frames == s.webcam.frames_received
            assert s.webcam.analysis.last_index < s.webcam.frames_received + 10
        assert {e.onset_time_s for e in log_a.events}.isdisjoint(
            {e.onset_time_s for e in log_b.events})
        # Closing page A ends its session on the server; B's stays.
        ctx_a.close()
        wait_until(page_b, lambda: app.sessions.find(a.id) is None, 30, "A's unload")
        assert app.sessions.find(b.id) is b and b.webcam.analysis is not None
    finally:
        for ctx in (ctx_a, ctx_b):
            try:
                ctx.close()
            except Exception:  # already closed above
                pass


def test_the_page_says_what_it_does_and_settings_validate(server, browser) -> None:
    """Issue 15: the header (micro/macro by duration, the model card's figures) and the
    legend are on the page; a bad setting gets a message; the threshold slider is off while
    its checkbox is; Process upload waits for an upload."""
    url, app = server
    context, page = open_page(browser, url)
    try:
        about = page.locator("#about").inner_text()
        assert "micro-expression" in about and "at most 0.5 s" in about
        assert "from its model card" in about  # the test graphs have no card: it says so
        assert "No model card came with these graphs" in about
        legend = page.locator("#legend").text_content()
        for words in ("micro", "macro", "Banner", "cut short", "face box"):
            assert words in legend
        page.get_by_role("tab", name="Recording").click()
        assert page.locator("#rec-start").is_disabled()
        page.get_by_text("Settings", exact=True).first.click()
        slider = page.locator("#set-threshold input[type=range]").first
        # The test server's settings use a threshold: on; unticking turns the slider off.
        assert slider.is_enabled()
        page.locator("#set-use-threshold input").first.uncheck()
        wait_until(page, lambda: slider.is_disabled(), 10, "the slider to turn off")
        set_value(page, "set-minlen", 0)
        wait_until(page, lambda: "Not valid" in page.locator("#set-note").inner_text(), 10,
                   "the settings message")
        assert "minimum length" in page.locator("#set-note").inner_text()
        set_value(page, "set-minlen", 15)
        wait_until(page, lambda: "15 frames = 0.500 s" in page.locator("#set-note").inner_text(),
                   10, "the seconds of the minimum length")
    finally:
        context.close()


def test_missing_chromium_fails_with_instructions(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    import tests.realtime.app.browser_util as util

    monkeypatch.setattr(util, "CHROMIUM", tmp_path / "no-chromium")
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y chromium"):
        util.require_chromium()
