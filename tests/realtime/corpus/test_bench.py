"""The corpus benchmark's pieces that need no timing: the corpus it builds, its table."""

from __future__ import annotations

from pathlib import Path

import cv2

from realtime.corpus.bench import BEGIN, END, _write_table, format_markdown, make_corpus


def test_make_corpus_writes_copies_with_black_cuts(tmp_path: Path) -> None:
    paths = make_corpus(tmp_path, recordings=2, frames=12, cut_every=6)
    assert [p.name for p in paths] == ["rec00.mp4", "rec01.mp4"]
    cap = cv2.VideoCapture(str(paths[1]))
    means = []
    while (frame := cap.read())[0]:
        means.append(float(frame[1].mean()))
    cap.release()
    assert len(means) == 12
    assert [m < 5 for m in means] == [False, False, False, True, True, True] * 2


def test_table_medians_and_marker_replacement(tmp_path: Path) -> None:
    report = {"recordings": 2, "frames": 100, "cut_every": 50, "runs": 3, "backend": "ray",
              "cpu": "a CPU", "cases": [
                  {"name": "1 worker", "wall_s": [10.0, 30.0, 20.0], "work_s": [8, 9, 10],
                   "processed_frames": [200, 200, 200]},
                  {"name": "2 workers", "wall_s": [10.0, 11.0, 9.0], "work_s": [5, 5, 5],
                   "processed_frames": [200, 200, 200]}]}
    table = format_markdown(report)
    assert "| 1 worker | 0.100 | 10.0 | 22.2 | 20.0 | 200 | 1.00 |" in table
    assert "| 2 workers | 0.200 | 20.0 | 40.0 | 10.0 | 200 | 2.00 |" in table
    doc = tmp_path / "corpus.md"
    doc.write_text(f"# Title\n\n{BEGIN}\nold\n{END}\n\nafter\n")
    _write_table(doc, table)
    text = doc.read_text()
    assert "old" not in text and text.startswith("# Title") and text.endswith("after\n")
    assert text.count(BEGIN) == 1 and table in text
