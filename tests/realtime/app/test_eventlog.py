"""The event log: each event once, segments over onsets, its HTML table and downloads."""

from __future__ import annotations

import csv
import io
import json

from realtime.app import EventLog, render_downloads_html, render_log_html
from realtime.events import CSV_COLUMNS, Event
from tests.realtime.app.helpers import data_links, event


def test_event_log_keeps_each_event_once_and_shows_segments_over_onsets() -> None:
    log = EventLog()
    onset, seg = event("onset", 5), event("segment", 5, 20, "macro", cut_short=True)
    assert log.add([onset]) == 1 and log.version == 1
    assert [e.kind for e in log.shown()] == ["onset"]
    assert log.add([onset]) == 0 and log.version == 1  # a repeat changes nothing
    assert log.add([seg, onset, seg]) == 1 and log.version == 2
    later = event("onset", 30)
    log.add([later])
    assert log.events == [onset, seg, later]
    assert log.shown() == [seg, later]  # the segment replaced its onset's row
    assert log.spans(now_s=2.0) == [(5 / 30, 20 / 30, "macro"), (1.0, 2.0, "micro")]


def test_event_log_downloads_hold_every_event() -> None:
    log = EventLog()
    events = [event("onset", 3), event("segment", 3, 9, cut_short=True), event("onset", 15),
              event("segment", 15, 40, "macro")]
    log.add(events)
    rows = list(csv.DictReader(io.StringIO(log.csv_text())))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [(r["kind"], r["onset_frame"], r["offset_frame"], r["cut_short"]) for r in rows] == [
        ("onset", "3", "", "false"), ("segment", "3", "9", "true"),
        ("onset", "15", "", "false"), ("segment", "15", "40", "false")]
    objects = json.loads(log.json_text())
    assert [Event.from_dict(d) for d in objects] == events
    assert all(list(d) == list(CSV_COLUMNS) for d in objects)  # the CSV's fields, in order


def test_download_links_carry_the_files() -> None:
    assert "appear with the first event" in render_downloads_html(None, "x")
    log = EventLog()
    assert "appear with the first event" in render_downloads_html(log, "x")
    log.add([event("onset", 3), event("segment", 3, 9)])
    files = data_links(render_downloads_html(log, 'my "clip"'))
    assert set(files) == {"my &quot;clip&quot;-events.csv", "my &quot;clip&quot;-events.json"}
    assert files["my &quot;clip&quot;-events.csv"] == log.csv_text()
    assert json.loads(files["my &quot;clip&quot;-events.json"]) == json.loads(log.json_text())
    text = render_downloads_html(log, "x")  # expressions counted, not export rows
    assert "1 expression (2 rows: an onset row" in text and " events<" not in text
    log.add([event("onset", 20)])
    assert "2 expressions (3 rows" in render_downloads_html(log, "x")


def test_log_html_is_escaped_and_newest_first() -> None:
    assert "no events yet" in render_log_html([])
    shown = [event("segment", 3, 9, cut_short=True), event("onset", 15, expression="macro")]
    html = render_log_html(shown)
    assert html.index('data-onset-frame="15"') < html.index('data-onset-frame="3"')
    assert "cut short" in html and "ongoing" in html and "0.100" in html  # onset 3 / 30 s
    assert "<script" not in render_log_html([event("onset", 1)]).lower()
