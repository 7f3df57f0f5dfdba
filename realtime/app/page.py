"""The page's layout: the Settings box and the three tabs, wired to a :class:`SpotterApp`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from realtime.app.about import header_markdown, legend_html, model_recommendation
from realtime.app.analysis import STATUS_TIP
from realtime.app.eventlog import render_downloads_html, render_log_html
from realtime.app.handlers import CACHE_POLICY_S, SpotterApp
from realtime.app.settings import AppConfig, SpotSettings, recommended_settings, settings_note
from realtime.app.viewer import EVENT_FILE_TYPES
from realtime.postprocess import PostprocessSetting
from realtime.spotter import DEFAULT_WEIGHTS
from realtime.vocab import VIDEO_SUFFIXES

SETTINGS_NOTE = ("Settings apply to new streams: the first webcam frame or server start after "
                 "**Reset**, and every recording run. A running stream keeps the settings it "
                 "started with.")
NEUTRAL_NOTE = ("**Neutral face now** restarts the person's reference, for models that compare "
                "the face with its own recent average: press it while the face is at rest "
                "(the status line says whether the loaded model uses one).")
# Space starts or stops the stream of the tab in view (not while typing or on a control that
# takes Space itself): the webcam's record button; Start/Stop of the server source; Stop of a
# running recording, else Process upload when a file is there, else the demo clip.
# Pass it to launch(js=...) (``blocks.page_js``).
PAGE_JS = """() => {
  if (window.__spotterKeys) return;
  window.__spotterKeys = true;
  const q = (sel) => document.querySelector(sel);
  const value = (id) => { const el = q(`#${id} textarea, #${id} input`);
                          return el ? el.value : ""; };
  const press = (sel) => { const el = q(sel);
    if (!el || el.disabled) return false; el.click(); return true; };
  const typing = (t) => t && (t.isContentEditable || ["TEXTAREA", "SELECT"].includes(t.tagName)
    || (t.tagName === "INPUT" && !["button", "submit"].includes(t.type)));
  document.addEventListener("keydown", (ev) => {
    if (ev.code !== "Space" || ev.repeat || ev.ctrlKey || ev.altKey || ev.metaKey
        || typing(ev.target)) return;
    const tab = q("button[role=tab][aria-selected=true]");
    const name = tab ? tab.textContent.trim() : "";
    let done = false;
    if (name.startsWith("Webcam")) {
      done = press("#webcam-in button[aria-label='capture photo']")
        || press("#webcam-in [title='grant webcam access'] button");
    } else if (name.startsWith("Server")) {
      done = value("server-status").startsWith("running") ? press("#server-stop")
        : press("#server-start");
    } else if (name.startsWith("Recording")) {
      done = value("rec-status").startsWith("running") ? press("#rec-stop")
        : (press("#rec-start") || press("#rec-demo"));
    }
    if (done) { ev.preventDefault(); ev.stopPropagation(); }
  }, true);
}"""
KEYS_NOTE = "**Space** starts or stops the stream of the tab in view."
FRAME_HEIGHT_PX = 480  # displayed height of the annotated frames
WEBCAM_POLL_S = 1.0  # the webcam tab's slow refresh (catches results lost at Stop)


class _Panel:
    """The widgets every tab shows beside its frame: status, log, downloads (in a column next
    to the frame on wide screens, under it on narrow ones), then the timeline."""

    def __init__(self, prefix: str, frame: Callable[[], Any]) -> None:
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=360):
                self.frame = frame()
            with gr.Column(scale=2, min_width=320):
                self.status = gr.Textbox(label="Status", value="idle", interactive=False,
                                         lines=1, elem_id=f"{prefix}-status",
                                         info=STATUS_TIP)
                gr.Markdown("**Events** (newest first; hover a column name for what it is)")
                self.log = gr.HTML(render_log_html([]), elem_id=f"{prefix}-log")
                self.downloads = gr.HTML(render_downloads_html(None, ""),
                                         elem_id=f"{prefix}-downloads")
        self.timeline = gr.Image(label="Class probabilities (last seconds)", format="png",
                                 interactive=False, elem_id=f"{prefix}-timeline", height=170,
                                 buttons=[])

    @property
    def outputs(self) -> list[Any]:
        return [self.log, self.timeline, self.status, self.downloads]


def build_page(app: SpotterApp) -> Any:
    """The page of ``app`` as a ``gr.Blocks`` (call ``.queue()`` / ``.launch()`` on it);
    ``blocks.spotter_app`` is ``app``."""
    with gr.Blocks(title="Micro-expression spotter", delete_cache=CACHE_POLICY_S,
                   analytics_enabled=False) as blocks:  # never phones home
        gr.Markdown(header_markdown(app.config.weights_dir), elem_id="about")
        gr.HTML(legend_html(), elem_id="legend")
        with gr.Row(equal_height=False):
            with gr.Accordion("Settings", open=False, elem_id="settings-box"):
                if app.config.settings_origin:
                    gr.Markdown(app.config.settings_origin, elem_id="set-origin")
                settings = _settings_box(app.config.settings)
            with gr.Accordion("Display, neutral face, keys", open=False,
                              elem_id="display-box"):
                _layer_toggles(app)
                gr.Markdown(f"{NEUTRAL_NOTE}\n\n{KEYS_NOTE}", elem_id="keys-note")
        with gr.Tabs():
            with gr.Tab("Webcam", id="webcam"):
                _webcam_tab(app, settings)
            with gr.Tab("Server source", id="server"):
                _server_tab(app, settings)
            with gr.Tab("Recording", id="recording"):
                _recording_tab(app, settings)
            with gr.Tab("Viewer", id="viewer"):
                _viewer_tab(app)
        blocks.unload(app.on_unload)
    app.blocks = blocks
    blocks.page_js = PAGE_JS  # for launch(js=...): the Space key
    blocks.spotter_app = app  # for tests and embedding: the logic behind the page
    return blocks


def _settings_box(s: SpotSettings) -> list[Any]:
    """The five settings widgets (the inputs of every start), showing ``s``; a line under
    them says what is wrong or what the frame counts mean in seconds, and the threshold
    slider is enabled only while its checkbox is on."""
    gr.Markdown(SETTINGS_NOTE)
    with gr.Row():
        gap = gr.Number(label="Merging gap (frames)", value=s.merge_gap_frames,
                        precision=0, elem_id="set-gap",  # range checked by settings_note
                        info="pauses up to this long inside an expression are bridged")
        min_len = gr.Number(label="Minimum length (frames)", value=s.min_length_frames,
                            precision=0, elem_id="set-minlen",
                            info="shorter expressions are not reported")
        relabel = gr.Checkbox(label="Type by duration (up to 0.5 s is micro)",
                              value=s.relabel_by_duration, elem_id="set-relabel")
        use_t = gr.Checkbox(label="Use a class threshold (else the most probable class)",
                            value=s.threshold is not None, elem_id="set-use-threshold")
        t = gr.Slider(0.0, 1.0, value=0.5 if s.threshold is None else s.threshold,
                      step=0.01, label="Class threshold", elem_id="set-threshold",
                      interactive=s.threshold is not None)
    widgets = [gap, min_len, relabel, use_t, t]
    note = gr.Markdown(settings_note(s.merge_gap_frames, s.min_length_frames,
                                     s.relabel_by_duration, s.threshold is not None,
                                     0.5 if s.threshold is None else s.threshold),
                       elem_id="set-note")

    def on_change(*values: Any) -> list[Any]:
        return [settings_note(*values), gr.update(interactive=bool(values[3]))]

    for widget in widgets:
        widget.change(on_change, inputs=widgets, outputs=[note, t], show_progress="hidden",
                      concurrency_limit=None, queue=False)
    return widgets


OVERLAY_LAYERS = [("face box", "box"), ("label", "label"), ("probability bars", "bars"),
                  ("event flash", "flash")]


def _layer_toggles(app: SpotterApp) -> None:
    """What the annotated frames show (every tab, from the next frame; no restart)."""
    layers = gr.CheckboxGroup(OVERLAY_LAYERS, value=[v for _, v in OVERLAY_LAYERS],
                              label="Show on the frames", elem_id="overlay-layers",
                              info="applies at once, on every tab")
    layers.change(app.on_layers, inputs=layers, outputs=None, show_progress="hidden",
                  concurrency_limit=None, queue=False)


def _spotter_image(elem_id: str) -> Any:
    """The annotated frame of a server-side tab."""
    return gr.Image(label="Spotter", format="jpeg", interactive=False, elem_id=elem_id,
                    buttons=["fullscreen"], height=FRAME_HEIGHT_PX)


def _webcam_tab(app: SpotterApp, settings: list[Any]) -> None:
    c = app.config
    gr.Markdown("Click the camera, then the record button. Frames stream to the server "
                f"about {c.webcam_fps:.0f} times a second and come back annotated. "
                "Stopping and restarting keeps the log (a pause closes the open "
                "expression); **Reset** starts afresh. Times count from the first frame; "
                "durations use the rate at which frames actually arrive.")
    with gr.Row():
        cam = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="Camera",
                       webcam_options=gr.WebcamOptions(mirror=False), elem_id="webcam-in",
                       height=200, scale=1, min_width=240)
        with gr.Column(scale=0, min_width=140):
            reset = gr.Button("Reset", elem_id="webcam-reset", size="sm")
            neutral = gr.Button("Neutral face now", elem_id="webcam-neutral", size="sm")
    panel = _Panel("webcam", lambda: _spotter_image("webcam-out"))
    _wire_neutral(app, "webcam", neutral, panel)
    out = panel.frame
    cam.stream(app.on_webcam_frame, inputs=[cam, *settings],
               outputs=[out, *panel.outputs], stream_every=c.stream_every_s,
               time_limit=c.time_limit_s, concurrency_limit=c.concurrency,
               concurrency_id="webcam", show_progress="hidden")

    def on_reset(request: gr.Request) -> list[Any]:
        return app.on_reset("webcam", request)

    reset.click(on_reset, inputs=None, outputs=[out, *panel.outputs],
                show_progress="hidden", concurrency_limit=None)
    gr.Timer(WEBCAM_POLL_S).tick(app.on_webcam_poll, inputs=None, outputs=panel.outputs,
                                 show_progress="hidden", concurrency_limit=None,
                                 trigger_mode="always_last")


def _server_tab(app: SpotterApp, settings: list[Any]) -> None:
    if not app.config.server_source:
        gr.Markdown("**Disabled on this server** (it is shared or listens beyond this "
                    "machine; start it with `--allow-server-source` to enable).")
    gr.Markdown("Open a camera on the server (index such as `0`), an `rtsp://` or "
                "`http://` stream, or a video file path on the server. It is read at its "
                "own rate; the page shows the latest frame.")
    with gr.Row():
        spec = gr.Textbox(label="Source", placeholder="0, rtsp://host/stream, /path/clip.mp4",
                          elem_id="server-spec", scale=4)
        start = gr.Button("Start", variant="primary", elem_id="server-start", scale=1)
        stop = gr.Button("Stop", elem_id="server-stop", scale=1)
        reset = gr.Button("Reset", elem_id="server-reset", scale=1)
        neutral = gr.Button("Neutral face now", elem_id="server-neutral", scale=1)
    panel = _Panel("server", lambda: _spotter_image("server-out"))
    _wire_neutral(app, "server", neutral, panel)
    controls = _SourceControls(start, stop, reset, panel.frame, panel)
    _wire_source(app, "server", controls, app.on_server_start, [spec, *settings])


def _recording_tab(app: SpotterApp, settings: list[Any]) -> None:
    gr.Markdown(f"Upload a video (up to {app.config.max_upload_mb} MB) or play the built-in "
                "demo clip. It is processed as it plays, at its own frame rate; the events "
                "can be downloaded when it ends. Each run starts a new log.")
    with gr.Row():
        upload = gr.File(label="Video", file_types=list(VIDEO_SUFFIXES), type="filepath",
                         elem_id="rec-file", scale=3, height=200)
        with gr.Column(scale=1):
            start = gr.Button("Process upload", variant="secondary", elem_id="rec-start",
                              interactive=False)
            demo = gr.Button("Play the demo clip", elem_id="rec-demo")
            with gr.Row():
                stop = gr.Button("Stop", elem_id="rec-stop", min_width=60)
                reset = gr.Button("Reset", elem_id="rec-reset", min_width=60)
            neutral = gr.Button("Neutral face now", elem_id="rec-neutral")
    panel = _Panel("rec", lambda: _spotter_image("rec-out"))
    _wire_neutral(app, "recording", neutral, panel)
    controls = _SourceControls(start, stop, reset, panel.frame, panel)
    timer = _wire_source(app, "recording", controls, app.on_recording_start,
                         [upload, *settings])
    upload.change(lambda path: gr.update(interactive=bool(path),
                                         variant="primary" if path else "secondary"),
                  inputs=upload, outputs=start, show_progress="hidden", queue=False)
    demo.click(app.on_demo_start, inputs=settings,
               outputs=[controls.out, timer, *controls.panel.outputs], show_progress="hidden",
               concurrency_limit=None)


def _wire_neutral(app: SpotterApp, name: str, button: Any, panel: _Panel) -> None:
    """The "Neutral face now" button of channel ``name``."""
    def on_neutral(request: gr.Request) -> list[Any]:
        return app.on_neutral(name, request)

    button.click(on_neutral, inputs=None, outputs=panel.outputs, show_progress="hidden",
                 concurrency_limit=None)


def _viewer_tab(app: SpotterApp) -> None:
    """Open a finished run and scrub it: frame, probabilities, events at the chosen time."""
    gr.Markdown("Open this page's last recording, or an events file (the CSV or JSON "
                "downloads, or `spot`'s JSONL) with its video, then move the time slider or "
                "jump from event to event. This page's runs show the probabilities of every "
                "classified frame; an events file has only the events.")
    with gr.Row():
        last = gr.Button("Open the last recording", elem_id="view-last", variant="primary")
        events = gr.File(label="Events file", file_types=list(EVENT_FILE_TYPES),
                         type="filepath", elem_id="view-events")
        video = gr.File(label="Its video", file_types=list(VIDEO_SUFFIXES), type="filepath",
                        elem_id="view-video")
        open_files = gr.Button("Open the files", elem_id="view-open")
    with gr.Row():
        back = gr.Button("Previous event", elem_id="view-prev", size="sm", scale=0,
                         min_width=140)
        slider = gr.Slider(0.0, 1.0, value=0.0, step=0.01, label="Time (s)",
                           elem_id="view-time", interactive=False, scale=4)
        ahead = gr.Button("Next event", elem_id="view-next", size="sm", scale=0,
                          min_width=140)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=360):
            frame = gr.Image(label="Frame", format="jpeg", interactive=False,
                             elem_id="view-frame", height=FRAME_HEIGHT_PX, buttons=[])
        with gr.Column(scale=2, min_width=320):
            info = gr.HTML('<div class="viewer-info">No run opened yet.</div>',
                           elem_id="view-info")
            timeline = gr.Image(label="The whole run (white line: the time shown)",
                                format="png", interactive=False, elem_id="view-timeline",
                                buttons=[])
    common: dict[str, Any] = {"show_progress": "hidden", "concurrency_limit": None}
    shown = [slider, frame, info, timeline]
    last.click(app.on_view_last, inputs=None, outputs=shown, **common)
    open_files.click(app.on_view_files, inputs=[events, video], outputs=shown, **common)
    slider.change(app.on_view_seek, inputs=slider, outputs=[frame, info, timeline],
                  trigger_mode="always_last", **common)

    def step(direction: int) -> Callable[..., Any]:
        def on_step(time_s: float, request: gr.Request) -> Any:
            return app.on_view_step(time_s, direction, request)
        return on_step

    back.click(step(-1), inputs=slider, outputs=slider, **common)
    ahead.click(step(1), inputs=slider, outputs=slider, **common)


@dataclass(frozen=True)
class _SourceControls:
    """The widgets of a server-side tab that :func:`_wire_source` connects."""

    start: Any
    stop: Any
    reset: Any
    out: Any  # the annotated frame
    panel: _Panel


def _wire_source(app: SpotterApp, name: str, w: _SourceControls,
                 on_start: Callable[..., list[Any]], start_inputs: list[Any]) -> Any:
    """Start, Stop, Reset and the poll timer of server-side channel ``name``; the timer."""
    timer = gr.Timer(app.config.poll_s, active=False)

    def on_poll(request: gr.Request) -> list[Any]:
        return app.on_poll(name, request)

    def on_stop(request: gr.Request) -> list[Any]:
        return app.on_stop(name, request)

    def on_reset(request: gr.Request) -> list[Any]:
        return [*app.on_reset(name, request), gr.Timer(active=False)]

    common: dict[str, Any] = {"show_progress": "hidden", "concurrency_limit": None}
    panel = w.panel.outputs
    w.start.click(on_start, inputs=start_inputs, outputs=[w.out, timer, *panel], **common)
    timer.tick(on_poll, inputs=None, outputs=[w.out, timer, *panel],
               trigger_mode="always_last", **common)
    w.stop.click(on_stop, inputs=None, outputs=[timer, *panel], **common)
    w.reset.click(on_reset, inputs=None, outputs=[w.out, *panel, timer], **common)
    return timer


def default_settings(weights_dir: str | Path) -> tuple[SpotSettings, str]:
    """The Settings box's defaults: the graphs' recommended post-processing at the webcam's
    nominal 30 frames/s, and where they come from in words (the paper's setting when the
    graphs cannot be read)."""
    setting = model_recommendation(weights_dir)
    if setting is None:
        return recommended_settings(PostprocessSetting(), readable=False)
    return recommended_settings(setting)


def build_app(weights_dir: str | Path = DEFAULT_WEIGHTS, *, provider: str = "auto",
              mode: str = "cached", threads: int | None = None,
              settings: SpotSettings | None = None, demo_video: str | Path | None = None,
              demo_ground_truth: str | Path | None = None,
              concurrency: int = 4, max_upload_mb: int = 200, stream_every_s: float = 0.05,
              time_limit_s: float = 120.0, gap_s: float = 0.5, stop_s: float = 2.0,
              poll_s: float = 0.1,
              timeline_s: float = 10.0, server_source: bool = True) -> Any:
    """Build the page (``gr.Blocks``); its logic is ``blocks.spotter_app`` (a SpotterApp).

    Launch with ``blocks.queue().launch(max_file_size=f"{max_upload_mb}mb",
    js=blocks.page_js)`` (``js``: the Space key) or use
    ``python -m realtime serve``. The graphs are opened per stream, when it starts.
    """
    origin = ""
    if settings is None:
        settings, origin = default_settings(weights_dir)
    config = AppConfig(weights_dir=Path(weights_dir), provider=provider, mode=mode,
                       threads=threads, settings=settings, settings_origin=origin,
                       demo_video=None if demo_video is None else Path(demo_video),
                       demo_ground_truth=None if demo_ground_truth is None
                       else Path(demo_ground_truth),
                       concurrency=concurrency, max_upload_mb=max_upload_mb,
                       stream_every_s=stream_every_s, time_limit_s=time_limit_s, gap_s=gap_s,
                       stop_s=stop_s,
                       poll_s=poll_s, timeline_s=timeline_s, server_source=server_source)
    return build_page(SpotterApp(config))
