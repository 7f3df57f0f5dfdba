"""The page's settings: what the user picks per stream (:class:`SpotSettings`) and what the
server fixes at start (:class:`AppConfig`, the ``serve`` options). Both frozen and validated."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from realtime.postprocess import (
    PAPER_SETTING_NOTE,
    PostprocessConfig,
    PostprocessSetting,
    check_threshold,
)
from realtime.spotter import DEFAULT_WEIGHTS
from realtime.vocab import check_int, check_number, check_threads


@dataclass(frozen=True)
class SpotSettings:
    """The user's spotting settings (the page's Settings box); frozen per stream."""

    merge_gap_frames: int = 1
    min_length_frames: int = 1
    relabel_by_duration: bool = False
    threshold: float | None = None  # None: argmax labels

    def __post_init__(self) -> None:
        self.postprocess()  # validates the three post-processing fields
        check_threshold(self.threshold)

    def postprocess(self) -> PostprocessConfig:
        """The post-processing settings of the merger."""
        return PostprocessConfig(merge_gap_frames=self.merge_gap_frames,
                                 min_length_frames=self.min_length_frames,
                                 relabel_by_duration=self.relabel_by_duration)

    @classmethod
    def from_ui(cls, merge_gap: float | None, min_length: float | None, relabel: bool,
                use_threshold: bool, threshold: float | None) -> SpotSettings:
        """Settings from the page's widgets; ValueError names the widget that is wrong."""
        def whole(value: float | None, name: str, low: int) -> int:
            if value is None or not math.isfinite(float(value)) or float(value) != int(value) \
                    or int(value) < low:
                raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}")
            return int(value)

        t = check_number("class threshold", threshold, 0, 1, what="") if use_threshold else None
        return cls(merge_gap_frames=whole(merge_gap, "merging gap", 0),
                   min_length_frames=whole(min_length, "minimum length", 1),
                   relabel_by_duration=bool(relabel), threshold=t)


RECOMMENDED_AT_FPS = 30.0  # the webcam's nominal rate: the page's defaults are in its frames


def recommended_settings(setting: PostprocessSetting, fps: float = RECOMMENDED_AT_FPS,
                         readable: bool = True) -> tuple[SpotSettings, str]:
    """The page's default settings from a model's recommended post-processing at ``fps``,
    and a line saying in plain words what they are and where they come from (``readable``
    False: the graphs could not be read, ``setting`` stands in)."""
    config = setting.config(fps)
    settings = SpotSettings(merge_gap_frames=config.merge_gap_frames,
                            min_length_frames=config.min_length_frames,
                            relabel_by_duration=config.relabel_by_duration,
                            threshold=setting.expression_threshold)

    def frames(n: int) -> str:
        return f"{n} frame{'' if n == 1 else 's'} ({n / fps:.2f} s)"

    if not readable:
        source = "the paper's post-processing (the graphs' own recommendation could not be read)"
    elif setting.chosen_on == PAPER_SETTING_NOTE:
        source = "the paper's post-processing (the loaded model recommends no other)"
    else:
        source = f"the loaded model's recommended post-processing, {setting.chosen_on}"
    shortest = ("" if config.min_length_frames <= 1 else
                f", expressions shorter than {frames(config.min_length_frames)} are dropped")
    rule = ("the most probable class" if setting.expression_threshold is None
            else f"an expression when its probability is at least "
                 f"{setting.expression_threshold:g}")
    kind = ("by duration (micro up to 0.5 s)" if setting.relabel_by_duration
            else "as the model says")
    return settings, (f"**Defaults**: {source}. At {fps:g} frames/s: pauses up to "
                      f"{frames(config.merge_gap_frames)} inside an expression are bridged"
                      f"{shortest}; labels: {rule}; types: {kind}.")


