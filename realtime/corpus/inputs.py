"""The recordings of a corpus: SOURCES (files, folders, globs, list files) -> :class:`Recording`.

- a video file is one recording;
- a folder holding video files gives each of them (recursively, natural name order); a folder
  holding only images is one recording (an image sequence, as ``spot --source`` reads it);
- a glob (``data/**/*.mp4``) gives what it matches, expanded the same way;
- a list file (``@list.txt``, or any ``.txt`` / ``.list`` file) gives one source per line,
  relative to the list's folder; blank lines and ``#`` comments are skipped.

Each recording gets a stable output name (its path relative to the recordings' common folder,
``/`` -> ``__``, the suffix dropped unless two recordings would collide), so a rerun over the same
SOURCES finds its earlier outputs. Problems (a missing path, an empty folder, a glob matching
nothing) raise :class:`CorpusInputError` naming the source.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from realtime.vocab import is_image_file, is_video_file, natural_key

LIST_SUFFIXES = (".txt", ".list")
_GLOB_CHARS = set("*?[")


class CorpusInputError(ValueError):
    """A SOURCES entry that names no recording (the message names it)."""


@dataclass(frozen=True)
class Recording:
    """One recording of the corpus.

    name: output name (unique in the corpus; files are ``<name>.jsonl``, ``<name>.csv``).
    path: absolute path of the video file or image folder.
    """

    name: str
    path: str

    def signature(self) -> dict[str, int | str]:
        """Path, size and modification time: a done-marker is valid only for the same file."""
        p = Path(self.path)
        st = p.stat()
        size = st.st_size if p.is_file() else sum(1 for _ in p.iterdir())
        return {"path": self.path, "size": int(size), "mtime_ns": int(st.st_mtime_ns)}


def _folder_recordings(folder: Path) -> list[Path]:
    videos = sorted((p for p in folder.rglob("*") if p.is_file() and is_video_file(p)),
                    key=lambda p: [natural_key(part) for part in p.relative_to(folder).parts])
    if videos:
        return videos
    if any(p.is_file() and is_image_file(p) for p in folder.iterdir()):
        return [folder]
    raise CorpusInputError(f"folder {folder} holds no video files and no images")


def _path_recordings(path: Path, spec: str) -> list[Path]:
    if path.is_dir():
        return _folder_recordings(path)
    if path.is_file():
        if path.suffix.lower() in LIST_SUFFIXES:
            return _list_recordings(path)
        return [path]
    raise CorpusInputError(f"source {spec!r}: no such file or folder")


def _list_recordings(list_file: Path) -> list[Path]:
    try:
        lines = list_file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CorpusInputError(f"cannot read list file {list_file}: "
                               f"{exc.strerror or exc}") from None
    out: list[Path] = []
    for number, line in enumerate(lines, start=1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        try:
            out += _spec_recordings(entry, list_file.parent)
        except CorpusInputError as exc:
            raise CorpusInputError(f"{list_file}: line {number}: {exc}") from None
    return out


def _spec_recordings(spec: str, base: Path) -> list[Path]:
    if spec.startswith("@"):
        return _list_recordings(_absolute(spec[1:], base))
    if _GLOB_CHARS & set(spec):
        pattern = spec if os.path.isabs(spec) else str(base / spec)
        matches = sorted(glob.glob(pattern, recursive=True), key=natural_key)
        if not matches:
            raise CorpusInputError(f"glob {spec!r} matches nothing")
        out: list[Path] = []
        for m in matches:
            p = Path(m).resolve()
            if p.is_dir():
                out += _folder_recordings(p)
            elif p.is_file() and is_video_file(p):
                out.append(p)
        return out
    return _path_recordings(_absolute(spec, base), spec)


def _absolute(spec: str, base: Path) -> Path:
    p = Path(spec).expanduser()
    return (p if p.is_absolute() else base / p).resolve()


def _names(paths: list[Path]) -> list[str]:
    if len(paths) == 1:
        return [paths[0].stem if paths[0].is_file() else paths[0].name]
    root = Path(os.path.commonpath([str(p.parent) for p in paths]))

    def name(p: Path, keep_suffix: bool) -> str:
        rel = p.relative_to(root)
        text = str(rel) if keep_suffix or p.is_dir() else str(rel.with_suffix(""))
        return text.replace(os.sep, "__").replace(".", "_") if keep_suffix else \
            text.replace(os.sep, "__")

    plain = [name(p, False) for p in paths]
    return [name(p, True) if plain.count(n) > 1 else n for p, n in zip(paths, plain, strict=True)]


def expand_sources(specs: list[str], base: str | Path | None = None) -> list[Recording]:
    """Every recording named by ``specs`` (relative paths against ``base``, default the current
    folder), each once, in the order given; raises CorpusInputError for an entry with none."""
    if not specs:
        raise CorpusInputError("no SOURCES given (files, folders, globs or a list file)")
    folder = Path(base) if base is not None else Path.cwd()
    seen: dict[Path, None] = {}
    for spec in specs:
        for p in _spec_recordings(str(spec), folder):
            seen.setdefault(p.resolve(), None)
    paths = list(seen)
    return [Recording(name=n, path=str(p)) for p, n in zip(paths, _names(paths), strict=True)]
