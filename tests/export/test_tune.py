"""`export tune`'s chosen post-processing travels checkpoint -> graphs -> live spotter, and a
bad --into is refused before any prediction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from export.__main__ import main
from export.checkpoint import load_checkpoint, save_checkpoint, update_metadata
from export.model import build_model
from export.onnx_export import export_checkpoint
from export.tune import setting_of, store
from realtime.contract import open_graph
from realtime.postprocess import PostprocessChoice, PostprocessConfig, PostprocessSetting
from realtime.sources import Frame
from realtime.spotter import Spotter


def test_setting_of_converts_the_gap_to_seconds() -> None:
    s = setting_of((30, None, True), 30.0, Path("/d/synthme2_30"), 14, 0.5166)
    assert s.merge_gap_s == 1.0 and s.relabel_by_duration and s.expression_threshold is None
    assert "14 validation subjects of synthme2_30" in s.chosen_on and "0.517" in s.chosen_on


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PostprocessSetting]:
    root = tmp_path_factory.mktemp("tuned")
    ckpt = save_checkpoint(root / "m.pt", build_model(seed=1).eval(),
                           metadata={"note": "kept"})
    setting = setting_of((15, 0.6, True), 30.0, Path("d"), 3, 0.4)
    scores = {"best_on_validation": {}, "test_with_best": {}, "test_default": {}}
    store(ckpt, setting, scores)
    export_checkpoint(ckpt, root / "graphs")
    return root, setting


def test_store_keeps_other_metadata(tuned: tuple[Path, PostprocessSetting]) -> None:
    root, setting = tuned
    meta = load_checkpoint(root / "m.pt")["metadata"]
    assert meta["note"] == "kept" and meta["postprocess"] == setting.to_dict()
    assert set(meta["postprocess_tuning"]) == {"best_on_validation", "test_with_best",
                                              "test_default"}


def test_graphs_carry_the_setting(tuned: tuple[Path, PostprocessSetting]) -> None:
    root, setting = tuned
    for name in ("backbone.onnx", "head.onnx", "stsnet_sw.onnx"):
        kind = {"backbone.onnx": "backbone", "head.onnx": "head"}.get(name, "window")
        _, contract = open_graph(root / "graphs" / name, kind)
        assert contract.recommended == setting


def _frame(fps: float) -> Frame:
    return Frame(index=0, time_s=0.0, image=np.full((120, 160, 3), 90, np.uint8), fps=fps)


def test_spotter_uses_the_setting_at_the_stream_rate(
        tuned: tuple[Path, PostprocessSetting]) -> None:
    root, setting = tuned
    with Spotter(root / "graphs", provider="cpu") as sp:
        assert sp.recommended == setting and sp.threshold == 0.6
        sp.process(_frame(25.0))
        assert sp.postprocess == PostprocessConfig(merge_gap_frames=12,
                                                   relabel_by_duration=True)
        assert sp.merger is not None
    override = PostprocessChoice(merge_gap_frames=2, threshold=None)
    with Spotter(root / "graphs", provider="cpu", postprocess=override) as sp:
        sp.process(_frame(30.0))
        assert sp.postprocess.merge_gap_frames == 2 and sp.postprocess.relabel_by_duration
        assert sp.threshold is None
    fixed = PostprocessConfig(merge_gap_frames=1)
    with Spotter(root / "graphs", provider="cpu", postprocess=fixed) as sp:
        sp.process(_frame(30.0))
        assert sp.postprocess == fixed and sp.threshold is None
    with pytest.raises(ValueError, match="inside the PostprocessChoice"):
        Spotter(root / "graphs", provider="cpu", postprocess=override, threshold=0.5)


def test_update_metadata_refuses_a_non_checkpoint(tmp_path: Path) -> None:
    bad = tmp_path / "x.pt"
    bad.write_text("not a checkpoint")
    with pytest.raises(Exception, match="x.pt"):
        update_metadata(bad, {"a": 1})


def test_cli_bad_into_fails_before_predicting(tuned: tuple[Path, PostprocessSetting],
                                              tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    root, _ = tuned
    data = tmp_path / "d"
    data.mkdir()
    (data / "split.csv").write_text("subject,split\na,train\nb,validation\nc,test\n")
    code = main(["tune", "--graphs", str(root / "graphs"), "--data", str(data),
                 "--into", str(tmp_path / "missing.pt")])
    assert code == 2
    assert "--into" in capsys.readouterr().err


def test_cli_end_to_end_on_a_tiny_dataset(tiny_synth: Path, tiny_subjects: list[str],
                                          tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_synth, data)
    parts = ("train", "validation", "test")
    (data / "split.csv").write_text("subject,split\n" + "".join(
        f"{s},{p}\n" for s, p in zip(tiny_subjects, parts)))
    ckpt = save_checkpoint(tmp_path / "m.pt", build_model(seed=2).eval())
    export_checkpoint(ckpt, tmp_path / "g")
    common = ["--graphs", str(tmp_path / "g"), "--data", str(data), "--cache",
              str(tmp_path / "cache"), "--threads", "1"]
    assert main(["tune", *common, "--json", str(tmp_path / "t.json"), "--into", str(ckpt)]) == 0
    result = json.loads((tmp_path / "t.json").read_text())
    assert set(result["test_paper"]) == {"no_merging", "merging", "duration_relabel"}
    assert result["test_paper"]["merging"] == result["test_default"]
    stored = load_checkpoint(ckpt)["metadata"]["postprocess"]
    assert stored == result["setting"]
    export_checkpoint(ckpt, tmp_path / "g")  # the graphs now carry the chosen setting
    capsys.readouterr()
    assert main(["tune", *common, "--recommended", "--json", str(tmp_path / "r.json")]) == 0
    rec = json.loads((tmp_path / "r.json").read_text())
    assert rec["setting"] == stored
    assert rec["test_with_recommended"] == result["test_with_best"]  # same setting, same test
    assert "test with recommended" in capsys.readouterr().out
    # --on validation: the same setting on the validation subject (the score tune chose by)
    assert main(["tune", *common, "--recommended", "--on", "validation", "--json",
                 str(tmp_path / "v.json")]) == 0
    val = json.loads((tmp_path / "v.json").read_text())
    assert "test_with_recommended" not in val and "test_paper" not in val
    assert val["validation_with_recommended"] == result["best_on_validation"]["validation"]
    assert "validation with recommended" in capsys.readouterr().out
    assert main(["tune", *common, "--on", "validation"]) == 2  # a choice is made on validation
    assert "--on is for --recommended" in capsys.readouterr().err


def test_recommended_scores_a_dataset_without_a_split(tiny_synth: Path, tmp_path: Path,
                                                      tuned: tuple[Path, PostprocessSetting]
                                                      ) -> None:
    import json
    import shutil

    root, setting = tuned
    data = tmp_path / "check"
    shutil.copytree(tiny_synth, data)
    (data / "split.csv").unlink(missing_ok=True)  # a check set has none
    out = tmp_path / "r.json"
    assert main(["tune", "--graphs", str(root / "graphs"), "--data", str(data), "--cache",
                 str(tmp_path / "cache"), "--threads", "1", "--recommended", "--json",
                 str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["setting"] == setting.to_dict()
    total = result["test_with_recommended"]["overall"]["total"]
    from export.datasets import load_dataset

    assert total == sum(len(v.annotations) for v in load_dataset(data).videos)