def settings_note(merge_gap: float | None, min_length: float | None, relabel: bool,
                  use_threshold: bool, threshold: float | None, fps: float = 30.0) -> str:
    """The line under the Settings box: what is wrong with the widgets' values, or the
    frame counts in seconds at ``fps`` (the webcam's rate varies; recordings use their own)."""
    try:
        s = SpotSettings.from_ui(merge_gap, min_length, relabel, use_threshold, threshold)
    except ValueError as exc:
        return f"**Not valid, not applied:** {exc}."

    def frames(n: int) -> str:
        return f"{n} frame{'' if n == 1 else 's'} = {n / fps:.3f} s"

    rule = (f"labels: class probability >= {s.threshold:.2f}" if s.threshold is not None
            else "labels: the most probable class")
    return (f"At {fps:g} frames/s: merging gap {frames(s.merge_gap_frames)}, minimum length "
            f"{frames(s.min_length_frames)}; {rule}"
            + ("; type by duration (micro up to 0.5 s)" if s.relabel_by_duration else "") + ".")


@dataclass(frozen=True)
class AppConfig:
    """Server-side settings of the page (command-line options of ``serve``).

    weights_dir, provider, mode, threads: passed to every :class:`Spotter`.
    settings: the defaults shown in the Settings box.
    settings_origin: a line saying where those defaults come from ("" says nothing).
    demo_video: the clip behind "Play the demo clip" (None: the built-in demo clip).
    demo_ground_truth: intervals CSV of ``demo_video`` for the run summary's score (None:
        the built-in clip's own ground truth, or none for another clip).
    concurrency: streams processed at the same time (webcam streams, and server-side runs).
    max_upload_mb: largest accepted upload.
    stream_every_s, time_limit_s: webcam frame interval asked of the browser, and how long one
        stream event lasts before the page rejoins (state is kept across the rejoin).
    gap_s: a webcam pause longer than this is a stall (shown as such; not a break: the face
        did not leave).
    stop_s: no webcam frame for this long means the stream stopped (Stop): the open
        expression is closed, cut short, and the next frame starts a new window.
    poll_s: how often the page polls server-side runs for the latest frame.
    timeline_s: seconds shown by the probability timeline.
    server_source: whether the Server source tab may open cameras, URLs and server files.
    """

    weights_dir: Path = DEFAULT_WEIGHTS
    provider: str = "auto"
    mode: str = "cached"
    threads: int | None = None
    settings: SpotSettings = field(default_factory=SpotSettings)
    settings_origin: str = ""
    demo_video: Path | None = None
    demo_ground_truth: Path | None = None
    concurrency: int = 4
    max_upload_mb: int = 200
    stream_every_s: float = 0.05
    time_limit_s: float = 120.0
    gap_s: float = 0.5
    stop_s: float = 2.0
    poll_s: float = 0.1
    timeline_s: float = 10.0
    server_source: bool = True

    def __post_init__(self) -> None:
        check_int("concurrency", self.concurrency, 1, 64)
        check_int("max_upload_mb", self.max_upload_mb, 1, 100_000)
        for name, low, high in (("stream_every_s", 0.01, 5.0), ("time_limit_s", 1.0, 86400.0),
                                ("gap_s", 0.05, 60.0), ("stop_s", 0.1, 600.0),
                                ("poll_s", 0.02, 5.0),
                                ("timeline_s", 1.0, 600.0)):
            check_number(name, getattr(self, name), low, high)
        check_threads(self.threads)
        if self.stop_s < self.gap_s:
            raise ValueError(f"stop_s ({self.stop_s}) must be >= gap_s ({self.gap_s}): a stop "
                             "is a pause longer than a stall")
        if not isinstance(self.settings, SpotSettings):
            raise ValueError(f"settings must be a SpotSettings, got {type(self.settings).__name__}")

    @property
    def webcam_fps(self) -> float:
        """Nominal rate of webcam frames (what the page asks of the browser)."""
        return 1.0 / self.stream_every_s
