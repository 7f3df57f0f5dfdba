"""``python -m realtime batch SOURCES... --out DIR``: spot expressions in a whole corpus.

Every recording is processed in full (no frame dropped) by the same spotter as
``python -m realtime spot --source FILE`` (every face in view, up to ``--max-faces``, as
``spot``), and gets the same JSONL and CSV event files (``face_id`` included); a summary CSV
lists events per type, face time, distinct faces and errors per recording. Tasks run on Ray (an
embedded local instance, or ``--ray-address`` for a cluster) or, where Ray is absent, on local
processes. A rerun skips finished recordings (see :mod:`realtime.corpus.output`). A recording
that fails is recorded in the summary and the others go on; the exit code is then 2.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from realtime.cli.options import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    add_engine_options,
    add_max_faces_option,
    add_postprocess_options,
    check_threads_option,
    max_faces_option,
    postprocess_choice,
    quiet_logs,
)
from realtime.vocab import check_int

MAX_WORKERS = 1024
POLL_S = 0.5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="+", metavar="SOURCES",
                        help="video files, folders (their videos, or one image sequence), "
                             "globs ('data/**/*.mp4') or list files (@list.txt, one per line)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="output folder: summary.csv and recordings/NAME.{jsonl,csv}")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="parallel workers, each loading the graphs once "
                             "(default: the CPU count, at most 8)")
    parser.add_argument("--backend", choices=("auto", "ray", "processes"), default="auto",
                        help="auto: Ray when installed, else local processes")
    parser.add_argument("--ray-address", default=None, metavar="ADDRESS",
                        help="join this Ray cluster (e.g. ray://head:10001 or head:6379) "
                             "instead of starting an embedded local instance")
    parser.add_argument("--chunk-frames", type=int, default=0, metavar="N",
                        help="split recordings longer than N frames into chunks run in "
                             "parallel and joined exactly (0: one task per recording)")
    parser.add_argument("--chunk-overlap", type=int, default=None, metavar="N",
                        help="frames a chunk may run into the next to find a join "
                             "(default: one chunk)")
    add_engine_options(parser, threads_help="ONNX Runtime CPU threads per worker (default 1)")
    parser.set_defaults(threads=1)
    parser.add_argument("--mode", choices=("cached", "window"), default="cached",
                        help="as spot --mode")
    add_postprocess_options(parser)
    add_max_faces_option(parser)
    parser.add_argument("--force", action="store_true",
                        help="process every recording again, finished or not")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


@dataclass(frozen=True)
class BatchConfig:
    """The checked command line of one corpus run."""

    sources: tuple[str, ...]
    out: Path
    workers: int
    backend: str
    ray_address: str | None
    chunk_frames: int
    chunk_overlap: int | None
    force: bool
    progress: bool

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> BatchConfig:
        workers = args.workers if args.workers is not None else min(os.cpu_count() or 1, 8)
        check_int("--workers", workers, 1, MAX_WORKERS, what="")
        check_int("--chunk-frames", args.chunk_frames, 0, what="")
        if args.chunk_overlap is not None:
            check_int("--chunk-overlap", args.chunk_overlap, 1, what="")
        if args.ray_address is not None and args.backend == "processes":
            raise ValueError("--ray-address needs --backend ray or auto, not processes")
        from realtime.corpus import executors

        if (args.backend == "ray" or args.ray_address is not None) \
                and not executors.ray_available():
            raise ValueError("the Ray backend needs ray (pip install ray); "
                             "--backend processes runs without it")
        return cls(sources=tuple(args.sources), out=Path(args.out), workers=workers,
                   backend=args.backend, ray_address=args.ray_address,
                   chunk_frames=args.chunk_frames, chunk_overlap=args.chunk_overlap,
                   force=bool(args.force), progress=not args.no_progress)


def worker_config(args: argparse.Namespace) -> Any:
    """The spotter settings, checked here so that errors name the options."""
    from realtime.corpus.work import WorkerConfig

    check_threads_option(args.threads)
    max_faces = max_faces_option(args.max_faces)
    choice = postprocess_choice(args)
    weights = Path(args.weights)
    if not (weights / "backbone.onnx").is_file() and args.mode == "cached":
        raise ValueError(f"--weights {weights}: no backbone.onnx there")
    return WorkerConfig(weights=str(weights.resolve()), provider=args.provider, mode=args.mode,
                        threads=args.threads, postprocess=choice, max_faces=max_faces)


def frame_count(path: str) -> int | None:
    """The recording's frame count as its container reports it (an estimate), None when
    unknown; an image folder's image count."""
    import cv2

    from realtime.vocab import is_image_file

    p = Path(path)
    if p.is_dir():
        return sum(1 for f in p.iterdir() if f.is_file() and is_image_file(f)) or None
    cap = cv2.VideoCapture(str(p))
    try:
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    finally:
        cap.release()
    return n if n > 0 else None


