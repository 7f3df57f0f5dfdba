"""What the page says about itself: the header (what is spotted, what micro and macro mean,
what the loaded model can and cannot do) and the legend of colours, banner and labels.

The model's measured figures are read from the model card next to the graphs
(``MODEL_CARD.md``, its "Read this first." paragraph), never written into the page's code: a
different weights folder brings its own card, and a folder without one says so.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from realtime.contract import CONTRACT_KEY, GRAPH_FILES, Contract
from realtime.overlay import EXPRESSION_COLORS, STATUS_COLORS
from realtime.postprocess import PostprocessConfig, PostprocessSetting

MODEL_CARD = "MODEL_CARD.md"
CARD_LEAD = "**Read this first.**"
NO_CARD = ("No model card came with these graphs (MODEL_CARD.md in the weights folder), so "
           "what they can spot is not known: treat every event as unverified.")


def model_summary(weights_dir: str | Path) -> str:
    """The model card's "Read this first." paragraph (Markdown, one line), or :data:`NO_CARD`
    when the weights folder has no card or the card lacks that paragraph."""
    card = Path(weights_dir) / MODEL_CARD
    try:
        text = card.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return NO_CARD
    start = text.find(CARD_LEAD)
    if start < 0:
        return NO_CARD
    paragraph = text[start + len(CARD_LEAD):].split("\n\n", 1)[0]
    return " ".join(paragraph.split())


def model_recommendation(weights_dir: str | Path) -> PostprocessSetting | None:
    """The recommended post-processing in the contract of the head graph in ``weights_dir``
    (read from its metadata, without loading the weights); None when it cannot be read."""
    import onnx
    from google.protobuf.message import DecodeError

    head = Path(weights_dir) / GRAPH_FILES["head"]
    try:
        model = onnx.load(str(head), load_external_data=False)
        meta = {p.key: p.value for p in model.metadata_props}
        return Contract.from_json(meta[CONTRACT_KEY], head.name).recommended
    except (OSError, KeyError, ValueError, DecodeError):  # missing, foreign or stale graphs:
        return None  # the spotter says why when a stream starts


def _hex(bgr: tuple[int, int, int]) -> str:
    b, g, r = bgr
    return f"#{r:02x}{g:02x}{b:02x}"


def header_markdown(weights_dir: str | Path, micro_max_s: float | None = None) -> str:
    """The page's header: what it does, micro vs macro by duration, and the model's figures."""
    limit = PostprocessConfig().micro_max_s if micro_max_s is None else micro_max_s
    return (
        "## Facial micro-expression spotter (STSNet_SW)\n"
        "Watches every face in a video (up to 4, each on its own) and reports **facial "
        "expressions as they happen**: when "
        "each starts (onset), when it ends (offset) and its type. A **micro-expression** is a "
        f"brief, involuntary movement lasting at most {limit:g} s; a **macro-expression** is an "
        f"ordinary one, longer than {limit:g} s. It does not say which emotion was shown.\n\n"
        f"**What this model can do** (from its model card): {model_summary(weights_dir)}")


def legend_html() -> str:
    """The legend: event colours (log rows, timeline, banner), face-box colours, labels."""
    def swatch(color: str, name: str, what: str) -> str:
        return (f'<li><span style="display:inline-block;width:0.9em;height:0.9em;'
                f'background:{color};margin-right:0.4em;vertical-align:middle"></span>'
                f"<b>{html.escape(name)}</b>: {html.escape(what)}</li>")

    events = [
        swatch(_hex(EXPRESSION_COLORS["micro"]), "micro", "a micro-expression"),
        swatch(_hex(EXPRESSION_COLORS["macro"]), "macro", "a macro-expression"),
        swatch(_hex(EXPRESSION_COLORS["expression"]), "expression",
               "an expression whose type is decided by its length when it ends "
               "(duration relabelling)"),
    ]
    boxes = [
        swatch(_hex(STATUS_COLORS["ok"]), "face box, green", "face found and classified"),
        swatch(_hex(STATUS_COLORS["at_edge"]), "face box, yellow",
               "face cut by the frame edge (still classified)"),
        swatch(_hex(STATUS_COLORS["too_small"]), "face box, red", "face too small to classify"),
        swatch(_hex(STATUS_COLORS["unconfirmed"]), "face box, grey",
               "a possible face, not yet confirmed (not classified)"),
    ]
    return (
        '<details class="legend"><summary><b>Legend</b> (colours, banner, bars, log)</summary>'
        '<div style="display:flex;flex-wrap:wrap;gap:0 2em">'
        f'<ul style="list-style:none;padding:0;margin:0.3em 0">{"".join(events)}</ul>'
        f'<ul style="list-style:none;padding:0;margin:0.3em 0">{"".join(boxes)}</ul>'
        '<ul style="padding-left:1.2em;margin:0.3em 0;max-width:36em">'
        "<li><b>Banner</b> (coloured border with a caption on the frame): an event just "
        "happened, in its type's colour: <i>onset @ N</i> when an expression starts at frame "
        "N, <i>A-B</i> when it ends.</li>"
        "<li><b>Bars</b>: the model's probability of each class for the latest window of "
        "5 frames; the label above them is its current call (<i>none</i>: no expression).</li>"
        "<li><b>Log rows</b>: one per expression, newest first; the left border is its "
        "colour. <i>ongoing</i>: not ended yet; <i>cut short</i>: ended early because the "
        "face was lost, the stream stopped or the video ended.</li>"
        "<li><b>Several faces</b>: once a second face is seen, each face's box, number and "
        "label are drawn in its own colour (no bars) and the log gains a <i>face</i> column "
        "in the same colours. <i>face 0</i> is the first face seen: its events have an empty "
        "<i>face_id</i> in the downloads, the others 1, 2, ...</li></ul></div></details>")


def strip_paths(message: str, *paths: str | Path) -> str:
    """``message`` without server paths (each given path shown by its file name, any other
    absolute path by its last part) or library names: what a visitor of the page may see."""
    text = message
    for p in paths:
        if p:
            text = text.replace(str(p), Path(p).name)
    text = re.sub(r"(?<![\w.])/(?:[^\s/:'\"()]+/)+([^\s/:'\"()]+)", r"\1", text)
    text = re.sub(r"\s*\((?:[^()]*\b(?:OpenCV|cv2|FFmpeg|ffmpeg|onnxruntime|mediapipe)\b[^()]*)\)",
                  "", text)
    return re.sub(r"\b(?:OpenCV|cv2|FFmpeg|ffmpeg)\b", "the video reader", text)
