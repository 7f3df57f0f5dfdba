"""Done-markers (what a resume trusts) and the summary CSV's columns."""

from __future__ import annotations

from pathlib import Path

from realtime.corpus.inputs import Recording
from realtime.corpus.output import (
    error_row,
    event_paths,
    finished_row,
    read_summary,
    recordings_dir,
    write_marker,
    write_summary,
)
from realtime.corpus.work import WorkerConfig
from realtime.postprocess import PostprocessChoice


def test_a_marker_is_trusted_only_for_the_same_file_and_settings(tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    video.write_bytes(b"123")
    rec = Recording(name="v", path=str(video))
    out = tmp_path / "out"
    recordings_dir(out).mkdir(parents=True)
    config = WorkerConfig(weights="/w")
    assert finished_row(out, rec, config) is None  # nothing yet
    for path in event_paths(out, "v")[:2]:
        path.write_text("")
    write_marker(out, rec, config, {"recording": "v", "status": "ok"})
    assert finished_row(out, rec, config) == {"recording": "v", "status": "ok",
                                              "from_earlier_run": True}
    # Threads and provider do not change events; merging settings do.
    assert finished_row(out, rec, WorkerConfig(weights="/w", threads=4)) is not None
    assert finished_row(out, rec, WorkerConfig(
        weights="/w", postprocess=PostprocessChoice(merge_gap_frames=3))) is None
    event_paths(out, "v")[1].unlink()  # an event file is gone: redo
    assert finished_row(out, rec, config) is None
    event_paths(out, "v")[1].write_text("")
    video.write_bytes(b"1234")  # another file under the same name: redo
    assert finished_row(out, rec, config) is None
    event_paths(out, "v")[2].write_text("{not json")
    assert finished_row(out, rec, config) is None


def test_summary_columns_put_expression_types_after_the_counts(tmp_path: Path) -> None:
    rows = [{"recording": "a", "status": "ok", "frames": 3, "macro": 2, "micro": 1,
             "expression": 1, "from_earlier_run": False},
            error_row(Recording("b", "/b.mp4"), "cannot open /b.mp4")]
    path = write_summary(tmp_path, rows)
    header = path.read_text().splitlines()[0].split(",")
    assert header[header.index("segments") + 1:header.index("cut_short")] == [
        "micro", "macro", "expression"]
    a, b = read_summary(tmp_path)
    assert (a["micro"], a["macro"], a["from_earlier_run"]) == ("1", "2", "false")
    assert (b["status"], b["micro"], b["error"]) == ("error", "0", "cannot open /b.mp4")
