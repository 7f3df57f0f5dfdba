"""``python -m realtime spot``: spot expressions in a camera, file, URL or image folder.

Events stream to stdout as JSON lines (one per event, flushed as it happens; keys of
:meth:`realtime.events.Event.to_dict`), and optionally to JSONL / CSV files and an annotated
video. A summary (frames, speed, provider, dropped frames, events) goes to stderr at the end.
Without ``--source`` the built-in demo clip runs and is scored against its ground truth;
``--gt FILE.csv`` scores any source the same way (MEGC 2020 metric, paper Table 2 layout).

Ctrl-C stops cleanly: open expressions are closed (cut short) and written, files are closed and
the source is released. Bad input (missing file, absent camera, unreachable URL, missing or
foreign ONNX graphs, bad settings) ends with one ``error:`` line on stderr and exit code 2;
events written before the error stay in the output files.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

EXIT_OK = 0
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


class VideoSinkError(OSError):
    """The overlay video cannot be written (names the path)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from realtime.spotter import DEFAULT_WEIGHTS

    parser.add_argument("--source", default=None,
                        help="camera index, video file, rtsp/http URL or image folder "
                             "(default: the built-in demo clip, scored against its ground truth)")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS,
                        help=f"folder of the exported ONNX graphs (default: {DEFAULT_WEIGHTS})")
    parser.add_argument("--events-out", type=Path, default=None, metavar="FILE.jsonl",
                        help="also write events to this JSON-lines file")
    parser.add_argument("--csv-out", type=Path, default=None, metavar="FILE.csv",
                        help="also write events to this CSV file")
    parser.add_argument("--video-out", type=Path, default=None, metavar="FILE.mp4",
                        help="write the annotated video here (face box, label, event flashes)")
    parser.add_argument("--provider", choices=("auto", "cuda", "cpu"), default="auto",
                        help="ONNX Runtime device (auto: CUDA when usable, else CPU)")
    parser.add_argument("--mode", choices=("cached", "window"), default="cached",
                        help="cached: backbone once per frame + window head (default); "
                             "window: whole-window graph each frame")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="ONNX Runtime CPU threads (default: one per physical core)")
    parser.add_argument("--realtime", action="store_true",
                        help="pace a file or folder at its own frame rate (as if live)")
    parser.add_argument("--merge-gap", type=int, default=1, metavar="N",
                        help="fill runs of up to N no-expression frames between equal "
                             "expressions (paper: 1)")
    parser.add_argument("--min-length", type=int, default=1, metavar="N",
                        help="drop expression segments shorter than N frames (default 1)")
    parser.add_argument("--relabel", action="store_true",
                        help="micro/macro from segment duration (<= 0.5 s is micro)")
    parser.add_argument("--threshold", type=float, default=None, metavar="P",
                        help="expression probability threshold in [0, 1] (default: argmax)")
    parser.add_argument("--gt", type=Path, default=None, metavar="FILE.csv",
                        help="ground-truth intervals (subject,video,onset,offset,type) to score "
                             "the segments against")
    parser.add_argument("--max-frames", type=int, default=None, metavar="N",
                        help="stop after N frames")
    parser.add_argument("--quiet", action="store_true",
                        help="no event lines on stdout; only errors, summary and score")


# ------------------------------------------------------------------------------------- sinks


class VideoSink:
    """Writes annotated frames to a video file; frames of another size are resized to the first."""

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path = Path(path)
        self.fps = float(fps) if math.isfinite(fps) and 0 < fps < 1000 else 30.0
        self._writer: Any = None
        self._size: tuple[int, int] | None = None
        self.frames = 0
        if not self.path.parent.is_dir():
            raise VideoSinkError(f"cannot write video {self.path}: folder "
                                 f"{self.path.parent} does not exist")

    def write(self, image: Any) -> None:
        import cv2

        h, w = image.shape[:2]
        if self._writer is None:
            fourcc = "MJPG" if self.path.suffix.lower() == ".avi" else "mp4v"
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*fourcc),
                                           self.fps, (w, h))
            if not self._writer.isOpened():
                self._writer = None
                raise VideoSinkError(f"cannot write video {self.path} (OpenCV has no {fourcc} "
                                     "encoder for this file type; try .mp4 or .avi)")
            self._size = (w, h)
        if (w, h) != self._size:
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(image)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


