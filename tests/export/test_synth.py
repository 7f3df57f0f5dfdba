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
from export.synth.demo import load_identity
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
    assert [v["subject"] for v in vids] == ["grace_hopper", "grace_hopper_m1"]
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
    assert set(meta["split"]) == {"train", "validation", "test"}
    assert sorted(sum(meta["split"].values(), [])) == sorted(meta["subjects"])
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
    frames = _decode_grey(out / "grace_hopper" / "grace_hopper_v01.mp4").astype(np.float32)
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
    assert fa["grace_hopper_v01.mp4"] != fc["grace_hopper_v01.mp4"]


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


# --- SynthME2: people, smile morphs, calibration, split, per-frame truth, codec ---
PORTRAITS = REPO.parent / "shared" / "data" / "portraits"


def _copy_portrait(dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(builtin_portraits()[0].read_bytes())
    return dst


@pytest.mark.parametrize("rel, root, expected", [
    ("london/001_neutral.jpg", "", ("london_001", "neutral")),
    ("london/001_smiling.jpg", "", ("london_001", "smiling")),
    ("canada/003f.jpg", "", ("canada_003f", "single")),
    ("clip.MP4", "", ("clip_mp4", "single")),
    ("Some Person.png", None, ("some_person", "single")),
])
def test_person_key_from_file_names(tmp_path: Path, rel: str, root, expected) -> None:
    from export.synth.faces import person_key

    base = tmp_path if root is not None else None
    assert person_key(tmp_path / rel, base) == expected


def test_find_people_pairs_neutral_and_smiling_recursively(tmp_path: Path) -> None:
    from export.synth.faces import find_people

    _copy_portrait(tmp_path / "set" / "a" / "x_neutral.jpg")
    _copy_portrait(tmp_path / "set" / "a" / "x_smiling.jpg")
    _copy_portrait(tmp_path / "set" / "b" / "deep" / "y.jpg")
    people = find_people([tmp_path / "set"])
    assert [(p.subject, p.paired) for p in people] == [("a_x", True), ("b_deep_y", False)]
    smile = people[0].smiling
    # the same photo as its own smile: the alignment is the identity, landmarks agree
    assert smile is not None and smile.picture.shape == people[0].neutral.picture.shape
    assert np.abs(smile.landmarks_px - people[0].neutral.landmarks_px).max() < 0.5


def test_find_people_refuses_two_files_with_one_subject_id(tmp_path: Path) -> None:
    from export.synth.faces import find_people

    _copy_portrait(tmp_path / "set" / "p.jpg")
    _copy_portrait(tmp_path / "set" / "p.png")
    with pytest.raises(PortraitError, match="same subject id 'p'"):
        find_people([tmp_path / "set"])


def test_piecewise_affine_field_reproduces_an_affine_map() -> None:
    from export.synth.morph import _delaunay, piecewise_affine_backward

    rng = np.random.default_rng(0)
    dst = np.vstack([rng.uniform(10, 90, (40, 2)), [[0, 0], [99, 0], [0, 99], [99, 99]]])
    a = np.array([[1.02, 0.03], [-0.02, 0.97]])
    src = dst @ a.T + np.array([1.5, -0.7])
    tris = _delaunay(dst, (0, 0, 100, 100))
    assert len(tris) > 60
    f = piecewise_affine_backward(tris, dst, src, np.zeros(2), (100, 100))
    ys, xs = np.mgrid[5:95, 5:95]
    want = np.stack([xs, ys], -1) @ a.T + np.array([1.5, -0.7]) - np.stack([xs, ys], -1)
    assert np.abs(f[5:95, 5:95] - want).max() < 1e-3


def _paired_identity():
    """Grace Hopper with a synthetic 'smile': her own photo, mouth corners moved by the AU12
    field, as the smiling photo (exact landmark displacements known)."""
    from export.synth.placement import Variant, place_identity

    face = find_faces([builtin_portraits()[0]])[0]
    ident = place_identity(face, "g", 320, 240, Variant())
    bank = FieldBank(ident.landmarks_px, ident.canvas.shape[:2])
    x0, y0, x1, y1 = bank.roi
    u = np.zeros(ident.canvas.shape[:2] + (2,), np.float32)
    u[y0:y1, x0:x1] = bank.field("AU12", "R", 1.0) + bank.field("AU12", "L", 1.0)
    h, w = u.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    smile = cv2.remap(ident.canvas, xs + u[..., 0], ys + u[..., 1], cv2.INTER_LINEAR)
    moved = ident.landmarks_px.copy()
    for side in ("R", "L"):
        for hd in bank.handles("AU12", side):
            for p, d in zip(hd.points_px, hd.disp_px):
                i = int(np.argmin(np.linalg.norm(ident.landmarks_px - p, axis=1)))
                moved[i] = ident.landmarks_px[i] + d
    from dataclasses import replace as dc_replace

    return dc_replace(ident, smile_canvas=smile, smile_landmarks_px=moved), bank


from export.synth.actions import FieldBank  # noqa: E402


def test_smile_morph_goes_from_neutral_to_the_smiling_photo() -> None:
    from export.synth.morph import SmileMorph
    from export.synth.schedule import Expression, VideoPlan

    ident, bank = _paired_identity()
    morph = SmileMorph(ident.landmarks_px, ident.smile_landmarks_px, bank.roi)
    e = Expression(MACRO, "real_smile", (), 10, 19, 24, 40, morph=1.0)
    plan = VideoPlan(60, 30.0, (e,), (), {}, 0.0)
    r = Renderer(ident, plan, noise_seed=0, bank=bank, morph=morph)
    m = ident.margin_px
    smile_frame = ident.smile_canvas[m:m + 240, m:m + 320].astype(np.float32)
    apex = r.frame(e.apex).astype(np.float32)
    rest = r.frame(0).astype(np.float32)
    assert np.array_equal(rest, ident.rest_frame().astype(np.float32))
    assert np.abs(apex - smile_frame).mean() < 0.5  # at strength 1: the smiling photo
    assert np.abs(apex - rest).mean() > 1.0
    half = r.frame(e.onset + 5).astype(np.float32)  # part-way: in between
    assert 0.0 < r.morph_at(e.onset + 5) < 1.0
    assert np.abs(half - rest).mean() < np.abs(apex - rest).mean()
    assert r.morph_at(e.onset - 1) == 0.0 and r.morph_at(e.offset + 1) == 0.0
    # the synthetic smile moves the corners by AU12's handle: (0.086, -0.061) eye distances
    assert morph.corner_displacement_iod() == pytest.approx(np.hypot(0.086, 0.061), rel=0.05)


def test_calibration_puts_micro_and_macro_peaks_in_their_ranges() -> None:
    from export.synth.calibrate import au_peak_px, calibrate_plan, crop_scale

    ident, bank = load_identity(builtin_portraits()[0])
    cfg = PlanConfig(distractors=False, micro_fraction=0.5)
    scale = crop_scale(ident.rest_frame())
    assert 0.3 < scale < 2.0
    seen = set()
    for seed in range(3):
        plan = calibrate_plan(plan_video(np.random.default_rng(seed), 900, 30, cfg), bank, None,
                              scale, cfg)
        for e in plan.expressions:
            measured = au_peak_px(bank, e.aus) * scale
            assert measured == pytest.approx(e.peak_px, rel=1e-3)
            if e.kind == MICRO:
                assert 0.9 * cfg.micro_peak_px[0] <= e.peak_px <= 1.1 * cfg.micro_peak_px[1]
            else:
                assert e.peak_px >= cfg.macro_min_peak_px or max(
                    a for _, _, a in e.aus) >= 1.6 - 1e-3
            seen.add(e.kind)
    assert seen == {MICRO, MACRO}


def test_split_is_subject_disjoint_stratified_and_seed_free() -> None:
    from export.synth.dataset import assign_splits

    subjects = [f"p{i:03d}" for i in range(85)] + [f"s{i:03d}" for i in range(34)] + ["r1", "r2"]
    paired = {s for s in subjects if s.startswith("p")}
    split = assign_splits(subjects, paired, {"r1", "r2"})
    assert set(split) == set(subjects)
    test = [s for s in subjects if split[s] == "test"]
    assert len(test) >= 30 and sum(s in paired for s in test) >= 15
    assert split["r1"] == split["r2"] == "train"
    assert {split[s] for s in subjects} == {"train", "validation", "test"}
    assert assign_splits(list(reversed(subjects)), paired, {"r1", "r2"}) == split


def test_frame_truth_matches_the_annotations(tiny_dataset: Path) -> None:
    ann = _read_csv(tiny_dataset / "annotations.csv")
    for v in _read_csv(tiny_dataset / "videos.csv"):
        rows = _read_csv(tiny_dataset / v["subject"] / f"{v['video']}.frames.csv")
        assert len(rows) == int(v["num_frames"])
        want = ["none"] * len(rows)
        for a in ann:
            if a["video"] == v["video"]:
                want[int(a["onset"]):int(a["offset"]) + 1] = \
                    [a["type"]] * (int(a["offset"]) - int(a["onset"]) + 1)
        assert [r["label"] for r in rows] == want
        aus = [k for k in rows[0] if k.startswith("AU")]
        for r, w in zip(rows, want):
            if w != "none":
                assert max(float(r[k]) for k in aus) > 0.0


@pytest.mark.skipif(__import__("shutil").which("ffmpeg") is None, reason="no ffmpeg program")
def test_x264_has_less_keyframe_flicker_than_mp4v(tmp_path: Path) -> None:
    """Static face, sensor noise only: mp4v refreshes the noise every 12th frame (a periodic
    full-frame change several times the others); x264 -tune grain keeps it on every frame."""
    from export.synth.dataset import write_video
    from export.synth.schedule import VideoPlan

    ident, bank = load_identity(builtin_portraits()[0])
    plan = VideoPlan(96, 30.0, (), (), {}, 2.0)
    ratios = {}
    for codec in ("mp4v", "x264"):
        path = tmp_path / f"{codec}.mp4"
        write_video(path, Renderer(ident, plan, noise_seed=1, bank=bank), 30, codec,
                    keyframe_s=0.4)  # x264 keyframe every 12 frames, like mp4v's
        d = np.abs(np.diff(_decode_grey(path).astype(np.float32), axis=0)).mean(axis=(1, 2))
        key = np.zeros(len(d), bool)
        key[11::12] = True
        ratios[codec] = d[key].mean() / d[~key].mean()
    assert ratios["mp4v"] > 2.0
    assert ratios["x264"] < 1.5


@pytest.mark.skipif(not PORTRAITS.is_dir(), reason="shared portraits folder absent")
def test_shared_portraits_give_119_people_85_paired() -> None:
    from export.synth.faces import find_people

    people = find_people([PORTRAITS])
    assert len(people) == 119 and sum(p.paired for p in people) == 85
    ids = [p.subject for p in people]
    assert len(set(ids)) == 119 and "london_001" in ids and "canada_003f" in ids
    by = {p.subject: p for p in people}
    n, s = by["london_001"].neutral.landmarks_px, by["london_001"].smiling.landmarks_px
    iod = np.linalg.norm(n[[362, 263]].mean(0) - n[[33, 133]].mean(0))
    corner = np.linalg.norm(s[[61, 291]] - n[[61, 291]], axis=1).mean() / iod
    stable = np.linalg.norm(s[[6, 168, 10]] - n[[6, 168, 10]], axis=1).mean() / iod
    assert 0.04 < corner < 0.25 and stable < 0.03  # aligned: the smile moves, the nose does not


def _fake_people(n_paired: int, n_single: int):
    from export.synth.faces import FaceFound, Person

    face = FaceFound("x.jpg", 0, 0, np.zeros((468, 2)), np.zeros((4, 4, 3), np.uint8))
    return ([Person(f"p{i:02d}", face, face) for i in range(n_paired)]
            + [Person(f"s{i:02d}", face) for i in range(n_single)])


def test_subject_selection_by_split_pairing_and_per_split(tmp_path: Path) -> None:
    from export.synth.dataset import select_subjects

    people = _fake_people(20, 12)
    full = {s.subject: s.split
            for s in select_subjects(people, set(), _tiny(tmp_path, subjects=None))}
    test = select_subjects(people, set(), _tiny(tmp_path, splits=("test",), paired_only=True,
                                                subjects=None))
    assert test and all(s.split == "test" and s.paired for s in test)
    assert all(full[s.subject] == "test" for s in test)
    few = select_subjects(people, set(), _tiny(tmp_path, per_split=2, subjects=None))
    assert sorted(s.split for s in few) == ["test"] * 2 + ["train"] * 2 + ["validation"] * 2
    assert all(full[s.subject] == s.split for s in few)  # a subset keeps every split
    with pytest.raises(ValueError, match="splits=\\['dev'\\]"):
        _tiny(tmp_path, splits=("dev",))


def test_auto_codec_without_ffmpeg_says_the_dataset_differs(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """--codec auto falls back to mp4v where ffmpeg is missing, and says so on stderr (a fresh
    machine without ffmpeg regenerated SynthME2-30 in mp4v: v0.3's validation F1 fell from
    0.67 to 0.56); x264 asked for without ffmpeg is an error naming the program."""
    import shutil as _shutil

    from export.synth import dataset

    monkeypatch.setattr(_shutil, "which", lambda name: None)
    assert dataset.resolve_codec("auto") == "mp4v"
    err = capsys.readouterr().err
    assert "ffmpeg not found" in err and "mp4v" in err and "differs" in err
    with pytest.raises(ValueError, match="ffmpeg"):
        dataset.resolve_codec("x264")
    assert dataset.resolve_codec("mp4v") == "mp4v" and capsys.readouterr().err == ""
    monkeypatch.setattr(_shutil, "which", lambda name: "/usr/bin/ffmpeg")
    assert dataset.resolve_codec("auto") == "x264" and capsys.readouterr().err == ""
