"""``python -m realtime spot``: spot expressions in a camera, file, URL or image folder.

Events stream to stdout as JSON lines (one per event, flushed as it happens; keys of
:meth:`realtime.events.Event.to_dict`), and optionally to JSONL / CSV files and an annotated
video. A summary (frames, speed, provider, dropped frames, events) goes to stderr at the end.
Without ``--source`` the built-in demo clip runs and is scored against its ground truth;
``--gt FILE.csv`` scores any source the same way (MEGC 2020 metric, paper Table 2 layout).

Ctrl-C, SIGTERM and SIGHUP stop cleanly: open expressions are closed (cut short) and written,
files and the video are closed (playable), the source is released and the summary printed; the
exit code is 128 + the signal number (130, 143, 129).

Outputs fail one at a time: an output that cannot be written (stdout closed by ``| head``, a
full disk, a lost network folder) is reported once by name on stderr and dropped, and every
other output still gets every event; the run goes on while one output is left (or none was
asked for) and ends with exit code 3 to say that an output failed.

Bad input (missing file, absent camera, unreachable URL, missing or foreign ONNX graphs, bad
settings) ends with one ``error:`` line on stderr and exit code 2; events written before the
error stay in the output files.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from realtime.cli.options import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OUTPUT_FAILED,
    add_max_faces_option,
    add_postprocess_options,
    add_provider_option,
    add_threads_option,
    add_weights_option,
    check_threads_option,
    describe_choice,
    follow_faces,
    hush_native_stderr,
    max_faces_option,
    postprocess_choice,
    quiet_logs,
)
from realtime.vocab import Interval, check_int

FP32_FILE = "backbone.onnx"  # --fp32


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", default=None,
                        help="camera index, video file, rtsp/http URL or image folder "
                             "(default: the built-in demo clip, scored against its ground truth)")
    add_weights_option(parser)
    parser.add_argument("--events-out", type=Path, default=None, metavar="FILE.jsonl",
                        help="also write events to this JSON-lines file")
    parser.add_argument("--csv-out", type=Path, default=None, metavar="FILE.csv",
                        help="also write events to this CSV file")
    parser.add_argument("--video-out", type=Path, default=None, metavar="FILE.mp4",
                        help="write the annotated video here (face box, label, event flashes)")
    add_provider_option(parser)
    parser.add_argument("--fp32", action="store_true",
                        help="use the float32 backbone on CPU even where the weights folder "
                             "ships an int8 one (backbone_int8.onnx, the CPU default there)")
    parser.add_argument("--mode", choices=("cached", "window"), default="cached",
                        help="cached: backbone once per frame + window head (default); "
                             "window: whole-window graph each frame")
    add_threads_option(parser)
    parser.add_argument("--realtime", action="store_true",
                        help="pace a file or folder at its own frame rate (as if live)")
    parser.add_argument("--live", action=argparse.BooleanOptionalAction, default=None,
                        help="--live: drop the oldest frames when processing falls behind (the "
                             "default for cameras, rtsp and length-less http streams); "
                             "--no-live: process every frame (the default for files, folders "
                             "and video files served over http)")
    add_postprocess_options(parser)
    parser.add_argument("--gt", type=Path, default=None, metavar="FILE.csv",
                        help="ground-truth intervals (subject,video,onset,offset,type) to score "
                             "the segments against")
    parser.add_argument("--max-frames", type=int, default=None, metavar="N",
                        help="stop after N frames")
    parser.add_argument("--neutral-at", type=neutral_times, action="append", default=None,
                        metavar="SECONDS[,SECONDS...]",
                        help="restart the person's neutral reference at these media times "
                             "(the face should be neutral then; repeatable); only for models "
                             "whose input is a reference difference")
    parser.add_argument("--quiet", action="store_true",
                        help="no event lines on stdout; only errors, summary and score")
    add_max_faces_option(parser)
    parser.add_argument("--verbose", action="store_true",
                        help="let FFmpeg, OpenCV and mediapipe print their own logs on stderr "
                             "(default: only this program's one-line messages)")


def neutral_times(text: str) -> list[float]:
    """``--neutral-at`` value: comma-separated media times in seconds (finite, >= 0)."""
    times = []
    for part in text.split(","):
        try:
            t = float(part)
        except ValueError:
            t = float("nan")
        if not (t >= 0 and t != float("inf")):
            raise argparse.ArgumentTypeError(
                f"{part.strip()!r} is not a time in seconds >= 0 (e.g. --neutral-at 2.5,60)")
        times.append(t)
    return times


class _NeutralAt:
    """Frames of a source, with the spotter's reference restarted before the first frame at
    or after each time of ``--neutral-at`` (the events that closes are emitted)."""

    def __init__(self, run: SpotRun, times: list[float]) -> None:
        self.run = run
        self.times = sorted(times)
        transform = run.spotter.engine.input_transform
        if transform.kind != "reference_difference":
            raise ValueError(f"--neutral-at does not apply: this model's input is "
                             f"{transform.describe()}, which keeps no reference of the face")

    def frames(self, frames: Any) -> Any:
        for frame in frames:
            while self.times and frame.time_s >= self.times[0]:
                wanted = self.times.pop(0)
                for event in self.run.spotter.recalibrate():
                    self.run.emit(event)
                if not self.run.args.quiet:
                    self.run.say(f"neutral reference restarted at {frame.time_s:.2f} s (frame "
                                 f"{frame.index}; asked for {wanted:g} s)")
            yield frame


# ------------------------------------------------------------------------------------- scoring


def ground_truth_for(intervals: list[Interval], source_name: str,
                     gt_path: Path) -> list[Interval]:
    """The ground-truth intervals of one source: all of them when the file holds one video,
    else those whose ``video`` equals the source's file stem (error when none does)."""
    videos = sorted({(i.subject, i.video) for i in intervals})
    if len(videos) <= 1:
        return list(intervals)
    stem = Path(source_name).stem
    chosen = [i for i in intervals if i.video in (stem, Path(source_name).name)]
    if not chosen:
        raise ValueError(f"{gt_path}: holds {len(videos)} videos "
                         f"({', '.join(v for _, v in videos[:5])}...) and none is named {stem!r}"
                         " like the source")
    return chosen