def run(args: argparse.Namespace) -> int:
    quiet_logs()
    return BatchRun(args, sys.stderr).execute()


class BatchRun:
    """One invocation: plans tasks, runs them on an executor, writes files and the summary."""

    def __init__(self, args: argparse.Namespace, err: TextIO) -> None:
        self.args = args
        self.err = err
        self.rows: dict[str, dict[str, Any]] = {}
        self.processed_frames = 0  # frames run by workers (chunk overlaps, reruns included)
        self.executor: Any = None
        self.ready_s: float | None = None  # perf_counter once the executor was up
        self.order: list[str] = []  # recording names in SOURCES order (the summary's order)

    def say(self, text: str) -> None:
        print(text, file=self.err, flush=True)

    def execute(self) -> int:
        from realtime.corpus.inputs import CorpusInputError
        from realtime.sinks import SinkError

        try:
            cfg = BatchConfig.from_args(self.args)
            wcfg = worker_config(self.args)
            from realtime.corpus.inputs import expand_sources

            recordings = expand_sources(list(cfg.sources))
        except (CorpusInputError, ValueError, OSError) as exc:
            self.say(f"error: {exc}")
            return EXIT_ERROR
        self.order = [r.name for r in recordings]
        code = EXIT_OK
        started = time.perf_counter()
        try:
            self._run(cfg, wcfg, recordings)
        except KeyboardInterrupt:
            code = EXIT_INTERRUPTED
            self.say("interrupted: finished recordings are kept; rerun the same command to "
                     "resume")
        except (SinkError, ValueError, OSError, RuntimeError, ConnectionError) as exc:
            code = EXIT_ERROR
            self.say(f"error: {exc}")
        finally:
            if self.executor is not None:
                self.executor.close()
            self._write_summary(cfg.out)
        failed = [n for n, r in self.rows.items() if r.get("status") == "error"]
        self._report(time.perf_counter() - started, failed)
        if code == EXIT_OK and failed:
            code = EXIT_ERROR
        return code

    # -- steps ---------------------------------------------------------------------------------
    def _run(self, cfg: BatchConfig, wcfg: Any, recordings: list[Any]) -> None:
        from realtime.corpus.executors import make_executor
        from realtime.corpus.output import finished_row, recordings_dir
        from realtime.corpus.stitch import Stitcher, plan_chunks

        recordings_dir(cfg.out).mkdir(parents=True, exist_ok=True)
        todo = []
        for rec in recordings:
            row = None if cfg.force else finished_row(cfg.out, rec, wcfg)
            if row is not None:
                self.rows[rec.name] = row
            else:
                todo.append(rec)
        skipped = len(recordings) - len(todo)
        self.say(f"batch: {len(recordings)} recordings, {skipped} finished earlier, "
                 f"{len(todo)} to do, into {cfg.out}")
        if not todo:
            return
        if cfg.chunk_frames and wcfg.several_faces:
            self.say(f"chunks: with up to {wcfg.max_faces} faces, chunks join only where no "
                     "face has been in view for over 1 s (a face that leaves keeps its id "
                     "that long); elsewhere the stretch is run again in one piece: events "
                     "equal one pass (--max-faces 1 joins at any face-free frame)")
        by_name = {r.name: r for r in todo}
        counts = {r.name: frame_count(r.path) for r in todo}
        stitchers = {r.name: Stitcher(plan_chunks(r.name, r.path, counts[r.name],
                                                  cfg.chunk_frames, cfg.chunk_overlap))
                     for r in todo}
        queue = collections.deque(t for s in stitchers.values() for t in s.tasks)
        reruns: set[Any] = set()
        workers = min(cfg.workers, len(queue))
        self.executor = ex = make_executor(wcfg, workers, backend=cfg.backend,
                                           address=cfg.ray_address)
        self.ready_s = time.perf_counter()
        self.say(f"workers: {workers} on {ex.kind} ({ex.address})")
        bars = _Bars(cfg.progress, len(recordings), skipped,
                     sum(c or 0 for c in counts.values()) or None, self.err)
        try:
            while queue or ex.in_flight:
                while queue and ex.in_flight < ex.capacity:
                    task = queue.popleft()
                    if not stitchers[task.name].done:
                        ex.submit(task)
                for task, res in ex.wait(POLL_S):
                    self.processed_frames += res.frames
                    st = stitchers[task.name]
                    if st.done:
                        continue
                    for rerun in st.add(res, rerun=task in reruns):
                        reruns.add(rerun.task)
                        queue.appendleft(rerun.task)
                    if st.done:
                        self._finish(cfg, wcfg, by_name[task.name], st.result)
                        bars.recording()
                if bars.enabled:
                    bars.frames(ex.frames_done())
        finally:
            bars.close()

    def _finish(self, cfg: BatchConfig, wcfg: Any, rec: Any, result: Any) -> None:
        from realtime.corpus.output import summary_row, write_events, write_marker

        row = summary_row(rec, result)
        write_events(cfg.out, rec.name, result)
        if result.error is None:
            write_marker(cfg.out, rec, wcfg, row)
        else:
            self.say(f"error: {rec.name}: {result.error}")
        self.rows[rec.name] = row

    def _write_summary(self, out: Path) -> None:
        from realtime.corpus.output import write_summary

        rows = [self.rows[n] for n in self.order if n in self.rows]
        if rows:
            try:
                write_summary(out, rows)
            except OSError as exc:
                self.say(f"error: {exc}")

    def _report(self, elapsed_s: float, failed: list[str]) -> None:
        done = sum(1 for r in self.rows.values() if r.get("status") == "ok")
        rate = self.processed_frames / elapsed_s if elapsed_s > 0 else 0.0
        self.say(f"summary: {done} recordings done, {len(failed)} failed; "
                 f"{self.processed_frames} frames processed in {elapsed_s:.1f} s "
                 f"({rate:.1f} frames/s)")
        for name in failed:
            self.say(f"  failed: {name}: {self.rows[name].get('error', '')}")


class _Bars:
    """Two tqdm bars on stderr: recordings, and frames (processed, overlaps included)."""

    def __init__(self, enabled: bool, recordings: int, skipped: int, frames: int | None,
                 err: TextIO) -> None:
        self._rec = self._frames = None
        self.enabled = enabled
        if not enabled:
            return
        from tqdm import tqdm

        self._rec = tqdm(total=recordings, initial=skipped, desc="recordings", unit="rec",
                         position=0, file=err, leave=True)
        self._frames = tqdm(total=frames, desc="frames", unit="frame", position=1, file=err,
                            leave=True)

    def recording(self) -> None:
        if self._rec is not None:
            self._rec.update(1)

    def frames(self, done: int) -> None:
        if self._frames is not None and done > self._frames.n:
            self._frames.update(done - self._frames.n)

    def close(self) -> None:
        for bar in (self._rec, self._frames):
            if bar is not None:
                bar.close()
