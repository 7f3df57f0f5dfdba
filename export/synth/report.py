"""SynthME2 measurements: motion calibration histograms and the codec's keyframe flicker.

    python -m export.synth.report --data data/synthme2_30 --out docs/synthme2 \\
        [--portraits ../shared/data/portraits] [--real ../shared/data/real]

Writes ``motion_calibration.png`` (peak displacement per generated expression on the 128-px
crop; smile mouth-corner displacement over the inter-ocular distance, real pairs vs the AU12
warp) and ``report.json`` with the figures, and prints them as markdown. Torch-free.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from .actions import MOUTH_CORNERS, FieldBank
from .faces import builtin_portraits, find_people
from .placement import Variant, place_identity
from .render import Renderer
from .schedule import MACRO, VideoPlan


def expression_peaks(meta: dict) -> dict[str, list[float]]:
    """Peak displacement (crop px) of every expression, by kind and by AU warp / smile morph."""
    out: dict[str, list[float]] = {}
    for v in meta["videos"]:
        for e in v["expressions"]:
            key = f"{e['kind']} {'smile morph' if e.get('morph', 0) > 0 else 'AU warp'}"
            out.setdefault(key, []).append(float(e["peak_px"]))
    return out


def au12_corner_per_amplitude(people, n: int = 12) -> list[float]:
    """Mouth-corner displacement / IOD that the AU12 warp makes at amplitude 1, per face.

    Measured on the warp itself: the corner's forward displacement is where the backward field
    at the moved corner points back from (one fixed-point step is exact to < 1 %)."""
    out = []
    for p in people[:n]:
        ident = place_identity(p.neutral, p.subject, 320, 240, Variant())
        bank = FieldBank(ident.landmarks_px, ident.canvas.shape[:2])
        x0, y0, x1, y1 = bank.roi
        field = bank.field("AU12", "R", 1.0) + bank.field("AU12", "L", 1.0)
        disp = []
        for side in ("R", "L"):
            c = ident.landmarks_px[MOUTH_CORNERS[side][0]]
            d = np.zeros(2)
            for _ in range(8):  # solve q = c + d with field(q) = -d
                q = c + d
                xi = int(np.clip(round(q[0] - x0), 0, x1 - x0 - 1))
                yi = int(np.clip(round(q[1] - y0), 0, y1 - y0 - 1))
                d = -field[yi, xi].astype(np.float64)
            disp.append(np.linalg.norm(d))
        out.append(float(np.mean(disp) / bank.iod_px))
    return out


def au12_smile_amplitudes(meta: dict) -> list[float]:
    """AU12 amplitudes of the generated macro smiles made by warping (not morphing)."""
    amps = []
    for v in meta["videos"]:
        for e in v["expressions"]:
            if e["kind"] == MACRO and not e.get("morph"):
                a = [amp for au, _s, amp in e["aus"] if au == "AU12"]
                if a:
                    amps.append(float(max(a)))
    return amps


def _decode_grey(path: Path) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    frames = []
    try:
        while True:
            ok, f = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY).astype(np.float32))
    finally:
        cap.release()
    return np.array(frames)


def keyframes(path: Path) -> np.ndarray:
    """0-based indices of the intra frames of a video (ffprobe)."""
    res = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_frames",
                          "-show_entries", "frame=pict_type", "-of", "csv", str(path)],
                         capture_output=True, text=True, check=True)
    types = [line.split(",")[1] for line in res.stdout.splitlines() if line.startswith("frame")]
    return np.array([i for i, t in enumerate(types) if t == "I"], np.int64)


def flicker(frames: np.ndarray, keys: np.ndarray, box=None) -> dict[str, float]:
    """Mean absolute frame-to-frame change into keyframes vs into other frames (grey levels)."""
    if box is not None:
        x0, y0, x1, y1 = box
        frames = frames[:, y0:y1, x0:x1]
    d = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2))  # d[i]: frame i -> i + 1
    into_key = np.zeros(len(d), bool)
    k = keys[(keys >= 1) & (keys <= len(d))] - 1
    into_key[k] = True
    if not into_key.any():
        return {"keyframes": 0, "at_keyframes": float("nan"), "other": float(d.mean()),
                "ratio": float("nan")}
    a, b = float(d[into_key].mean()), float(d[~into_key].mean())
    return {"keyframes": int(into_key.sum()), "at_keyframes": round(a, 3), "other": round(b, 3),
            "ratio": round(a / b, 3)}


def codec_flicker(work: Path, portrait: Path | None = None, seconds: float = 10.0
                  ) -> dict[str, dict[str, float]]:
    """A still face with sensor noise (sigma 2), encoded the old way (OpenCV mp4v, a keyframe
    every 12 frames) and the SynthME2 way (x264 -tune grain, every 2 s), face box only."""
    from .dataset import write_video

    work.mkdir(parents=True, exist_ok=True)
    src = portrait or builtin_portraits()[0]
    face = find_people([src])[0].neutral
    ident = place_identity(face, "codec", 320, 240, Variant())
    n = int(round(seconds * 30))
    plan = VideoPlan(n, 30.0, (), (), {}, 2.0)
    lm = ident.landmarks_px - ident.margin_px
    box = tuple(int(v) for v in (*np.maximum(lm.min(0), 0), *lm.max(0)))
    out = {}
    for codec in ("mp4v", "x264"):
        path = work / f"{codec}.mp4"
        write_video(path, Renderer(ident, plan, noise_seed=1), 30.0, codec, keyframe_s=2.0)
        out[f"synthetic still face, {codec}"] = flicker(_decode_grey(path), keyframes(path),
                                                        box)
    return out


def real_flicker(real: Path) -> dict[str, dict[str, float]]:
    """Keyframe flicker of the real clips that have periodic keyframes (whole frame)."""
    out = {}
    for p in sorted(real.glob("*.m*")):
        if p.suffix.lower() not in (".mp4", ".mov"):
            continue
        keys = keyframes(p)
        if len(keys) > 1:
            out[p.name] = flicker(_decode_grey(p), keys)
    return out


def dataset_flicker(data: Path, videos: int = 6) -> dict[str, float]:
    """Keyframe flicker of the first few videos of a generated dataset, face box region."""
    meta = json.loads((data / "metadata.json").read_text())
    vals = []
    for v in meta["videos"][:videos]:
        frames = _decode_grey(data / v["path"])
        h, w = frames.shape[1:]
        box = (w // 4, h // 8, 3 * w // 4, 7 * h // 8)
        vals.append(flicker(frames, keyframes(data / v["path"]), box))
    a = np.mean([x["at_keyframes"] for x in vals])
    b = np.mean([x["other"] for x in vals])
    return {"videos": len(vals), "at_keyframes": round(float(a), 3), "other": round(float(b), 3),
            "ratio": round(float(a / b), 3)}


def plot(peaks: dict[str, list[float]], real_iod: list[float], warp_iod: list[float],
         path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    bins = np.logspace(np.log10(0.1), np.log10(20), 40)
    for key in sorted(peaks):
        a.hist(peaks[key], bins=bins, alpha=0.55, label=f"{key} (n={len(peaks[key])})")
    a.axvspan(0.3, 1.5, color="grey", alpha=0.12, label="micro target 0.3-1.5 px")
    a.axvline(2.0, color="k", ls="--", lw=1, label="macro > 2 px")
    a.set_xscale("log")
    a.set_xlabel("peak displacement at the apex, px on the 128-px crop")
    a.set_ylabel("expressions")
    a.set_title("SynthME2 expressions: calibrated motion")
    a.legend(fontsize=7)
    bins2 = np.linspace(0, 0.3, 31)
    b.hist(real_iod, bins=bins2, alpha=0.6, label=f"real neutral->smile pairs (n={len(real_iod)})")
    b.hist(warp_iod, bins=bins2, alpha=0.6, label=f"AU12 warp smiles (n={len(warp_iod)})")
    b.set_xlabel("mouth-corner displacement / inter-ocular distance")
    b.set_ylabel("count")
    b.set_title("Smiles: real photo pairs vs the AU12 warp")
    b.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _stats(x: list[float]) -> str:
    if not x:
        return "n=0"
    q = np.percentile(x, [5, 50, 95])
    return f"n={len(x)}, 5/50/95 % {q[0]:.2f} / {q[1]:.2f} / {q[2]:.2f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m export.synth.report", description=__doc__)
    ap.add_argument("--data", type=Path, required=True, help="a generated SynthME2 dataset")
    ap.add_argument("--out", type=Path, required=True, help="folder for the PNG and JSON")
    ap.add_argument("--real", type=Path, default=None, help="real clips for the codec check")
    args = ap.parse_args(argv)
    meta = json.loads((args.data / "metadata.json").read_text())
    peaks = expression_peaks(meta)
    real_iod = [s["smile_corner_displacement_iod"] for s in meta["subjects"].values()
                if s.get("smile_corner_displacement_iod") is not None]
    unpaired = [s for s in meta["subjects"].values() if not s["paired"]]
    people = find_people(sorted({s["source"] for s in unpaired})[:12])
    per_amp = au12_corner_per_amplitude(people)
    amps = au12_smile_amplitudes(meta)
    rng = np.random.default_rng(0)
    warp_iod = [float(a * per_amp[int(rng.integers(len(per_amp)))]) for a in amps]
    plot(peaks, real_iod, warp_iod, args.out / "motion_calibration.png")
    codec = codec_flicker(args.out / "_codec_tmp")
    for p in (args.out / "_codec_tmp").glob("*"):
        p.unlink()
    (args.out / "_codec_tmp").rmdir()
    codec["SynthME2 dataset videos (x264)"] = dataset_flicker(args.data)
    if args.real is not None and args.real.is_dir():
        codec.update({f"real {k}": v for k, v in real_flicker(args.real).items()})
    report = {
        "peak_px": {k: {"n": len(v), "p5": float(np.percentile(v, 5)),
                        "median": float(np.median(v)), "p95": float(np.percentile(v, 95)),
                        "min": float(np.min(v)), "max": float(np.max(v))}
                    for k, v in peaks.items()},
        "smile_corner_iod_real": _stats(real_iod),
        "smile_corner_iod_au12_warp": _stats(warp_iod),
        "au12_corner_iod_per_unit_amplitude": _stats(per_amp),
        "codec_flicker": codec,
    }
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    print("| expressions | n | min | 5 % | median | 95 % | max (px, 128-px crop) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for k, v in sorted(report["peak_px"].items()):
        print(f"| {k} | {v['n']} | {v['min']:.2f} | {v['p5']:.2f} | {v['median']:.2f} | "
              f"{v['p95']:.2f} | {v['max']:.2f} |")
    print(f"\nsmile corner / IOD, real pairs: {report['smile_corner_iod_real']}")
    print(f"smile corner / IOD, AU12 warp smiles: {report['smile_corner_iod_au12_warp']}")
    print("\n| clip | keyframes | change into keyframes | into other frames | ratio |")
    print("|---|---:|---:|---:|---:|")
    for k, v in codec.items():
        print(f"| {k} | {v.get('keyframes', v.get('videos'))} | {v['at_keyframes']} | "
              f"{v['other']} | {v['ratio']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