def score_segments(gt: list[Interval], segments: list[Any]) -> Any:
    """MEGC score of segment events against one video's ground-truth intervals."""
    from realtime.metrics import score

    subject, video = (gt[0].subject, gt[0].video) if gt else ("", "video")
    return score(gt, [e.to_interval(subject, video) for e in segments])


# ------------------------------------------------------------------------------------- report


def _status_line(fps: float, out: Any, provider: str, mode: str, behind: int) -> str:
    ms = out.face_ms + out.engine_ms
    return f"{fps:4.1f} fps | {ms:4.0f} ms/frame (+{behind} frames window) | {provider}/{mode}"


def _faces_line(fs: dict[str, int], frames: int, several: int) -> str:
    """The summary's face line: how many frames had a usable (classified) face first, then
    why the others had none; "at the frame edge" is a usable face, said so."""
    ok, edge = fs.get("ok", 0), fs.get("at_edge", 0)
    return (f"  faces: usable in {ok + edge} of {frames} frames ({ok} whole, {edge} cut by the "
            f"frame edge, both classified); not usable: too small {fs.get('too_small', 0)}, "
            f"not yet confirmed {fs.get('unconfirmed', 0)}, no face {fs.get('no_face', 0)}, "
            f"unreadable frame {fs.get('invalid_frame', 0)}; several faces in {several} frames")


