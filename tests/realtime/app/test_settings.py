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
