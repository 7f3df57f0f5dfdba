"""Format detection and the one entry point that reads any supported dataset folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .casme2 import casme2_workbook, load_casme2
from .frames import find_child
from .generic import load_generic
from .items import Dataset, DatasetError
from .samm import load_samm_lv, samm_workbook

FORMATS: tuple[str, ...] = ("auto", "casme2", "samm", "generic")


def detect_format(root: str | Path) -> str:
    """``"casme2"``, ``"samm"`` or ``"generic"`` from the files present in ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {root}")
    if (root / "annotations.csv").is_file():
        return "generic"
    if find_child(root, "rawpic", want_dir=True) and casme2_workbook(root, required=False):
        return "casme2"
    if find_child(root, "SAMM_longvideos", want_dir=True) and samm_workbook(root, False):
        return "samm"
    raise DatasetError(
        f"cannot tell the dataset format of {root}: expected annotations.csv (generic), "
        f"rawpic/ + *code_final*.xlsx (CAS(ME)^2) or SAMM_longvideos/ + "
        f"SAMM_LongVideos*.xlsx (SAMM Long Videos)")


def load_dataset(root: str | Path, fmt: str = "auto", **kwargs: Any) -> Dataset:
    """Read a dataset folder; ``fmt`` is one of ``auto``, ``casme2``, ``samm``, ``generic``.

    Extra keyword arguments go to the generic reader (``fps``).
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    if fmt == "auto":
        fmt = detect_format(root)
    if fmt == "casme2":
        return load_casme2(root)
    if fmt == "samm":
        return load_samm_lv(root)
    return load_generic(root, **kwargs)
