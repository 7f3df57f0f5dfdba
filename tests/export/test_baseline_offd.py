"""The optical-flow peer (OF-FD) and the baseline command: signals, intervals, fitting, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from export.baseline import choose_subjects, read_split
from export.baseline.offd import (
    REGIONS,
    OffdConfig,
    VideoSignals,
    _merge,
    fit_thresholds,
    frame_score,
    lag_frames,
    score_signals,
    spot_signals,
    video_signals,
)
from realtime.metrics import Interval

NAMES = tuple(REGIONS)


@pytest.mark.parametrize("seconds, fps, frames", [(0.1, 30, 3), (0.1, 200, 20), (0.5, 30, 15),
                                                  (0.01, 30, 1)])
def test_lag_frames(seconds: float, fps: float, frames: int) -> None:
    assert lag_frames(seconds, fps) == frames


@pytest.mark.parametrize("kw, message", [
    ({"micro_lag_s": 0.6}, "must be below"),
    ({"preset": "slow"}, "preset='slow'"),
    ({"micro_threshold": -1.0}, "micro_threshold=-1.0"),
    ({"merge_gap_s": -0.1}, "merge_gap_s=-0.1"),
])
def test_config_rejects_bad_settings(kw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OffdConfig(**kw)


def test_merge_joins_close_spans_only() -> None:
    assert _merge([(10, 12), (0, 3), (5, 6)], 1) == [(0, 6), (10, 12)]
    assert _merge([(0, 3), (5, 6)], 0) == [(0, 3), (5, 6)]


def _flat(n: int, noise: float = 0.05) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (0.05 + noise * rng.random((n, len(NAMES)))).astype(np.float32)


def test_blinks_are_masked_but_brow_and_mouth_motion_counts() -> None:
    m = _flat(100)
    col = {n: i for i, n in enumerate(NAMES)}
    m[20:25, col["eye_R"]] = m[20:25, col["eye_L"]] = 2.0  # a blink: eyes alone
    m[60:65, col["mouth_L"]] = 2.0  # a mouth-corner movement
    s = frame_score(m, NAMES, OffdConfig(smooth_s=0.0), 30.0)
    assert s[20:25].max() < 3.0
    assert s[60:65].min() > 10.0


def _signals(events: list[tuple[int, int, str]], n: int = 300, fps: float = 30.0
             ) -> VideoSignals:
    """Synthetic flow signals: each event raises the mouth region over its frames plus the
    lag (what a flow against t - k sees)."""
    from export.datasets import Annotation

    cfg = OffdConfig()
    micro, macro = _flat(n), _flat(n)
    j = NAMES.index("mouth_R")
    ann = []
    for a, b, kind in events:
        micro[a:b + lag_frames(cfg.micro_lag_s, fps), j] = 1.5
        macro[a:b + lag_frames(cfg.macro_lag_s, fps), j] = 1.5
        ann.append(Annotation("s", "v", a, (a + b) // 2, b, kind))
    return VideoSignals("s", "v", fps, micro, macro, np.ones(n, bool), NAMES, tuple(ann))


def test_spot_signals_recovers_micro_and_macro_intervals() -> None:
    sig = _signals([(40, 49, "micro"), (150, 209, "macro")])
    found = spot_signals(sig, OffdConfig(smooth_s=0.0))
    kinds = [(i.type, i.onset, i.offset) for i in found]
    assert [k[0] for k in kinds] == ["micro", "macro"]
    (_, a0, b0), (_, a1, b1) = kinds
    assert abs(a0 - 40) <= 1 and abs(b0 - 49) <= 1
    assert abs(a1 - 150) <= 1 and abs(b1 - 209) <= 1
    s, _ = score_signals([sig], OffdConfig(smooth_s=0.0))
    assert (s.micro.tp, s.macro.tp, s.overall.fp) == (1, 1, 0)


def test_thresholds_are_fitted_on_the_given_videos() -> None:
    sig = _signals([(40, 49, "micro"), (150, 209, "macro")])
    cfg = fit_thresholds([sig], OffdConfig(smooth_s=0.0), grid=(2.0, 5.0, 8.0, 100.0))
    assert cfg.micro_threshold < 100.0 and cfg.macro_threshold < 100.0
    with pytest.raises(ValueError, match="no videos to fit on"):
        fit_thresholds([], OffdConfig())


def test_read_split_and_choose_subjects(tmp_path: Path) -> None:
    assert read_split(tmp_path) == {}
    (tmp_path / "split.csv").write_text("subject,split,paired\na,train,1\nb,test,0\nc,test,1\n")
    split = read_split(tmp_path)
    assert choose_subjects({"a", "b", "c"}, split, "", "test", "--split") == {"b", "c"}
    assert choose_subjects({"a", "b", "c"}, split, "a", "", "--subjects") == {"a"}
    with pytest.raises(ValueError, match="unknown subjects"):
        choose_subjects({"a"}, split, "zz", "", "--subjects")
    with pytest.raises(ValueError, match="no subject in split 'dev'"):
        choose_subjects({"a", "b"}, split, "", "dev", "--split")
    with pytest.raises(ValueError, match="no split.csv"):
        choose_subjects({"a"}, {}, "", "test", "--split")


@pytest.fixture(scope="module")
def clean_clip(tmp_path_factory) -> tuple[Path, Path]:
    """A generated 12 s clip without distractors (known events), and a crop cache."""
    from export.synth import SynthConfig, generate

    root = tmp_path_factory.mktemp("offd")
    generate(SynthConfig(out_dir=root / "ds", seed=3, subjects=2, videos_per_subject=1,
                         duration_s=12.0, distractors=False, micro_fraction=0.5, quiet=True,
                         contact_sheet=False, frame_truth=False))
    return root / "ds", root / "cache"


def test_flow_signal_is_higher_inside_generated_expressions(clean_clip) -> None:
    from export.model import ModelConfig
    from export.videos import load_videos

    data, cache = clean_clip
    videos, _ = load_videos(data, "auto", cache, ModelConfig(), progress=False)
    cfg = OffdConfig()
    for v in videos:
        sig = video_signals(v.crops, v.valid, v.fps, v.subject, v.video, cfg, v.annotations)
        s = frame_score(sig.micro, sig.names, cfg, v.fps)
        inside = np.zeros(len(s), bool)
        for a in v.annotations:
            inside[a.onset:a.offset + 1] = True
        assert inside.any()
        assert np.median(s[inside]) > 1.5 * np.median(s[~inside])


def test_offd_cli_fits_on_one_split_and_scores_another(clean_clip, capsys) -> None:
    from export.__main__ import main

    data, cache = clean_clip
    subjects = sorted(p.name for p in data.iterdir() if p.is_dir())
    (data / "split.csv").write_text(f"subject,split,paired\n{subjects[0]},train,0\n"
                                    f"{subjects[1]},test,0\n")
    code = main(["baseline", "--method", "offd", "--data", str(data), "--cache", str(cache),
                 "--split", "test", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert set(out["table"]) == {"no merging", "merging", "duration relabel"}
    assert out["table"]["merging"]["overall"]["total"] > 0
    assert out["table"]["merging"]["overall"]["tp"] > 0
    assert any("fitted on 1 subjects" in n for n in out["notes"])
    code = main(["baseline", "--method", "offd", "--data", str(data), "--cache", str(cache),
                 "--split", "nope"])
    assert code == 2 and "no subject in split 'nope'" in capsys.readouterr().err


def test_framediff_cli_scores_a_split(clean_clip, capsys) -> None:
    from export.__main__ import main

    data, cache = clean_clip
    code = main(["baseline", "--data", str(data), "--cache", str(cache), "--split", "test",
                 "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["baseline"]["overall"]["total"] > 0


def test_interval_type_is_kept_by_relabel_variant() -> None:
    sig = _signals([(40, 69, "macro")])
    found = spot_signals(sig, OffdConfig(smooth_s=0.0), "duration relabel")
    assert found and all(isinstance(i, Interval) for i in found)
    assert all(i.type == ("micro" if i.offset - i.onset + 1 <= 15 else "macro") for i in found)
