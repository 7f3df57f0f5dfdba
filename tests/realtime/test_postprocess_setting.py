"""The model's recommended post-processing (PostprocessSetting) and a user's choices on top of
it (PostprocessChoice): seconds to frames, overrides, the contract field, the CLI options."""

from __future__ import annotations

import argparse
import dataclasses
import json

import pytest

from realtime.cli.options import add_postprocess_options, describe_choice, postprocess_choice
from realtime.contract import Contract
from realtime.postprocess import (
    MODEL,
    PostprocessChoice,
    PostprocessConfig,
    PostprocessSetting,
    parse_threshold_option,
)

TUNED = PostprocessSetting(merge_gap_s=1.0, relabel_by_duration=True, chosen_on="validation")


def test_paper_setting_is_one_frame_at_any_rate() -> None:
    paper = PostprocessSetting()
    assert paper.config(30) == PostprocessConfig()
    assert paper.config(200).merge_gap_frames == 1
    assert PostprocessSetting.from_dict({}) == paper
    assert PostprocessSetting.from_dict(None) == paper


def test_gap_in_seconds_becomes_frames_at_the_stream_rate() -> None:
    assert TUNED.merge_gap_frames(30) == 30
    assert TUNED.merge_gap_frames(200) == 200
    assert TUNED.merge_gap_frames(25) == 25
    assert PostprocessSetting(merge_gap_s=0.001).merge_gap_frames(30) == 1  # never 0
    cfg = TUNED.config(30)
    assert cfg.relabel_by_duration and cfg.merge_gap_frames == 30


def test_round_trip_and_bad_fields() -> None:
    s = PostprocessSetting(merge_gap_s=0.5, expression_threshold=0.6, chosen_on="x")
    assert PostprocessSetting.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    with pytest.raises(ValueError, match="unknown post-processing fields"):
        PostprocessSetting.from_dict({"merge_gap": 3})
    with pytest.raises(ValueError, match="merge_gap_s"):
        PostprocessSetting(merge_gap_s=-1)
    with pytest.raises(ValueError, match="expression_threshold"):
        PostprocessSetting(expression_threshold=2)


def test_describe_names_frames_seconds_and_origin() -> None:
    text = TUNED.describe(30)
    assert "30 frames (1.00 s)" in text and "duration" in text and "validation" in text


def test_choice_overrides_only_what_it_names() -> None:
    assert PostprocessChoice().resolve(TUNED, 30) == (TUNED.config(30), None)
    cfg, thr = PostprocessChoice(merge_gap_frames=3).resolve(TUNED, 30)
    assert cfg.merge_gap_frames == 3 and cfg.relabel_by_duration
    cfg, thr = PostprocessChoice(relabel_by_duration=False, threshold=0.5).resolve(TUNED, 30)
    assert not cfg.relabel_by_duration and cfg.merge_gap_frames == 30 and thr == 0.5
    with_thr = dataclasses.replace(TUNED, expression_threshold=0.7)
    assert PostprocessChoice().resolve(with_thr, 30)[1] == 0.7
    assert PostprocessChoice(threshold=None).resolve(with_thr, 30)[1] is None  # argmax


def test_threshold_option_parsing() -> None:
    assert parse_threshold_option(None) == MODEL
    assert parse_threshold_option("argmax") is None
    assert parse_threshold_option("0.25") == 0.25
    with pytest.raises(ValueError, match="argmax"):
        parse_threshold_option("high")
    with pytest.raises(ValueError):
        parse_threshold_option("1.5")


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_postprocess_options(parser)
    return parser.parse_args(list(argv))


def test_cli_options_default_to_the_model_and_errors_name_the_option() -> None:
    assert postprocess_choice(_args()) == PostprocessChoice()
    choice = postprocess_choice(_args("--no-relabel", "--merge-gap", "4", "--threshold", "argmax"))
    assert choice == PostprocessChoice(merge_gap_frames=4, relabel_by_duration=False,
                                       threshold=None)
    with pytest.raises(ValueError, match="--merge-gap"):
        postprocess_choice(_args("--merge-gap", "-2"))
    with pytest.raises(ValueError, match="--min-length"):
        postprocess_choice(_args("--min-length", "0"))
    assert "model's recommendation" in describe_choice(PostprocessChoice(), TUNED, 30)
    assert "options over" in describe_choice(choice, TUNED, 30)
    assert "4 frames (0.13 s)" in describe_choice(choice, TUNED, 30)


def _contract_json(**extra: object) -> str:
    d = {"graph": "backbone", "inputs": [{"name": "frames", "shape": ["batch", 1, 128, 128],
                                          "dtype": "float32"}],
         "outputs": [{"name": "features", "shape": ["batch", 512, 4, 4], "dtype": "float32"}],
         "window": 5, "key_frames": 3, "crop_size": 128, "feature_shape": [512, 4, 4],
         "class_names": ["none", "micro", "macro"], "input_mean": 0.5, "input_std": 0.5,
         "checkpoint_sha256": "0" * 64, "exporter": "t", "opset": 17, "contract_version": 1}
    d.update(extra)
    return json.dumps(d)


def test_contract_carries_the_setting_and_old_graphs_get_the_papers() -> None:
    old = Contract.from_json(_contract_json())
    assert old.postprocess == {} and old.recommended == PostprocessSetting()
    new = Contract.from_json(_contract_json(postprocess=TUNED.to_dict()))
    assert new.recommended == TUNED
    assert Contract.from_json(new.to_json()).recommended == TUNED
    with pytest.raises(ValueError, match="malformed contract"):
        Contract.from_json(_contract_json(postprocess={"gap": 1}))
