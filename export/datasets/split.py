"""A dataset's own subject split (``split.csv``: ``subject,split[,...]``, as SynthME2 writes it).

Training (``train --protocol dataset``), pretraining and the baselines read the split from the
dataset instead of subject lists typed on the command line.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .items import DatasetError

SPLIT_FILE = "split.csv"


def read_split(data: Path) -> dict[str, str]:
    """subject -> split name from ``data/split.csv``; empty when the dataset has none."""
    path = Path(data) / SPLIT_FILE
    if not path.is_file():
        return {}
    try:
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    if rows and not {"subject", "split"} <= set(rows[0]):
        raise DatasetError(f"{path}: needs the columns subject,split")
    return {r["subject"]: r["split"] for r in rows}


def subjects_in(split: dict[str, str], name: str) -> list[str]:
    """Sorted subjects of one split (DatasetError naming the splits there are when none)."""
    subjects = sorted(s for s, sp in split.items() if sp == name)
    if not subjects:
        raise DatasetError(f"no subject in split {name!r} (splits: {sorted(set(split.values()))})")
    return subjects