# ------------------------------------------------------------------------------------- scoring


def ground_truth_for(intervals: list[Any], source_name: str, gt_path: Path) -> list[Any]:
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


def score_segments(gt: list[Any], segments: list[Any]) -> Any:
    """MEGC score of segment events against one video's ground truth intervals."""
    from realtime.metrics import Interval, score

    subject, video = (gt[0].subject, gt[0].video) if gt else ("", "video")
    pred = [Interval(subject, video, e.onset_frame, e.offset_frame, e.expression)
            for e in segments]
    return score(gt, pred)


# ------------------------------------------------------------------------------------- run


def _status_line(fps: float, out: Any, provider: str, mode: str, behind: int) -> str:
    ms = out.face_ms + out.engine_ms
    return f"{fps:4.1f} fps | {ms:4.0f} ms/frame (+{behind} frames window) | {provider}/{mode}"


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
        f"  faces: ok {fs.get('ok', 0)}, at edge {fs.get('at_edge', 0)}, too small "
        f"{fs.get('too_small', 0)}, none {fs.get('no_face', 0)}, invalid "
        f"{fs.get('invalid_frame', 0)}; several faces in {st.multiple_faces_frames} frames",
        f"  windows: {st.classified} classified, {st.breaks} breaks",
        f"  events: {st.onsets} onsets, {st.segments} segments ({st.cut_short} cut short)",
        f"  per frame: face {st.face.mean_ms:.1f} ms, backbone {t.backbone.mean_ms:.1f} ms, "
        f"head {t.head.mean_ms:.1f} ms (per window)",
    ]
    if st.first_error:
        lines.append(f"  first invalid frame: {st.first_error}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    # Quiet mediapipe/TFLite start-up logging unless the user asked for it.
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import cv2

    cv2.setLogLevel(0)  # silent: OpenCV's own open/read warnings; our errors name the problem
    return _Run(args, sys.stdout, sys.stderr).execute()


class _Run:
    """One invocation: owns the spotter, source and sinks, and closes them all."""

    def __init__(self, args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
        self.args = args
        self.out = out
        self.err = err
        self.spotter: Any = None
        self.source: Any = None
        self.sinks: list[Any] = []
        self.video: VideoSink | None = None
        self.overlay: Any = None
        self.segments: list[Any] = []
        self.keep_segments = False
        self._fps_ema = 0.0
        self._last_t: float | None = None

    def say(self, text: str) -> None:
        print(text, file=self.err, flush=True)

    def emit(self, event: Any) -> None:
        if not self.args.quiet:
            self.out.write(json.dumps(event.to_dict()) + "\n")
            self.out.flush()
        for sink in self.sinks:
            sink.write(event)
        if event.kind == "segment" and self.keep_segments:
            self.segments.append(event)  # only to score against ground truth

    def on_frame(self, frame: Any, output: Any) -> None:
        if self.video is None:
            return
        now = time.perf_counter()
        if self._last_t is not None and now > self._last_t:
            inst = 1.0 / (now - self._last_t)
            self._fps_ema = inst if self._fps_ema == 0 else 0.9 * self._fps_ema + 0.1 * inst
        self._last_t = now
        eng = self.spotter.engine
        status = _status_line(self._fps_ema, output, eng.provider, eng.mode, eng.frames_behind)
        self.video.write(self.overlay.draw(frame.image, output, status, copy=False))

    def execute(self) -> int:
        from realtime.contract import ContractError
        from realtime.demo import demo_clip
        from realtime.engine import EngineError
        from realtime.events import CsvEventWriter, EventSinkError, JsonlEventWriter
        from realtime.metrics import IntervalFileError, format_table, read_intervals_csv
        from realtime.overlay import Overlay
        from realtime.postprocess import PostprocessConfig, check_threshold
        from realtime.sources import SourceError, open_source
        from realtime.spotter import DEFAULT_BATCH_FRAMES, Spotter

        known = (SourceError, ContractError, EngineError, EventSinkError, IntervalFileError,
                 VideoSinkError, ValueError, OSError)
        a = self.args
        code = EXIT_OK
        interrupted = False
        started = time.perf_counter()
        gt = None
        try:
            if a.max_frames is not None and a.max_frames < 1:
                raise ValueError(f"--max-frames must be >= 1, got {a.max_frames}")
            if a.threads is not None and not 1 <= a.threads <= 256:
                raise ValueError(f"--threads must be in [1, 256], got {a.threads}")
            try:
                config = PostprocessConfig(merge_gap_frames=a.merge_gap,
                                           min_length_frames=a.min_length,
                                           relabel_by_duration=a.relabel)
                threshold = check_threshold(a.threshold)
            except ValueError as exc:  # name the command-line option, not the field
                raise ValueError(str(exc).replace("merge_gap_frames", "--merge-gap")
                                 .replace("min_length_frames", "--min-length")
                                 .replace("expression_threshold", "--threshold")) from None
            spec: Any = a.source
            gt_path = a.gt
            if spec is None:
                clip = demo_clip()
                spec = str(clip.video)
                gt_path = gt_path or clip.ground_truth
                if not a.quiet:
                    self.say(f"no --source: running the built-in demo clip {clip.video}")
            if gt_path is not None:
                gt = ground_truth_for(read_intervals_csv(gt_path), str(spec), Path(gt_path))
                self.keep_segments = True

            self.spotter = Spotter(a.weights, provider=a.provider, mode=a.mode,
                                   postprocess=config, threshold=threshold, threads=a.threads)
            if not a.quiet:
                self.say(f"engine: {self.spotter.engine.describe()}")
            self.source = open_source(spec, realtime=a.realtime)
            if not a.quiet:
                self.say(f"source: {self.source.description} ({self.source.fps:.2f} fps)")
            if a.events_out is not None:
                self.sinks.append(JsonlEventWriter(a.events_out))
            if a.csv_out is not None:
                self.sinks.append(CsvEventWriter(a.csv_out))
            on_frame: Callable[[Any, Any], None] | None = None
            if a.video_out is not None:
                self.video = VideoSink(a.video_out, self.source.fps)
                self.overlay = Overlay(self.spotter.class_names)
                on_frame = self.on_frame
            per_frame = a.realtime or self.source.is_live or on_frame is not None
            frames: Any = self.source
            if a.max_frames is not None:
                frames = itertools.islice(self.source, a.max_frames)
            for event in self.spotter.run(frames, on_frame=on_frame,
                                          batch_frames=1 if per_frame else DEFAULT_BATCH_FRAMES):
                self.emit(event)
        except KeyboardInterrupt:
            interrupted = True
            code = EXIT_INTERRUPTED
            self._flush_open()
        except known as exc:
            code = EXIT_ERROR
            self.say(f"error: {exc}")
            self._flush_open()
        finally:
            self._close()
        elapsed = time.perf_counter() - started
        if self.spotter is not None and self.spotter.stats.frames:
            self.say(_summary(self.spotter, self.source, elapsed, interrupted))
            if self.spotter.stats.first_error and not a.quiet:
                self.say("warning: some frames were unusable (see 'first invalid frame')")
        if gt is not None and code == EXIT_OK:
            result = score_segments(gt, self.segments)
            self.say(f"score against {gt_path} (MEGC 2020, IoU >= 0.5):")
            self.say(format_table(result))
        if self.spotter is not None:
            self.spotter.close()
        return code

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
        for closer in [*(s.close for s in self.sinks),
                       *([self.video.close] if self.video else []),
                       *([self.source.close] if self.source else [])]:
            try:
                closer()
            except Exception as exc:
                self.say(f"error: while closing: {exc}")
