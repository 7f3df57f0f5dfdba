"""One stream's event log (each event once, onsets replaced by their segments) and its HTML:
the log table and the CSV/JSON download links.

With several faces (:class:`~realtime.multiface.MultiSpotter`) each event is one face's: the
table gains a "face" column (the face's number and colour on the video; the first face seen
is face 0, whose events carry no ``face_id``, an empty cell in the CSV and null in the JSON,
as ``spot`` writes them); with one face the table is as before."""

from __future__ import annotations

import base64
import html
import json
import threading
from collections.abc import Sequence
from typing import Any

from realtime.events import CSV_COLUMNS, Event
from realtime.overlay import EXPRESSION_COLORS, face_color
from realtime.sinks import csv_text

LOG_COLUMNS = ("#", "expression", "onset (s)", "offset (s)", "duration (s)", "confidence",
               "frames", "note")
COLUMN_TIPS = {
    "onset (s)": "time of the first frame of the expression, seconds from the start",
    "offset (s)": "time of its last frame",
    "duration (s)": "offset - onset plus one frame (the last frame is included)",
    "confidence": "the model's highest probability for this expression's type",
    "frames": "first-last frame numbers (0-based, inclusive)",
    "note": "ongoing: not ended yet; cut short: ended by a face loss, a stop or the end",
    "face": "whose expression: the face's number and colour on the video (face 0 is the first "
            "face seen; its events have an empty face_id in the downloads)",
}
FACE_COLUMN = "face"  # shown after "#" once an event of a face other than the first is logged


def plural(n: int, word: str) -> str:
    """"1 expression", "2 expressions"."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _event_key(event: Event) -> tuple[Any, ...]:
    return (event.face_id, event.kind, event.expression, event.onset_frame, event.offset_frame)


def face_number(event: Event) -> int:
    """The face an event belongs to, as the page shows it (the first face, no id: 0)."""
    return 0 if event.face_id is None else event.face_id


class EventLog:
    """The events of one stream, in order, each once; and the rows the page shows.

    An onset event shows as an "ongoing" row that its segment event (same onset frame) replaces.
    ``version`` grows with every change, so a poll can tell whether the page is stale.
    Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._keys: set[tuple[Any, ...]] = set()
        # (face id, onset frame) -> latest event for that expression
        self._rows: dict[tuple[int | None, int], Event] = {}
        self.version = 0

    def add(self, events: Sequence[Event]) -> int:
        """Append the events not seen before; return how many were new."""
        added = 0
        with self._lock:
            for event in events:
                key = _event_key(event)
                if key in self._keys:
                    continue
                self._keys.add(key)
                self._events.append(event)
                row = (event.face_id, event.onset_frame)
                shown = self._rows.get(row)
                if shown is None or shown.kind == "onset":
                    self._rows[row] = event
                added += 1
            if added:
                self.version += 1
        return added

    @property
    def events(self) -> list[Event]:
        """Every event added, in order (a copy)."""
        with self._lock:
            return list(self._events)

    def shown(self) -> list[Event]:
        """One event per expression: the segment when known, else its onset."""
        with self._lock:
            return list(self._rows.values())

    def spans(self, now_s: float) -> list[tuple[float, float, str]]:
        """(start s, end s, expression) of each shown event; ongoing ones end at ``now_s``."""
        return [(e.onset_time_s, e.offset_time_s if e.offset_time_s is not None else now_s,
                 e.expression) for e in self.shown()]

    def csv_text(self) -> str:
        """All events (onsets and segments) as CSV, the file of ``spot --csv-out``."""
        return csv_text(self.events)

    def json_text(self) -> str:
        """All events as a JSON array of :meth:`Event.to_dict` objects, each with every CSV
        column (unset optional fields as null), so both files carry the same fields."""
        rows = [{key: e.to_dict().get(key) for key in CSV_COLUMNS} for e in self.events]
        return json.dumps(rows, indent=1) + "\n"

    def expressions(self) -> int:
        """Expressions logged (an onset and its segment are one expression)."""
        with self._lock:
            return len(self._rows)


