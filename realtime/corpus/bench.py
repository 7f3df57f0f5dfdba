"""Corpus benchmark: recordings/s and frames/s for 1 vs 2 workers, and the chunked path's cost.

``python -m realtime.corpus.bench --md docs/corpus.md --json docs/bench/corpus.json``

Builds a corpus from the built-in demo clip (``--recordings`` copies of its first ``--frames``
frames, with 3 black frames every ``--cut-every`` frames: the face leaves the view, as at a cut
in an interview recording), then runs ``python -m realtime batch`` on it in-process for each
configuration, interleaved, ``--runs`` times, each into a fresh folder, and reports medians.
Wall time covers everything a user waits for (Ray or process start-up, graph loading, decoding,
spotting, writing); "after start-up" starts once the executor is up. The chunked row runs the
same corpus cut into ``--chunk-frames`` chunks: with as many recordings as workers it buys no
parallelism, so its extra time and extra processed frames are the overhead of the exact joins.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

DEFAULT_RECORDINGS = 4
DEFAULT_FRAMES = 300
DEFAULT_CUT_EVERY = 75
DEFAULT_CHUNK_FRAMES = 100
DEFAULT_RUNS = 3


@dataclass(frozen=True)
class BenchCase:
    """One configuration of the batch command."""

    name: str
    workers: int
    chunk_frames: int = 0


@dataclass
class CaseResult:
    name: str
    workers: int
    chunk_frames: int
    backend: str
    wall_s: list[float]
    work_s: list[float]
    processed_frames: list[int]

    def median(self, values: list[float]) -> float:
        return float(statistics.median(values))


def make_corpus(folder: Path, recordings: int, frames: int, cut_every: int) -> list[Path]:
    """``recordings`` copies of the demo clip's first ``frames`` frames, with cuts."""
    import cv2
    import numpy as np

    from realtime.demo import DEMO_VIDEO

    cap = cv2.VideoCapture(str(DEMO_VIDEO))
    images = []
    while len(images) < frames:
        ok, image = cap.read()
        if not ok:
            break
        images.append(image)
    cap.release()
    if len(images) < frames:
        raise ValueError(f"the demo clip has {len(images)} frames, fewer than --frames {frames}")
    for i in range(len(images)):
        if cut_every and i % cut_every >= cut_every - 3:
            images[i] = np.zeros_like(images[i])
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for r in range(recordings):
        path = folder / f"rec{r:02d}.mp4"
        h, w = images[0].shape[:2]
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (w, h))
        for image in images:
            writer.write(image)
        writer.release()
        paths.append(path)
    return paths


def run_case(case: BenchCase, sources: list[Path], out: Path, backend: str,
             extra: list[str]) -> tuple[float, float, int, str]:
    """One batch run: (wall s, s after start-up, frames processed, executor kind)."""
    from realtime.corpus import cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args([*map(str, sources), "--out", str(out), "--workers",
                              str(case.workers), "--chunk-frames", str(case.chunk_frames),
                              "--backend", backend, "--no-progress", *extra])
    batch = cli.BatchRun(args, io.StringIO())
    started = time.perf_counter()
    code = batch.execute()
    end = time.perf_counter()
    if code != 0:
        raise RuntimeError(f"batch run {case.name} failed with exit code {code}")
    kind = batch.executor.kind if batch.executor is not None else "?"
    return end - started, end - (batch.ready_s or started), batch.processed_frames, kind


def cpu_name() -> str:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown CPU"
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    name = fields.get("Model name", "unknown CPU").strip()
    cpus = fields.get("CPU(s)", "?").strip()
    return f"{name}, {cpus} logical CPUs"


def format_markdown(report: dict[str, Any]) -> str:
    frames = report["recordings"] * report["frames"]
    lines = [
        f"Corpus: {report['recordings']} recordings x {report['frames']} frames "
        f"({frames} frames, 30 fps, 3 black frames every {report['cut_every']}), "
        f"backend {report['backend']}; {report['cpu']}; medians of {report['runs']} runs "
        f"(configurations interleaved).",
        "",
        "| configuration | recordings/s | frames/s (wall) | frames/s (after start-up) | "
        "wall s | frames processed | x 1 worker |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    base = None
    for case in report["cases"]:
        wall = statistics.median(case["wall_s"])
        work = statistics.median(case["work_s"])
        base = base or wall
        lines.append(
            f"| {case['name']} | {report['recordings'] / wall:.3f} | {frames / wall:.1f} | "
            f"{frames / work:.1f} | {wall:.1f} | {int(statistics.median(case['processed_frames']))}"
            f" | {base / wall:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m realtime.corpus.bench",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--recordings", type=int, default=DEFAULT_RECORDINGS)
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES)
    parser.add_argument("--cut-every", type=int, default=DEFAULT_CUT_EVERY)
    parser.add_argument("--chunk-frames", type=int, default=DEFAULT_CHUNK_FRAMES)
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS)
    parser.add_argument("--backend", choices=("auto", "ray", "processes"), default="auto")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="worker counts to compare (the chunked row uses the largest)")
    parser.add_argument("--provider", default="cpu", help="as batch --provider")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE")
    parser.add_argument("--md", type=Path, default=None, metavar="FILE",
                        help="write the table here (between the BENCH markers if present)")
    a = parser.parse_args(argv)
    cases = [BenchCase(f"{w} worker{'s' if w > 1 else ''}", w) for w in a.workers]
    top = max(a.workers)
    if a.chunk_frames:
        cases.append(BenchCase(f"{top} workers, chunks of {a.chunk_frames}", top,
                               a.chunk_frames))
    results = {c.name: CaseResult(c.name, c.workers, c.chunk_frames, "", [], [], [])
               for c in cases}
    with tempfile.TemporaryDirectory(prefix="corpus_bench_") as tmp:
        sources = make_corpus(Path(tmp) / "corpus", a.recordings, a.frames, a.cut_every)
        for run in range(a.runs):
            for case in cases:
                out = Path(tmp) / f"out_{run}_{case.workers}_{case.chunk_frames}"
                wall, work, frames, kind = run_case(case, sources, out, a.backend,
                                                    ["--provider", a.provider])
                r = results[case.name]
                r.wall_s.append(wall)
                r.work_s.append(work)
                r.processed_frames.append(frames)
                r.backend = kind
                print(f"run {run + 1}/{a.runs} {case.name}: {wall:.1f} s wall, "
                      f"{frames} frames processed ({kind})", file=sys.stderr, flush=True)
    report = {"recordings": a.recordings, "frames": a.frames, "cut_every": a.cut_every,
              "runs": a.runs, "backend": next(iter(results.values())).backend,
              "cpu": cpu_name(), "python": platform.python_version(),
              "cases": [asdict(r) for r in results.values()]}
    table = format_markdown(report)
    print(table)
    if a.json is not None:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(report, indent=1) + "\n")
    if a.md is not None:
        _write_table(a.md, table)
    return 0


BEGIN, END = "<!-- BENCH:BEGIN -->", "<!-- BENCH:END -->"


def _write_table(path: Path, table: str) -> None:
    text = path.read_text() if path.is_file() else ""
    block = f"{BEGIN}\n{table}{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = (text + "\n" if text else "") + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