def _summary(spotter: Any, source: Any, elapsed_s: float, interrupted: bool) -> str:
    st = spotter.stats
    eng = spotter.engine
    t = eng.timings
    fs = st.face_status
    src_fps = getattr(source, "fps", float("nan")) if source is not None else float("nan")
    dropped = getattr(source, "dropped_frames", 0) if source is not None else 0
    lines = [
        f"summary: {st.frames} frames in {elapsed_s:.1f} s "
        f"({st.frames / elapsed_s if elapsed_s > 0 else 0.0:.1f} fps; source {src_fps:.1f} fps)"
        f", dropped {dropped}" + (" - interrupted" if interrupted else ""),
        f"  engine: {eng.provider}/{eng.mode} ({eng.provider_note})",
        _faces_line(fs, st.frames, st.multiple_faces_frames),
        f"  windows: {st.classified} classified, {st.breaks} breaks",
        f"  events: {st.onsets} onsets, {st.segments} segments ({st.cut_short} cut short)",
        f"  per frame: face {st.face.mean_ms:.1f} ms, backbone {t.backbone.mean_ms:.1f} ms, "
        f"head {t.head.mean_ms:.1f} ms (per window)",
    ]
    faces_seen = getattr(spotter, "faces_seen", None)
    if faces_seen is not None:
        lines.append(f"  faces: {faces_seen} distinct (up to {spotter.max_faces} at once; "
                     "the first face's events carry no face_id, the others face_id 1, 2, ...)")
    rs = getattr(spotter, "resampler", None)
    if rs is not None:
        lines.append(f"  resampled to the model's {rs.target_fps:g} fps: {rs.kept} frames "
                     f"seen by the model, {rs.skipped} skipped (events use source frames)")
    if st.first_error:
        lines.append(f"  first invalid frame: {st.first_error}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------- run


def run(args: argparse.Namespace) -> int:
    quiet_logs(verbose=getattr(args, "verbose", False))
    return SpotRun(args, sys.stdout, sys.stderr).execute()


STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP")
                     if hasattr(signal, name))