def _log_cells(number: int, e: Event) -> list[str]:
    """The :data:`LOG_COLUMNS` cells of one shown event (times in seconds)."""
    if e.kind == "onset":
        offset, duration, frames, note = "", "", f"{e.onset_frame}-", "ongoing"
    else:
        offset, duration = f"{e.offset_time_s:.3f}", f"{e.duration_s:.3f}"
        frames = f"{e.onset_frame}-{e.offset_frame}"
        note = "cut short" if e.cut_short else ""
    return [str(number), e.expression, f"{e.onset_time_s:.3f}", offset, duration,
            f"{e.confidence:.2f}", frames, note]


def _hex(bgr: tuple[int, int, int]) -> str:
    """A BGR colour as an HTML (RGB) colour."""
    b, g, r = bgr
    return f"#{r:02x}{g:02x}{b:02x}"


def _face_cell(e: Event, cell: str) -> str:
    """The "face" cell: the face's number on a swatch of its overlay colour."""
    n = face_number(e)
    return (f'<td style="{cell}"><span style="display:inline-block;width:0.8em;height:0.8em;'
            f'margin-right:0.3em;background:{_hex(face_color(n))}"></span>face {n}</td>')


def render_log_html(shown: Sequence[Event]) -> str:
    """The event log as an HTML table, newest first (rows carry ``data-kind``,
    ``data-onset-frame`` and, with several faces, ``data-face`` for scripts and tests)."""
    cell = "padding:2px 8px;border-bottom:1px solid #8884;text-align:left"
    faces = any(e.face_id is not None for e in shown)
    columns = (LOG_COLUMNS[0], FACE_COLUMN, *LOG_COLUMNS[1:]) if faces else LOG_COLUMNS
    head = "".join(f'<th style="{cell}" title="{html.escape(COLUMN_TIPS.get(c, ""))}">'
                   f"{html.escape(c)}</th>" for c in columns)
    rows = []
    for number, e in reversed(list(enumerate(shown, start=1))):
        values = [f'<td style="{cell}">{html.escape(v)}</td>' for v in _log_cells(number, e)]
        if faces:
            values.insert(1, _face_cell(e, cell))
        face = f' data-face="{face_number(e)}"' if faces else ""
        rows.append(f'<tr data-kind="{e.kind}" data-onset-frame="{e.onset_frame}"{face} '
                    f'style="border-left:4px solid '
                    f'{_hex(EXPRESSION_COLORS.get(e.expression, (200, 200, 200)))}">'
                    f'{"".join(values)}</tr>')
    body = "".join(rows) or (f'<tr><td colspan="{len(columns)}" style="{cell}">'
                             "no events yet</td></tr>")
    return ('<div style="max-height:320px;overflow:auto">'
            '<table class="event-log" style="width:100%;border-collapse:collapse;'
            f'font-variant-numeric:tabular-nums"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def render_downloads_html(log: EventLog | None, stem: str) -> str:
    """Links that save the events as CSV and JSON. The files travel inside the links (data
    URLs), so they never expire from a server cache and need no request."""
    if log is None or not log.events:
        return '<p class="downloads">Downloads (CSV, JSON) appear with the first event.</p>'
    links = []
    for kind, mime, text in (("csv", "text/csv", log.csv_text()),
                             ("json", "application/json", log.json_text())):
        data = base64.b64encode(text.encode("utf-8")).decode("ascii")
        name = html.escape(f"{stem}-events.{kind}", quote=True)
        links.append(f'<a download="{name}" href="data:{mime};charset=utf-8;base64,{data}" '
                     f'style="margin-right:1.5em">Download events ({kind.upper()})</a>')
    rows = len(log.events)
    return (f'<p class="downloads">{"".join(links)} '
            f'<span class="counts">{plural(log.expressions(), "expression")} '
            f"({plural(rows, 'row')}: an onset row when each starts, a segment row when it "
            "ends)</span></p>")
