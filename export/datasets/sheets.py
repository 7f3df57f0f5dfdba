"""Shared helpers for annotation spreadsheets (.xlsx workbooks and CSV files).

Cells arrive as ints, floats, text or None depending on who saved the file; these helpers read
them the same way for every format, and turn a sheet's 1-based frame numbers into 0-based
positions in a video's frame list.
"""

from __future__ import annotations

import bisect
import csv
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from realtime.vocab import EXPRESSION_TYPES

from .items import Annotation, DatasetError


def read_workbook(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """All sheets of an .xlsx as lists of value rows (row 1 first)."""
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for bad files
        raise DatasetError(f"cannot read workbook {path}: {exc}") from exc
    try:
        return {ws.title: [tuple(r) for r in ws.iter_rows(values_only=True)]
                for ws in book.worksheets}
    finally:
        book.close()


def read_csv(path: Path, required: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a CSV as stripped strings, with their 1-based line numbers; checks the header."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise DatasetError(f"{path}: empty file (expected header {','.join(required)})")
        names = [h.strip().lower() for h in header]
        missing = [c for c in required if c not in names]
        if missing:
            raise DatasetError(f"{path} line 1: missing column(s) {missing}; header is {header}")
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            if len(values) > len(names):
                raise DatasetError(f"{path} line {reader.line_num}: {len(values)} values but "
                                   f"{len(names)} columns")
            row = {n: (values[i].strip() if i < len(values) else "") for i, n in enumerate(names)}
            yield reader.line_num, row


def to_int(value: Any, strict: bool = False) -> int | None:
    """Whole number from an int, a float (rounded unless ``strict``) or text; None if empty."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        if strict and not value.is_integer():
            return None
        return int(round(value))
    text = str(value).strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    if strict and not number.is_integer():
        return None
    return int(round(number))


def cell_text(value: Any) -> str:
    """A cell as stripped text; a whole float prints without its ``.0``; None is empty."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def row_empty(row: Sequence[Any]) -> bool:
    return all(cell_text(c) == "" for c in row)


def expression_type(cell: Any, where: str, fallback: Sequence[Any] = ()) -> str:
    """"micro" or "macro" from a type cell ("Micro - 1/2", "macro-expression"), else from the
    first of ``fallback`` that names one."""
    for value in (cell, *fallback):
        text = cell_text(value).lower()
        for kind in EXPRESSION_TYPES:
            if text.startswith(kind):
                return kind
    raise DatasetError(f"{where}: expression type {cell!r} is neither micro nor macro")


def sheet_annotation(subject: str, video: str, onset: int | None, apex: int | None,
                     offset: int | None, kind: str, numbers: list[int], where: str
                     ) -> Annotation:
    """An annotation from 1-based spreadsheet frame numbers (0 / -1 meaning "not coded").

    ``numbers`` are the video's frame numbers in frame order; a number falling in a gap goes
    to the next existing frame, one past the end to the last frame.
    """
    known = [n if n is not None and n > 0 else None for n in (onset, apex, offset)]
    on, ap, off = known
    if on is None:
        on = ap
    if off is None:
        off = ap
    if on is None or off is None:
        raise DatasetError(f"{where}: needs an onset and an offset (or an apex), got "
                           f"onset={onset} apex={apex} offset={offset}")
    if on > off:
        raise DatasetError(f"{where}: onset {on} is after offset {off}")
    first, last = _frame_index(numbers, on), _frame_index(numbers, off)
    if ap is None:
        mid = (first + last) // 2
    else:
        mid = min(max(_frame_index(numbers, ap), first), last)
    return Annotation(subject, video, first, mid, last, kind)  # type: ignore[arg-type]


def _frame_index(numbers: list[int], number: int) -> int:
    """0-based position of the frame numbered ``number`` (next existing one; last if beyond)."""
    return min(bisect.bisect_left(numbers, number), len(numbers) - 1)