class Stopped(KeyboardInterrupt):
    """A stop signal (SIGTERM, SIGHUP) turned into the same clean stop as Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _StopSignals:
    """While active, SIGTERM/SIGHUP raise :class:`Stopped` in the main thread, once: a second
    signal during the clean-up is ignored so that the files still get closed."""

    def __init__(self) -> None:
        self._old: dict[int, Any] = {}
        self._fired = False

    def _handle(self, signum: int, frame: Any) -> None:
        if not self._fired:
            self._fired = True
            raise Stopped(signum)

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._old[signum] = signal.signal(signum, self._handle)
        return self

    def quiet(self) -> None:
        """From now on a stop signal is ignored (clean-up in progress)."""
        self._fired = True

    def __exit__(self, *exc: object) -> None:
        for signum, old in self._old.items():
            signal.signal(signum, old)


def _known_errors() -> tuple[type[BaseException], ...]:
    """The errors that end a run with one ``error:`` line (bad input, not a bug)."""
    from realtime.contract import ContractError
    from realtime.engine import EngineError
    from realtime.metrics import IntervalFileError
    from realtime.sinks import SinkError
    from realtime.sources import SourceError

    return (SourceError, ContractError, EngineError, SinkError, IntervalFileError, ValueError,
            OSError)


class _AllOutputsFailed(OSError):
    """Every output asked for failed: the run stops (exit code 3)."""


class SpotRun:
    """One invocation: owns the spotter, source and sinks, and closes them all."""

    def __init__(self, args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
        self.args = args
        self.out = out
        self.err = err
        self.spotter: Any = None
        self.source: Any = None
        self.sinks: list[Any] = []  # event writers
        self.video: Any = None
        self.overlay: Any = None
        self.gt: list[Interval] | None = None
        self.gt_path: Path | None = None
        self.segments: list[Any] = []  # kept only to score against ground truth
        self.failed: list[str] = []  # names of the outputs that failed and were dropped
        self._stdout_ok = True
        self._completed = False  # the source was read to its end (or --max-frames)
        self._fps_ema = 0.0
        self._last_t: float | None = None

    def say(self, text: str) -> None:
        print(text, file=self.err, flush=True)

    def emit(self, event: Any) -> None:
        """Send one event to every output still working; drop (and report) one that fails."""
        if not self.args.quiet and self._stdout_ok:
            try:
                self.out.write(json.dumps(event.to_dict()) + "\n")
                self.out.flush()
            except (OSError, ValueError) as exc:  # closed pipe, full disk, closed stream
                self._stdout_ok = False
                self._silence_stdout()
                self._output_failed("stdout", exc)
        for sink in list(self.sinks):
            try:
                sink.write(event)
            except (OSError, ValueError) as exc:
                self.sinks.remove(sink)
                self._close_quietly(sink)
                self._output_failed(f"{sink.what} {sink.path}", exc)
        if event.kind == "segment" and self.gt is not None:
            self.segments.append(event)

    def _output_failed(self, name: str, exc: BaseException) -> None:
        """Report a failed output once and stop the run only when no output is left."""
        from realtime.sinks import SinkError

        self.failed.append(name)
        why = str(exc) if isinstance(exc, SinkError) else (
            getattr(exc, "strerror", None) or str(exc) or type(exc).__name__)
        self.say(f"error: output {name} failed ({why}); it is dropped, the other outputs go on")
        left = (self._stdout_ok and not self.args.quiet) or self.sinks or self.video is not None
        if not left:
            raise _AllOutputsFailed("every output failed; nothing left to write to")

    def _silence_stdout(self) -> None:
        """Point a broken stdout at /dev/null so that nothing (not even interpreter exit)
        writes to it again."""
        try:
            self.out.flush()
        except (OSError, ValueError):
            pass
        try:
            fd = self.out.fileno()
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)
        except (OSError, ValueError, AttributeError):  # not a real file (a test's StringIO)
            pass

    def _close_quietly(self, sink: Any) -> None:
        try:
            sink.close()
        except (OSError, ValueError):
            pass

    def on_frame(self, frame: Any, output: Any) -> None:
        now = time.perf_counter()
        if self._last_t is not None and now > self._last_t:
            inst = 1.0 / (now - self._last_t)
            self._fps_ema = inst if self._fps_ema == 0 else 0.9 * self._fps_ema + 0.1 * inst
        self._last_t = now
        eng = self.spotter.engine
        status = _status_line(self._fps_ema, output, eng.provider, eng.mode, eng.frames_behind)
        if self.video is None:
            return
        try:
            self.video.write(self.overlay.draw(frame.image, output, status, copy=False))
        except OSError as exc:
            video, self.video = self.video, None
            self._close_quietly(video)
            self._output_failed(f"video {video.path}", exc)

    def execute(self) -> int:
        with _StopSignals() as stops:
            code, interrupted = EXIT_OK, False
            started = time.perf_counter()
            try:
                try:
                    self._open()
                    self._stream()
                    self._completed = True
                except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP (Stopped)
                    stops.quiet()
                    interrupted = True
                    code = EXIT_INTERRUPTED
                    if isinstance(exc, Stopped):
                        code = 128 + exc.signum
                        self.say(f"stopping: {exc} received")
                    self._flush_open()
                except _AllOutputsFailed as exc:
                    stops.quiet()
                    code = EXIT_OUTPUT_FAILED
                    self.say(f"error: {exc}")
                except _known_errors() as exc:
                    stops.quiet()
                    code = EXIT_ERROR
                    self.say(f"error: {exc}")
                    self._flush_open()
            finally:
                stops.quiet()
                self._close()
            if self.failed and code == EXIT_OK:
                code = EXIT_OUTPUT_FAILED
            self._report(code, time.perf_counter() - started, interrupted)
            if self.failed:
                self.say(f"warning: {len(self.failed)} output(s) failed and were dropped: "
                         f"{', '.join(self.failed)} (exit code {EXIT_OUTPUT_FAILED})")
            if self.spotter is not None:
                self.spotter.close()
            return code

    # -- steps ---------------------------------------------------------------------------------
    def _settings(self) -> Any:
        a = self.args
        if a.max_frames is not None:
            check_int("--max-frames", a.max_frames, 1, what="")
        check_threads_option(a.threads)
        return postprocess_choice(a)

    def _source_spec(self) -> Any:
        """The source to open, and the ground truth to score it against (demo by default)."""
        from realtime.demo import demo_clip
        from realtime.metrics import read_intervals_csv

        a = self.args
        spec: Any = a.source
        self.gt_path = a.gt
        if spec is None:
            clip = demo_clip()
            spec = str(clip.video)
            self.gt_path = self.gt_path or clip.ground_truth
            if not a.quiet:
                self.say(f"no --source: running the built-in demo clip {clip.video}")
        if self.gt_path is not None:
            self.gt = ground_truth_for(read_intervals_csv(self.gt_path), str(spec),
                                       Path(self.gt_path))
        return spec

    def _open(self) -> None:
        from realtime import sources
        from realtime.overlay import Overlay
        from realtime.sinks import CsvEventWriter, JsonlEventWriter, VideoSink
        from realtime.spotter import Spotter

        a = self.args
        choice = self._settings()
        spec = self._source_spec()
        with hush_native_stderr(not getattr(a, "verbose", False)):
            self.spotter = Spotter(a.weights, provider=a.provider, mode=a.mode,
                                   postprocess=choice, threads=a.threads,
                                   backbone_file=FP32_FILE if getattr(a, "fp32", False) else None)
            self.spotter.cropper.detect_faces(np.zeros((64, 64, 3), np.uint8))  # warm-up: its
            # start-up lines land in the hush too
        if not a.quiet:
            self.say(f"engine: {self.spotter.engine.describe()}")
        self.source = sources.open_source(spec, realtime=a.realtime, live=a.live)
        if not a.quiet:
            kind = "live, drops oldest when behind" if self.source.is_live else "every frame"
            self.say(f"source: {self.source.description} ({self.source.fps:.2f} fps; {kind})")
            self.say("post-processing: " + describe_choice(choice, self.spotter.recommended,
                                                          self.source.fps))
        if a.events_out is not None:
            self.sinks.append(JsonlEventWriter(a.events_out))
        if a.csv_out is not None:
            self.sinks.append(CsvEventWriter(a.csv_out))
        if a.video_out is not None:
            self.video = VideoSink(a.video_out, self.source.fps)
            self.overlay = Overlay(self.spotter.class_names)

    def _several_faces(self) -> None:
        """Unless ``--max-faces 1``: follow every face (realtime.multiface) with the spotter
        built by :meth:`_open`, and draw each face in its own colour."""
        from realtime.overlay import FacesOverlay

        n = max_faces_option(getattr(self.args, "max_faces", None))
        if n == 1:
            return
        self.spotter = follow_faces(self.spotter, n)
        if self.overlay is not None:
            self.overlay = FacesOverlay(self.spotter.class_names)

    def _stream(self) -> None:
        from realtime.spotter import DEFAULT_BATCH_FRAMES

        self._several_faces()
        a = self.args
        on_frame: Callable[[Any, Any], None] | None = None
        if self.video is not None:
            on_frame = self.on_frame
        per_frame = a.realtime or self.source.is_live or on_frame is not None
        frames: Any = self.source
        if a.max_frames is not None:
            frames = itertools.islice(self.source, a.max_frames)
        if getattr(a, "neutral_at", None):
            frames = _NeutralAt(self, [t for ts in a.neutral_at for t in ts]).frames(frames)
        for event in self.spotter.run(frames, on_frame=on_frame,
                                      batch_frames=1 if per_frame else DEFAULT_BATCH_FRAMES):
            self.emit(event)

    def _report(self, code: int, elapsed_s: float, interrupted: bool) -> None:
        from realtime.metrics import format_table

        if self.spotter is not None and self.spotter.stats.frames:
            self.say(_summary(self.spotter, self.source, elapsed_s, interrupted))
            if self.spotter.stats.first_error and not self.args.quiet:
                self.say("warning: some frames were unusable (see 'first invalid frame')")
        if self.gt is not None and self._completed:
            result = score_segments(self.gt, self.segments)
            self.say(f"score against {self.gt_path} (MEGC 2020, IoU >= 0.5):")
            self.say(format_table(result))

    def _flush_open(self) -> None:
        """Close open expressions (cut short) and write them; never raise."""
        if self.spotter is None:
            return
        try:
            for event in self.spotter.flush():
                self.emit(event)
        except Exception as exc:  # the stream is ending anyway: report, do not mask
            self.say(f"error: while closing open events: {exc}")

    def _close(self) -> None:
        """Close every sink, then the source, each in turn: one failing does not skip the rest."""
        for closer in [*(s.close for s in self.sinks),
                       *([self.video.close] if self.video else []),
                       *([self.source.close] if self.source else [])]:
            try:
                closer()
            except Exception as exc:
                self.say(f"error: while closing: {exc}")
