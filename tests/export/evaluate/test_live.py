"""``evaluate --live``: every video of a dataset through the live spotter (decode, crop,
resample, the graphs' recommended post-processing), pooled into one MEGC table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from export.__main__ import main


@pytest.fixture(scope="module")
def synth_200(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from export.synth import SynthConfig, generate

    out = tmp_path_factory.mktemp("s200") / "synth"
    generate(SynthConfig(out_dir=out, seed=5, fps=200, subjects=1, videos_per_subject=1,
                         duration_s=3.0, quiet=True, contact_sheet=False))
    return out


def _run(graphs: Path, data: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(["evaluate", "--live", "--onnx", str(graphs), "--data", str(data), "--out",
                 str(out)]) == 0
    assert "MEGC" in capsys.readouterr().out or (out / "live.json").is_file()
    return json.loads((out / "live.json").read_text())


def test_live_evaluation_at_the_training_rate(graphs_30fps: Path, tiny_synth: Path,
                                              tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from export.datasets import load_dataset

    report = _run(graphs_30fps, tiny_synth, tmp_path / "o", capsys)
    videos = load_dataset(tiny_synth).videos
    assert len(report["videos"]) == len(videos)
    assert all(r["model_frames"] is None for r in report["videos"])  # 30 fps: not resampled
    total = report["score"]["overall"]["total"]
    assert total == sum(len(v.annotations) for v in videos)
    assert report["setting"]["merge_gap_s"] is None  # these graphs name none: the paper's


def test_live_evaluation_resamples_a_200fps_dataset(graphs_30fps: Path, synth_200: Path,
                                                    tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    report = _run(graphs_30fps, synth_200, tmp_path / "o", capsys)
    (run,) = report["videos"]
    assert run["fps"] == 200
    assert run["model_frames"] == 90 and run["skipped_frames"] == 510  # 3 s: 600 -> 90


def test_live_needs_graphs_and_data(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["evaluate", "--live", "--data", str(tmp_path)]) == 2
    assert "--live needs --onnx" in capsys.readouterr().err
    assert main(["evaluate", "--live", "--onnx", str(tmp_path), "--data",
                 str(tmp_path / "none")]) == 2
    assert "error" in capsys.readouterr().err
