"""Issue 15 in ``spot``: ``--neutral-at SECONDS`` restarts the reference at the given media
times (calibration; models without a reference and bad times are refused with one error
line), and the summary's face line leads with the usable faces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from realtime.__main__ import main
from tests.media import write_video
from tests.realtime.cli.test_spot import BLANK, N_FRAMES, PREDICTABLE, error_lines
from tests.realtime.test_spotter import face_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    return write_video(path, face_clip(N_FRAMES, blank=BLANK))  # faces 0-11 and 14-23


@pytest.mark.parametrize("extra", [[], ["--mode", "window", "--realtime"]])
def test_neutral_at_restarts_the_reference_at_those_times(
        clip: Path, reference_exported_graphs, capsys: pytest.CaptureFixture[str],
        extra: list[str]) -> None:
    rc = main(["spot", "--source", str(clip), "--weights", str(reference_exported_graphs.out_dir),
               "--neutral-at", "0.2", "--neutral-at", "5", *PREDICTABLE, *extra])
    out, err = capsys.readouterr()
    assert rc == 0, err
    segments = [(d["onset_frame"], d["offset_frame"], d["cut_short"])
                for d in map(json.loads, out.splitlines()) if d["kind"] == "segment"]
    # Frame 6 (0.2 s) restarts the reference: the first face run splits there.
    assert segments == [(2, 3, True), (8, 9, True), (16, 21, True)]
    assert "neutral reference restarted at 0.20 s (frame 6; asked for 0.2 s)" in err
    assert "asked for 5 s" not in err  # the clip ends before 5 s


def test_neutral_at_is_refused_for_a_model_without_a_reference(
        clip: Path, exported_graphs, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["spot", "--source", str(clip), "--weights", str(exported_graphs.out_dir),
               "--neutral-at", "1"])
    err = capsys.readouterr().err
    assert rc == 2
    assert error_lines(err) == ["error: --neutral-at does not apply: this model's input is raw "
                                "crops, which keeps no reference of the face"]


@pytest.mark.parametrize("value", ["soon", "-1", "1,,2", "inf"])
def test_neutral_at_needs_times_in_seconds(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["spot", "--neutral-at", value])
    assert info.value.code == 2
    assert "is not a time in seconds >= 0" in capsys.readouterr().err


def test_the_summary_counts_usable_faces_first() -> None:
    """Issue 15: "faces: ok 0, at edge 472" read as "no usable face" for a face filling the
    frame; the line now leads with the frames whose face was classified."""
    from realtime.cli.spot import _faces_line

    line = _faces_line({"ok": 0, "at_edge": 472, "no_face": 3}, 475, 0)
    assert line.startswith("  faces: usable in 472 of 475 frames (0 whole, 472 cut by the "
                           "frame edge, both classified); not usable:")
    assert "no face 3" in line and "several faces in 0 frames" in line
