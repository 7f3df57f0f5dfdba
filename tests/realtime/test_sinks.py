"""Sinks: event files flushed line by line, the CSV text of the page, the overlay video, and
one close discipline (context managers, idempotent close, no writes after close)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.events import CSV_COLUMNS
from realtime.sinks import (
    CsvEventWriter,
    JsonlEventWriter,
    SinkError,
    VideoSink,
    csv_text,
    read_jsonl_events,
)
from tests.realtime.test_events import _onset, _segment


def test_jsonl_writer_flushes_each_event(tmp_path: Path):
    path = tmp_path / "out" / "events.jsonl"  # parent folder is created
    with JsonlEventWriter(path) as sink:
        sink.write(_onset())
        # readable by another process before the writer is closed
        assert [json.loads(x) for x in path.read_text().splitlines()] == [_onset().to_dict()]
        sink(_segment())  # usable as a callback
        assert len(path.read_text().splitlines()) == 2
    assert read_jsonl_events(path) == [_onset(), _segment()]
    with pytest.raises(ValueError, match=re.escape(f"{path} is closed")):
        sink.write(_onset())
    with JsonlEventWriter(path, append=True) as sink:
        sink.write_all([_segment(cut_short=True)])
    assert [e.cut_short for e in read_jsonl_events(path)] == [False, False, True]


def test_csv_writer_flushes_each_event(tmp_path: Path):
    path = tmp_path / "events.csv"
    with CsvEventWriter(path) as sink:
        sink.write(_segment(source="cam0"))
        rows = list(csv.DictReader(path.open()))
        assert len(rows) == 1
        sink.write(_onset())
    rows = list(csv.DictReader(path.open()))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[0]["offset_frame"] == "14" and rows[0]["source"] == "cam0"
    assert rows[0]["cut_short"] == "false" and rows[0]["face_id"] == ""
    assert rows[1]["offset_frame"] == "" and float(rows[1]["confidence"]) == 0.8
    with CsvEventWriter(path, append=True) as sink:  # no second header when appending
        sink.write(_onset())
    assert len(list(csv.DictReader(path.open()))) == 3


@pytest.mark.parametrize("writer", [JsonlEventWriter, CsvEventWriter])
def test_writer_errors_name_the_path(tmp_path: Path, writer):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    bad = blocker / "events.out"  # parent is a file
    with pytest.raises(SinkError, match=re.escape(str(bad))):
        writer(bad)


def test_read_jsonl_errors_name_line(tmp_path: Path):
    path = tmp_path / "e.jsonl"
    path.write_text(json.dumps(_onset().to_dict()) + "\n{\"kind\": \"onset\"}\n")
    with pytest.raises(ValueError, match=r"e.jsonl: line 2: event lacks key"):
        read_jsonl_events(path)


def test_csv_text_is_the_csv_file(tmp_path: Path):
    events = [_onset(), _segment(source="cam0", cut_short=True), _segment(face_id=3)]
    path = tmp_path / "events.csv"
    with CsvEventWriter(path) as sink:
        sink.write_all(events)
    text = csv_text(events)
    assert text == path.read_text()
    rows = list(csv.DictReader(text.splitlines()))
    assert [r["kind"] for r in rows] == ["onset", "segment", "segment"]
    assert rows[1]["cut_short"] == "true" and rows[2]["face_id"] == "3"
    assert csv_text([]) == ",".join(CSV_COLUMNS) + "\n"


def test_non_finite_numbers_become_empty(tmp_path: Path):
    event = _segment(confidence=float("nan"))
    assert json.loads(open_and_write(JsonlEventWriter, tmp_path / "a.jsonl", event)
                      )["confidence"] is None
    row = next(csv.DictReader(csv_text([event]).splitlines()))
    assert row["confidence"] == ""


def open_and_write(writer, path: Path, event) -> str:
    with writer(path) as sink:
        sink(event)
    return path.read_text()


@pytest.mark.parametrize("writer", [JsonlEventWriter, CsvEventWriter])
def test_close_is_idempotent_and_only_events_are_written(tmp_path: Path, writer):
    sink = writer(tmp_path / "e.out")
    with pytest.raises(TypeError, match="expected an Event, got dict"):
        sink.write({"kind": "onset"})
    assert sink.count == 0 and not sink.closed
    sink.close()
    sink.close()
    assert sink.closed


def test_video_sink_keeps_the_first_frame_size(tmp_path: Path) -> None:  # from test_cli_spot
    path = tmp_path / "sized.mp4"
    with VideoSink(path, fps=30.0) as sink:
        sink.write(np.zeros((240, 320, 3), np.uint8))
        sink.write(np.zeros((300, 400, 3), np.uint8))  # size changed mid-stream
    cap = cv2.VideoCapture(str(path))
    sizes = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        sizes.append(frame.shape)
    cap.release()
    assert sizes == [(240, 320, 3)] * 2


def test_video_sink_discipline(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match="folder .*no.* does not exist"):
        VideoSink(tmp_path / "no" / "v.mp4", fps=30.0)
    assert VideoSink(tmp_path / "v.avi", fps=float("nan")).fps == 30.0
    with VideoSink(tmp_path / "v.avi", fps=25.0) as sink:
        sink(np.zeros((64, 80, 3), np.uint8))
        assert sink.count == 1
    assert sink.closed and (tmp_path / "v.avi").stat().st_size > 0
    with pytest.raises(ValueError, match=r"video .*v.avi is closed"):
        sink.write(np.zeros((64, 80, 3), np.uint8))
    VideoSink(tmp_path / "never.mp4", fps=30.0).close()  # no frame: no file, no error
    assert not (tmp_path / "never.mp4").exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_video_in_an_unwritable_folder_names_the_folder() -> None:
    """Issue 12 item 7: /proc/v.mp4 was reported as a missing encoder with a '.mp4' hint."""
    with pytest.raises(SinkError, match=r"folder /proc is not writable") as info:
        VideoSink("/proc/v.mp4", 30.0)
    assert "encoder" not in str(info.value)
