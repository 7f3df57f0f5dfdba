"""The page's settings: widget values -> SpotSettings, and AppConfig's checks."""

from __future__ import annotations

import pytest

from realtime.app import AppConfig, SpotSettings


@pytest.mark.parametrize("values, expected", [
    ((1, 1, False, False, 0.7), SpotSettings()),
    ((0, 3, True, False, 0.7), SpotSettings(0, 3, True, None)),
    ((2.0, 1.0, False, True, 0.25), SpotSettings(2, 1, False, 0.25)),
    ((1, 1, True, True, 0), SpotSettings(1, 1, True, 0.0)),
])
def test_settings_from_the_page(values: tuple, expected: SpotSettings) -> None:
    settings = SpotSettings.from_ui(*values)
    assert settings == expected
    assert settings.postprocess().merge_gap_frames == expected.merge_gap_frames


@pytest.mark.parametrize("values, message", [
    ((-1, 1, False, False, 0.5), "merging gap"),
    ((1.5, 1, False, False, 0.5), "merging gap"),
    ((None, 1, False, False, 0.5), "merging gap"),
    ((1, 0, False, False, 0.5), "minimum length"),
    ((1, 1, False, True, 1.5), "class threshold"),
    ((1, 1, False, True, None), "class threshold"),
])
def test_bad_settings_name_the_widget(values: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SpotSettings.from_ui(*values)


@pytest.mark.parametrize("field, value", [
    ("concurrency", 0), ("concurrency", 65), ("max_upload_mb", 0), ("stream_every_s", 0.0),
    ("time_limit_s", 0.5), ("poll_s", 10.0), ("gap_s", -1.0), ("timeline_s", True),
    ("threads", 0),
])
def test_app_config_names_a_bad_value(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        AppConfig(**{field: value})


def test_settings_note_says_what_is_wrong_or_the_seconds() -> None:
    from realtime.app.settings import settings_note

    assert settings_note(1, 0, False, False, 0.5) == (
        "**Not valid, not applied:** minimum length must be a whole number >= 1, got 0.")
    note = settings_note(3, 15, True, True, 0.25, fps=30)
    assert "merging gap 3 frames = 0.100 s" in note and "minimum length 15 frames = 0.500 s" \
        in note and "probability >= 0.25" in note and "micro up to 0.5 s" in note
    assert "1 frame = 0.040 s" in settings_note(1, 1, False, False, 0.5, fps=25)
    assert "most probable class" in settings_note(1, 1, False, False, 0.5)


def test_a_stop_shorter_than_a_stall_is_refused() -> None:
    with pytest.raises(ValueError, match="stop_s"):
        AppConfig(gap_s=1.0, stop_s=0.5)


def test_the_defaults_come_from_the_graphs_recommendation(exported_graphs, tmp_path) -> None:
    """Issue 15 / item 7: the Settings box starts from the model's recommended post-processing
    at 30 frames/s (read from the head graph's contract) and says so in plain words."""
    import json

    import onnx

    from realtime.app.about import model_recommendation
    from realtime.app.page import build_app, default_settings
    from realtime.contract import CONTRACT_KEY, GRAPH_FILES
    from realtime.postprocess import PostprocessSetting

    # The test graphs name no recommendation: the paper's setting, said as such.
    settings, note = default_settings(exported_graphs.out_dir)
    assert settings == SpotSettings() and "the loaded model recommends no other" in note
    # A head graph whose contract carries a tuned setting.
    tuned = PostprocessSetting(merge_gap_s=0.27, min_length_frames=3, relabel_by_duration=True,
                               expression_threshold=0.4, chosen_on="chosen on 8 validation "
                               "subjects of SynthME2-30 by export tune")
    head = onnx.load(str(exported_graphs.out_dir / GRAPH_FILES["head"]),
                     load_external_data=False)
    for prop in head.metadata_props:
        if prop.key == CONTRACT_KEY:
            contract = json.loads(prop.value)
            contract["postprocess"] = tuned.to_dict()
            prop.value = json.dumps(contract)
    onnx.save(head, str(tmp_path / GRAPH_FILES["head"]))
    assert model_recommendation(tmp_path) == tuned
    settings, note = default_settings(tmp_path)
    assert settings == SpotSettings(merge_gap_frames=8, min_length_frames=3,
                                    relabel_by_duration=True, threshold=0.4)
    assert note == ("**Defaults**: the loaded model's recommended post-processing, chosen on 8 "
                    "validation subjects of SynthME2-30 by export tune. At 30 frames/s: pauses "
                    "up to 8 frames (0.27 s) inside an expression are bridged, expressions "
                    "shorter than 3 frames (0.10 s) are dropped; labels: an expression when its "
                    "probability is at least 0.4; types: by duration (micro up to 0.5 s).")
    # Unreadable graphs: the paper's, and the page says the recommendation was not read.
    (tmp_path / GRAPH_FILES["head"]).write_bytes(b"not a graph")
    assert model_recommendation(tmp_path) is None
    assert "could not be read" in default_settings(tmp_path)[1]
    assert model_recommendation(tmp_path / "missing") is None
    # build_app without settings uses them; given settings are kept, without the note.
    app = build_app(exported_graphs.out_dir).spotter_app
    assert app.config.settings == SpotSettings() and app.config.settings_origin.startswith(
        "**Defaults**")
    given = SpotSettings(min_length_frames=4)
    app = build_app(exported_graphs.out_dir, settings=given).spotter_app
    assert app.config.settings == given and app.config.settings_origin == ""
