"""The page's header and legend: the model's figures come from its card; messages lose paths."""

from __future__ import annotations

from pathlib import Path

from realtime.app.about import NO_CARD, header_markdown, legend_html, model_summary, strip_paths
from realtime.spotter import DEFAULT_WEIGHTS


def test_the_header_quotes_the_model_card_of_the_weights(tmp_path: Path) -> None:
    (tmp_path / "MODEL_CARD.md").write_text(
        "# Card\n\n**Read this first.** These weights spot\nnothing at all (F1 0.1234).\n\n"
        "## More\nnot quoted\n", encoding="utf-8")
    assert model_summary(tmp_path) == "These weights spot nothing at all (F1 0.1234)."
    header = header_markdown(tmp_path, micro_max_s=0.5)
    assert "F1 0.1234" in header and "not quoted" not in header
    assert "at most 0.5 s" in header and "longer than 0.5 s" in header
    assert str(tmp_path) not in header  # no server path


def test_without_a_card_the_header_says_so(tmp_path: Path) -> None:
    assert model_summary(tmp_path) == NO_CARD
    (tmp_path / "MODEL_CARD.md").write_text("# Card without the lead paragraph\n")
    assert model_summary(tmp_path) == NO_CARD


def test_the_shipped_card_gives_the_measured_figures() -> None:
    card = (DEFAULT_WEIGHTS / "MODEL_CARD.md").read_text(encoding="utf-8")
    summary = model_summary(DEFAULT_WEIGHTS)
    assert summary != NO_CARD and summary.split(" (")[0] in " ".join(card.split())
    assert "micro F1" in summary


def test_the_legend_names_colours_banner_and_labels() -> None:
    legend = legend_html()
    for words in ("micro", "macro", "Banner", "Bars", "ongoing", "cut short", "face box"):
        assert words in legend


def test_messages_lose_server_paths_and_library_names() -> None:
    upload = "/tmp/gradio/3f2a/broken.mp4"
    message = f"cannot open video file {upload}: not a video that OpenCV can decode"
    assert strip_paths(message, upload) == \
        "cannot open video file broken.mp4: not a video that the video reader can decode"
    assert strip_paths("read failed in /srv/data/x/clip.mp4 (cv2 error -215)") == \
        "read failed in clip.mp4"
