"""A corpus run's files: per-recording events, done-markers and the summary CSV.

Layout under ``--out DIR``::

    DIR/summary.csv                   one row per recording (this run's and earlier runs')
    DIR/recordings/NAME.jsonl         the events, as ``spot --events-out`` writes them
    DIR/recordings/NAME.csv           the events, as ``spot --csv-out`` writes them
    DIR/recordings/NAME.done.json     written last: the recording is finished

Summary columns: ``face_frames`` / ``face_time_s`` count the frames (seconds) with at least one
usable face crop: with several faces a frame counts once, however many faces it has, so face
time never exceeds the duration; ``faces`` is the number of distinct faces (face ids given;
with ``--max-faces 1``, which tells no faces apart: 1 when a face was spotted, else 0).

A done-marker holds the recording's signature (path, size, modification time), the settings
that shape events and its summary row; a rerun skips a recording only when all three match, so
a partial recording (no marker: the run stopped while it was being written) or a changed one is
done again. Markers are written to a temporary name and renamed, so one is whole or absent.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from realtime.corpus.inputs import Recording
from realtime.corpus.stitch import Stitched
from realtime.corpus.work import CROP_STATUSES, WorkerConfig
from realtime.sinks import CsvEventWriter, JsonlEventWriter, SinkError
from realtime.vocab import EXPRESSION_TYPES

SUMMARY_NAME = "summary.csv"
RECORDINGS_DIR = "recordings"
MARKER_VERSION = 1
# Settings that do not change events (and so do not invalidate a done-marker).
_NEUTRAL_SETTINGS = ("provider", "threads")
BASE_COLUMNS = ("recording", "source", "status", "frames", "fps", "duration_s", "face_frames",
                "face_time_s", "faces", "onsets", "segments")
TAIL_COLUMNS = ("cut_short", "tasks", "reruns", "elapsed_s", "worker", "from_earlier_run",
                "error")


def recordings_dir(out: Path) -> Path:
    return out / RECORDINGS_DIR


def event_paths(out: Path, name: str) -> tuple[Path, Path, Path]:
    """(JSONL, CSV, done-marker) of recording ``name``."""
    base = recordings_dir(out)
    return base / f"{name}.jsonl", base / f"{name}.csv", base / f"{name}.done.json"


def settings_key(config: WorkerConfig) -> dict[str, Any]:
    d = asdict(config)
    for key in _NEUTRAL_SETTINGS:
        d.pop(key, None)
    return d


def summary_row(rec: Recording, result: Stitched) -> dict[str, Any]:
    """The summary row of one processed recording."""
    counts = result.status_counts
    face = sum(counts.get(s, 0) for s in CROP_STATUSES)
    fps = result.fps if result.fps > 0 else 0.0
    segments = [e for e in result.events if e.kind == "segment"]
    row: dict[str, Any] = {
        "recording": rec.name, "source": rec.path,
        "status": "error" if result.error else "ok", "frames": result.frames,
        "fps": round(fps, 3), "duration_s": round(result.frames / fps, 3) if fps else "",
        "face_frames": face, "face_time_s": round(face / fps, 3) if fps else "",
        "faces": result.faces if result.faces is not None else int(face > 0),
        "onsets": sum(e.kind == "onset" for e in result.events), "segments": len(segments),
        "cut_short": sum(bool(e.cut_short) for e in segments),
        "tasks": len(result.tasks), "reruns": result.reruns,
        "elapsed_s": round(sum(t.elapsed_s for t in result.tasks), 3),
        "worker": ";".join(sorted({t.worker for t in result.tasks if t.worker})),
        "from_earlier_run": False, "error": result.error or "",
    }
    for e in segments:
        row[e.expression] = row.get(e.expression, 0) + 1
    for name in result.class_names[1:]:
        row.setdefault(name, 0)
    return row


def error_row(rec: Recording, error: str) -> dict[str, Any]:
    """The summary row of a recording that could not be processed at all."""
    return {"recording": rec.name, "source": rec.path, "status": "error", "error": error,
            "from_earlier_run": False}


def write_events(out: Path, name: str, result: Stitched) -> None:
    """The recording's JSONL and CSV event files (exactly as ``spot`` writes them)."""
    jsonl, csv_path, _ = event_paths(out, name)
    with JsonlEventWriter(jsonl) as j, CsvEventWriter(csv_path) as c:
        for event in result.events:
            j.write(event)
            c.write(event)


def write_marker(out: Path, rec: Recording, config: WorkerConfig, row: Mapping[str, Any]
                 ) -> None:
    """The done-marker, last: atomically (temporary file, then rename)."""
    _, _, marker = event_paths(out, rec.name)
    data = {"version": MARKER_VERSION, "recording": rec.signature(),
            "settings": settings_key(config), "row": dict(row)}
    tmp = marker.with_name(marker.name + ".tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(tmp, marker)
    except OSError as exc:
        raise SinkError(f"cannot write done-marker {marker}: {exc.strerror or exc}") from exc


def finished_row(out: Path, rec: Recording, config: WorkerConfig) -> dict[str, Any] | None:
    """The summary row of an earlier run when ``rec`` is finished with these settings, else
    None (no marker, a damaged one, another file or other settings, an event file missing)."""
    jsonl, csv_path, marker = event_paths(out, rec.name)
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
        ok = (data.get("version") == MARKER_VERSION
              and data.get("recording") == rec.signature()
              and data.get("settings") == settings_key(config)
              and jsonl.is_file() and csv_path.is_file())
    except (OSError, ValueError, AttributeError):
        return None
    if not ok:
        return None
    row = dict(data["row"])
    row["from_earlier_run"] = True
    return row


def write_summary(out: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """``summary.csv``: fixed columns, then one column per expression type, then the rest."""
    rows = list(rows)
    extra = {k for r in rows for k in r} - set(BASE_COLUMNS) - set(TAIL_COLUMNS)
    types = [t for t in EXPRESSION_TYPES if t in extra] + sorted(extra - set(EXPRESSION_TYPES))
    columns = [*BASE_COLUMNS, *types, *TAIL_COLUMNS]
    path = out / SUMMARY_NAME
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            for r in rows:
                writer.writerow({c: _cell(r.get(c, 0 if c in types else "")) for c in columns})
        os.replace(tmp, path)
    except OSError as exc:
        raise SinkError(f"cannot write summary {path}: {exc.strerror or exc}") from exc
    return path


def read_summary(out: Path) -> list[dict[str, str]]:
    with (out / SUMMARY_NAME).open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _cell(value: Any) -> Any:
    if value is True or value is False:
        return "true" if value else "false"
    return value
