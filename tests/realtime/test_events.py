"""Events: public JSON form, validation, and writers that flush every line."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from realtime.events import (
    CSV_COLUMNS,
    JSON_KEYS,
    CsvEventWriter,
    Event,
    EventSinkError,
    JsonlEventWriter,
    read_jsonl_events,
)
from realtime.vocab import Interval


def _segment(**kw) -> Event:
    args = dict(kind="segment", expression="micro", onset_frame=10, offset_frame=14,
                apex_frame=12, onset_time_s=0.333, offset_time_s=0.467, duration_s=5 / 30,
                confidence=0.91, mean_prob=0.7)
    return Event(**(args | kw))


def _onset(**kw) -> Event:
    args = dict(kind="onset", expression="macro", onset_frame=3, offset_frame=None,
                apex_frame=4, onset_time_s=0.1, offset_time_s=None, duration_s=None,
                confidence=0.8, mean_prob=0.75)
    return Event(**(args | kw))


def test_to_dict_uses_public_key_names():
    d = _segment(cut_short=True).to_dict()
    assert tuple(d) == JSON_KEYS
    assert d["onset_time"] == 0.333 and d["mean_confidence"] == 0.7 and d["cut_short"] is True
    d = _onset(source="cam0", face_id=1).to_dict()
    assert tuple(d) == JSON_KEYS + ("source", "face_id")
    assert (d["offset_frame"], d["offset_time"], d["duration"]) == (None, None, None)


@pytest.mark.parametrize("event", [_segment(), _onset(source="a.mp4", face_id=0)])
def test_json_round_trip(event):
    assert Event.from_dict(json.loads(json.dumps(event.to_dict()))) == event


@pytest.mark.parametrize("make,kwargs,match", [
    (_segment, {"kind": "start"}, "kind"),
    (_segment, {"expression": "smile"}, "expression"),
    (_segment, {"offset_frame": None}, "segment events need"),
    (_segment, {"offset_frame": 9}, "offset_frame 9 precedes"),
    (_segment, {"apex_frame": 15}, "apex_frame 15 lies outside"),
    (_onset, {"offset_frame": 5}, "onset events have no"),
    (_onset, {"onset_frame": -1}, "onset_frame"),
])
def test_validation(make, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make(**kwargs)


def test_to_interval():
    assert _segment().to_interval("s", "v") == Interval("s", "v", 10, 14, "micro")
    with pytest.raises(ValueError, match="segment"):
        _onset().to_interval("s", "v")


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
    with pytest.raises(EventSinkError, match=re.escape(str(bad))):
        writer(bad)


def test_read_jsonl_errors_name_line(tmp_path: Path):
    path = tmp_path / "e.jsonl"
    path.write_text(json.dumps(_onset().to_dict()) + "\n{\"kind\": \"onset\"}\n")
    with pytest.raises(ValueError, match=r"e.jsonl: line 2: event lacks key"):
        read_jsonl_events(path)
