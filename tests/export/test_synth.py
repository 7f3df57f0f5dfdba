"""SynthME generator: layout, exact ground truth, visible faces, determinism, clear errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from export.synth import PortraitError, SynthConfig, generate, make_demo_clip
from export.synth.dataset import load_identity
from export.synth.faces import builtin_portraits, find_faces
from export.synth.render import Renderer
from export.synth.schedule import (
    MACRO,
    MICRO,
    PlanConfig,
    macro_frame_range,
    micro_frame_range,
    plan_video,
)

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
REPO = Path(__file__).resolve().parents[2]


def _tiny(out: Path, seed: int = 0, **kw) -> SynthConfig:
    base = dict(out_dir=out, seed=seed, subjects=1, videos_per_subject=1, duration_s=5.0,
                quiet=True, contact_sheet=False)
    base.update(kw)
    return SynthConfig(**base)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _decode_grey(path: Path) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    frames = []
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    finally:
        cap.release()
    return np.array(frames)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "ds"
    generate(_tiny(out, subjects=2, contact_sheet=True))
    return out


def test_layout_and_csv_columns(tiny_dataset: Path) -> None:
    vids = _read_csv(tiny_dataset / "videos.csv")
    assert list(vids[0]) == ["subject", "video", "path", "fps", "num_frames"]
    assert [v["subject"] for v in vids] == ["s01", "s02"]
    for v in vids:
        frames = _decode_grey(tiny_dataset / v["path"])
        assert len(frames) == int(v["num_frames"]) == 150
        assert frames.shape[1:] == (240, 320)
        assert int(v["fps"]) == 30
    ann = _read_csv(tiny_dataset / "annotations.csv")
    assert ann and list(ann[0]) == ["subject", "video", "onset", "apex", "offset", "type"]
    for a in ann:
        assert 0 <= int(a["onset"]) <= int(a["apex"]) <= int(a["offset"]) < 150
        assert a["type"] in (MICRO, MACRO)
    meta = json.loads((tiny_dataset / "metadata.json").read_text())
    assert meta["seed"] == 0 and meta["generator"].startswith("synthme")
    n_expr = sum(len(v["expressions"]) for v in meta["videos"])
    assert n_expr == len(ann)
    sheet = cv2.imread(str(tiny_dataset / "contact_sheet.png"))
    assert sheet is not None and sheet.shape[0] > 100


def test_face_detected_in_nearly_every_frame(tiny_dataset: Path) -> None:
    import mediapipe as mp

    hits = total = 0
    with mp.solutions.face_detection.FaceDetection(model_selection=0,
                                                   min_detection_confidence=0.5) as det:
        for v in _read_csv(tiny_dataset / "videos.csv"):
            cap = cv2.VideoCapture(str(tiny_dataset / v["path"]))
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                res = det.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
                hits += bool(res.detections)
                total += 1
            cap.release()
    assert total == 300
    assert hits / total >= 0.99


def test_motion_is_higher_inside_ground_truth(tmp_path: Path) -> None:
    """Without distractors, frame-to-frame change in the face is higher inside GT intervals,
    for macro and for micro events, after video compression."""
    out = tmp_path / "clean"
    generate(_tiny(out, seed=3, duration_s=12.0, distractors=False, micro_fraction=0.5))
    frames = _decode_grey(out / "s01" / "s01_v01.mp4").astype(np.float32)
    diff = np.abs(np.diff(frames, axis=0))[:, 40:200, 80:240].mean(axis=(1, 2))  # diff[i]: i->i+1
    inside = {MICRO: np.zeros(len(frames), bool), MACRO: np.zeros(len(frames), bool)}
    for a in _read_csv(out / "annotations.csv"):
        inside[a["type"]][int(a["onset"]):int(a["offset"]) + 1] = True
    assert inside[MICRO].any() and inside[MACRO].any()
    moving = inside[MICRO] | inside[MACRO]
    outside = diff[~(moving[:-1] | moving[1:])].mean()
    for kind in (MICRO, MACRO):
        assert diff[inside[kind][:-1]].mean() > 2.0 * outside, kind


def test_ground_truth_is_exact_to_the_frame(tmp_path: Path) -> None:
    ident, bank = load_identity(builtin_portraits()[0])
    plan = plan_video(np.random.default_rng(5), 600, 30, PlanConfig())
    r = Renderer(ident, plan, noise_seed=0, bank=bank)
    assert plan.expressions
    for e in plan.expressions:
        for n in (e.onset - 1, e.offset + 1):
            assert not any(k[0].startswith("AU") and a for k, a in
                           r.actions_at(n, expressions=True, distractors=False).items())
        for n in range(e.onset, e.offset + 1):
            assert max(r.actions_at(n, distractors=False).values()) > 0.0
        peak = max(r.actions_at(e.apex, distractors=False).values())
        assert peak == pytest.approx(max(a for _, _, a in e.aus))


@pytest.mark.parametrize("fps", [30, 200])
def test_plan_durations_and_separation(fps: int) -> None:
    mic, mac = micro_frame_range(fps), macro_frame_range(fps)
    assert mic[1] < mac[0]
    kinds = []
    for seed in range(6):
        plan = plan_video(np.random.default_rng(seed), 40 * fps, fps)
        last = -1
        for e in plan.expressions:
            length = e.offset - e.onset + 1
            lo, hi = mic if e.kind == MICRO else mac
            assert lo <= length <= hi
            assert e.onset > last
            last = e.offset
            kinds.append(e.kind)
        micro = [(e.onset, e.offset) for e in plan.expressions if e.kind == MICRO]
        for d in plan.distractors:
            if d.kind == "blink":
                assert mic[0] <= d.end - d.start + 1 <= mic[1]
            if d.kind != "talk":
                assert all(d.end < a or d.start > b for a, b in micro), d
    assert kinds.count(MACRO) > kinds.count(MICRO) > 0


def test_same_seed_same_bytes_different_seed_differs(tmp_path: Path) -> None:
    def files(out: Path) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}

    a, b, c = (tmp_path / n for n in "abc")
    for out, seed in ((a, 7), (b, 7), (c, 8)):
        generate(_tiny(out, seed=seed, duration_s=3.0))
    fa, fb, fc = files(a), files(b), files(c)
    fa["metadata.json"] = fa["metadata.json"].replace(str(a).encode(), b"OUT")
    fb["metadata.json"] = fb["metadata.json"].replace(str(b).encode(), b"OUT")
    assert fa == fb
    assert fa["s01_v01.mp4"] != fc["s01_v01.mp4"]


def test_demo_clip(tmp_path: Path) -> None:
    clip = make_demo_clip(tmp_path / "demo.mp4", seed=0)
    assert clip.video_path.stat().st_size <= 3 * 1024 * 1024
    assert len(_decode_grey(clip.video_path)) == clip.num_frames == 540
    rows = _read_csv(clip.annotations_path)
    assert {r["type"] for r in rows} == {MICRO, MACRO}
    assert all(int(r["offset"]) < clip.num_frames for r in rows)


@pytest.mark.parametrize("kw, message", [
    ({"fps": 25}, "fps=25"),
    ({"duration_s": -3.0}, "duration_s=-3.0"),
    ({"subjects": 0}, "subjects=0"),
    ({"width_px": 321}, "even"),
])
def test_bad_settings_raise_naming_the_setting(tmp_path: Path, kw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        _tiny(tmp_path, **kw)


def test_missing_portrait_folder_and_faceless_portrait(tmp_path: Path) -> None:
    with pytest.raises(PortraitError, match="no such file or folder"):
        find_faces([tmp_path / "nowhere"])
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((240, 320, 3), 128, np.uint8))
    with pytest.raises(PortraitError, match="wall.png: no face found"):
        find_faces([blank])
    folder = tmp_path / "empty"
    folder.mkdir()
    with pytest.raises(PortraitError, match="holds no image"):
        find_faces([folder])


def test_cli_reports_bad_arguments(tmp_path: Path, capsys) -> None:
    from export.__main__ import main

    assert main(["synth", "--out", str(tmp_path / "x"), "--duration-s", "-1"]) == 2
    assert "duration_s=-1.0" in capsys.readouterr().err
    assert main(["synth", "--out", str(tmp_path / "x"), "--portraits",
                 str(tmp_path / "missing")]) == 2
    assert "missing: no such file or folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["synth", "--out", str(tmp_path / "x"), "--fps", "25"])
    assert main(["synth", "--seed", "1"]) == 2  # neither --out nor --demo
    assert "--out is required" in capsys.readouterr().err


def test_200_fps_variant(tmp_path: Path) -> None:
    generate(_tiny(tmp_path, fps=200, duration_s=2.0))
    v = _read_csv(tmp_path / "videos.csv")[0]
    assert (int(v["fps"]), int(v["num_frames"])) == (200, 400)
    cap = cv2.VideoCapture(str(tmp_path / v["path"]))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(200.0)
    cap.release()
    assert len(_decode_grey(tmp_path / v["path"])) == 400


def test_synth_never_imports_torch() -> None:
    code = ("import sys, export.synth, export.synth.dataset, export.synth.render; "
            "from export.synth.faces import builtin_portraits; builtin_portraits(); "
            "print('torch' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True)
    assert res.stdout.strip() == "False"


@pytest.mark.skipif(not REAL.is_dir(), reason="shared real-face folder absent")
def test_group_photo_gives_one_identity_per_face() -> None:
    faces = find_faces([REAL / "multi_face.jpg"])
    assert len(faces) == 5
    centres = sorted(f.landmarks_px.mean(0)[0] for f in faces)
    assert min(np.diff(centres)) > 40  # five different places, not one face found five times


@pytest.mark.skipif(not REAL.is_dir(), reason="shared real-face folder absent")
def test_clips_of_one_person_count_once() -> None:
    faces = find_faces([REAL / "face_noface.mov", REAL / "single_face.mp4",
                        REAL / "0-f1-su-ph.jpg"])
    assert sorted(Path(f.source).name for f in faces) == ["0-f1-su-ph.jpg", "face_noface.mov"]
