"""The benchmark's report: ratios between modes, the speed targets, the Markdown tables and
the latency histogram, all computed from the result dict of :func:`realtime.bench.run_bench`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from realtime.bench.config import (
    MODES,
    TARGET_CACHED_VS_EAGER,
    TARGET_DROPPED,
    TARGET_E2E_FPS,
    TARGET_GROWTH_MB,
    TARGET_WINDOW_VS_BACKBONE,
)

STAGE_LABELS = {
    "decode": "decode (OpenCV)", "face_detect_track": "face detect/track (per frame)",
    "face_detect_frames": "  frames with a detector run",
    "face_track_frames": "  frames tracked only", "crop": "crop (box + cut + resize)",
    "input_transform": "input transform (1 frame; the contract's difference image)",
    "backbone": "backbone (1 frame)", "head": "head (1 window)",
    "merge": "merge (online merger)",
    "window_inference": "**per-window inference** (backbone + head)",
    "frame_total": "**whole frame** (sum of stages)"}
MODE_LABELS = {"cached": "cached (backbone per frame + head)",
               "window": "window (whole-window graph)",
               "cached-int8": "cached, int8 backbone",
               "eager": "PyTorch eager, whole window per step"}
E2E_LABELS = (("frame_by_frame", "end to end, frame by frame (live path)"),
              ("frame_by_frame_int8", "end to end, frame by frame, int8 backbone"),
              ("batched", "end to end, batched (recorded file)"))
HOW_MEASURED = [
    "- *Per-window inference*: one `Engine.push` that completes a window: the backbone "
    "on the new frame plus the head on the last K feature maps (cached mode).",
    "- *Modes* run on the same face crops, one frame at a time, runs interleaved. "
    "*PyTorch eager* is the authors' way: the whole K-frame window through the model at "
    "every step (fp32, `torch.inference_mode`, same thread count).",
    "- *End to end*: the real `Spotter` on a real source (decoding on its capture "
    "thread, bounded queue), as fast as it goes; *frame by frame* is the live path, "
    "*batched* the path for recorded files (32-frame batches).",
    "- *Live source*: the clip delivered at the camera's frame rate in wall time with "
    "the live policy (queue of 4, oldest frame dropped when the spotter falls "
    "behind). Event delay: from the capture of a segment's last frame to its event.",
    "- *RSS growth*: resident memory after the long run minus after its warm-up "
    "(the clip looped, frame by frame)."]
_COLORS = {"cached": "tab:blue", "cached-int8": "tab:green", "window": "tab:orange",
           "eager": "tab:red"}
_TICKS = (0.5, 1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500, 1000, 2000)
_PLOT_STAGES = ("decode", "face_detect_track", "crop", "backbone", "head", "merge")


# ------------------------------------------------------------------------------------- targets


def _target(name: str, measured: float | None, op: str, limit: float, unit: str,
            note: str = "") -> dict[str, Any]:
    met = None if measured is None else (measured >= limit if op == ">=" else
                                         measured <= limit if op == "<=" else
                                         measured < limit)
    return {"name": name, "measured": measured, "op": op, "target": limit, "unit": unit,
            "met": met, "note": note}


def _e2e_targets(e2e: dict[str, Any], size: list[int]) -> list[dict[str, Any]]:
    note = f"clip {size[0]}x{size[1]}" + ("" if tuple(size) == (640, 480) else
                                          " (target is for 640x480: use --resize 640x480)")
    fbf = e2e.get("frame_by_frame", {}).get("fps")
    targets = [_target("end to end, frame by frame (live path)", fbf, ">=", TARGET_E2E_FPS,
                       "frames/s", note)]
    if "frame_by_frame_int8" in e2e:
        targets.append(_target("end to end, frame by frame, int8 backbone",
                               e2e["frame_by_frame_int8"]["fps"], ">=", TARGET_E2E_FPS,
                               "frames/s", note))
    if "batched" in e2e:
        targets.append(_target("end to end, batched (recorded file)", e2e["batched"]["fps"],
                               ">=", TARGET_E2E_FPS, "frames/s", note))
    return targets


def evaluate_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each speed target with what was measured and whether it is met (None: not measured)."""
    ratios = result.get("ratios", {})
    live, mem = result.get("live"), result.get("memory")
    targets = [
        _target("cached windows/s vs PyTorch eager per-window", ratios.get("cached_vs_eager"),
                ">=", TARGET_CACHED_VS_EAGER, "x",
                "" if "eager" in result.get("modes", {}) else "eager reference not run"),
        _target("per-window inference p95 (cached) vs one backbone pass p95",
                ratios.get("window_p95_vs_backbone_p95"), "<=", TARGET_WINDOW_VS_BACKBONE, "x"),
        _target("per-window inference p95 (cached) vs one backbone pass p50 (strict reading)",
                ratios.get("window_p95_vs_backbone_p50"), "<=", TARGET_WINDOW_VS_BACKBONE, "x",
                "the backbone's own p95/p50 jitter counts against it"),
        *_e2e_targets(result.get("end_to_end", {}), result["source"]["size"]),
        _target(f"dropped frames, {live['source_fps']:g} fps live source"
                if live else "dropped frames, live source",
                None if live is None else live["dropped_frames"], "<=",
                TARGET_DROPPED, "frames", "" if live else "live run skipped"),
        _target(f"RSS growth over {mem['frames']} frames" if mem else "RSS growth",
                None if mem is None else mem["growth_mb"], "<", TARGET_GROWTH_MB,
                "MB", "" if mem else "memory run skipped"),
    ]
    return targets


def compute_ratios(modes: dict[str, Any]) -> dict[str, float]:
    """Speed ratios between the modes, and per-window latency over one backbone pass."""
    r: dict[str, float] = {}

    def wps(name: str) -> float:
        return float(modes.get(name, {}).get("windows_per_s", 0.0))

    if wps("cached") > 0:
        for other in ("window", "eager"):
            if wps(other) > 0:
                r[f"cached_vs_{other}"] = wps("cached") / wps(other)
        if wps("cached-int8") > 0:
            r["int8_vs_cached"] = wps("cached-int8") / wps("cached")
            if wps("eager") > 0:
                r["int8_vs_eager"] = wps("cached-int8") / wps("eager")
    for name, key in (("cached", ""), ("cached-int8", "int8_")):
        m = modes.get(name)
        if m and m.get("backbone_pass", {}).get("n"):
            bb, lat = m["backbone_pass"], m["latency"]
            r[f"{key}window_p95_vs_backbone_p95"] = lat["p95_ms"] / bb["p95_ms"]
            r[f"{key}window_p50_vs_backbone_p50"] = lat["p50_ms"] / bb["p50_ms"]
            r[f"{key}window_p95_vs_backbone_p50"] = lat["p95_ms"] / bb["p50_ms"]
    return r


# ------------------------------------------------------------------------------------- markdown


def _fmt(v: float | None, digits: int = 2) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _header_lines(result: dict[str, Any]) -> list[str]:
    m, c, src, eng = result["machine"], result["config"], result["source"], result["engine"]
    load0, load1 = m.get("load_avg_1_5_15") or [], result.get("load_avg_end") or []
    graphs = f"Graphs: {eng['describe']}"
    if eng.get("training"):
        graphs += f"  \nModel: {eng['training']}"
    if c.get("threshold") is not None:
        graphs += f"  \nSpotter: expression threshold {c['threshold']:g} (instead of argmax)"
    return [
        "## Performance", "",
        f"Command: `{result['command']}`  ",
        f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs; load average (1 min) "
        f"{_fmt(load0[0] if load0 else None)} at start, "
        f"{_fmt(load1[0] if load1 else None)} at the end; onnxruntime {m['onnxruntime']}, "
        f"provider {eng['provider']} ({eng['note']}).  ",
        f"Clip: {src['path_name']} {src['size'][0]}x{src['size'][1]} at {src['fps']:g} fps "
        f"({src['frames']} frames, looped); {c['frames']} measured frames per run after "
        f"{c['warmup_frames']} warm-up frames, {c['runs']} runs (medians).  ",
        graphs, ""]


def _stage_lines(stages: dict[str, Any]) -> list[str]:
    lines = ["### Per-stage latency (live path, one frame at a time)", "",
             "| stage | p50 ms | p95 ms | p99 ms | mean ms |", "|---|---:|---:|---:|---:|"]
    for key, label in STAGE_LABELS.items():
        s = stages.get(key)
        if s and s["n"]:
            lines.append(f"| {label} | {s['p50_ms']:.2f} | {s['p95_ms']:.2f} | "
                         f"{s['p99_ms']:.2f} | {s['mean_ms']:.2f} |")
    return lines


def _mode_lines(modes: dict[str, Any], notes: dict[str, str]) -> list[str]:
    lines = ["", "### Modes (same face crops, runs interleaved)", "",
             "| mode | windows/s | x eager | x cached | per-window p50 ms | p95 ms | p99 ms |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    eager_wps = modes.get("eager", {}).get("windows_per_s")
    cached_wps = modes.get("cached", {}).get("windows_per_s")
    for name in MODES:
        s = modes.get(name)
        if not s:
            continue
        lat = s["latency"]
        vs_eager = f"{s['windows_per_s'] / eager_wps:.2f}" if eager_wps else "n/a"
        vs_cached = f"{s['windows_per_s'] / cached_wps:.2f}" if cached_wps else "n/a"
        lines.append(f"| {MODE_LABELS[name]} | {s['windows_per_s']:.1f} | {vs_eager} | "
                     f"{vs_cached} | {lat['p50_ms']:.2f} | {lat['p95_ms']:.2f} | "
                     f"{lat['p99_ms']:.2f} |")
    for name, note in notes.items():
        lines.append(f"| {MODE_LABELS.get(name, name)} | {note} | | | | | |")
    return lines


def _live_lines(live: dict[str, Any]) -> list[str]:
    lines = [f"| {live['source_fps']:g} fps live source | {live['frames_captured']} "
             f"captured, {live['dropped_frames']} dropped; capture-to-result lag p50 "
             f"{live['lag']['p50_ms']:.1f} ms, p95 {live['lag']['p95_ms']:.1f} ms |"]
    d, dm = live["event_delay_frames"], live["event_delay_ms"]
    bound_frames, bound_ms = live["event_delay_bound_frames"], live["event_delay_bound_ms"]
    if d["n"]:
        lines.append(f"| event delay (segment end -> event) | {d['p50_frames']:.0f} "
                     f"frames median (max {d['max_frames']:.0f}); {dm['p50_ms']:.0f} ms "
                     f"median, p95 {dm['p95_ms']:.0f} ms; bound {bound_frames} "
                     f"frames = {bound_ms:.0f} ms + processing |")
    else:
        lines.append(f"| event delay (segment end -> event) | no segment event in the live "
                     f"run; by construction {bound_frames} frames ({bound_ms:.0f} ms) "
                     f"+ processing |")
    return lines


def _run_lines(result: dict[str, Any]) -> list[str]:
    lines = ["", "### End to end, live source, memory", "", "| measure | value |", "|---|---|"]
    e2e = result["end_to_end"]
    lines += [f"| {label} | {e2e[key]['fps']:.1f} frames/s |" for key, label in E2E_LABELS
              if key in e2e]
    if result.get("live"):
        lines += _live_lines(result["live"])
    lines.append(f"| peak RSS (before torch is loaded) | {result['peak_rss_mb']:.0f} MB |")
    mem = result.get("memory")
    if mem:
        lines.append(f"| RSS growth over {mem['frames']} frames | {mem['growth_mb']:+.2f} MB "
                     f"({mem['rss_warm_mb']:.0f} MB after {mem['warmup_frames']} frames -> "
                     f"{mem['rss_end_mb']:.0f} MB) |")
    return lines


def _target_lines(targets: list[dict[str, Any]]) -> list[str]:
    lines = ["", "### Targets (ratios measured in this run)", "",
             "| target | measured | required | met |", "|---|---:|---:|:---:|"]
    for t in targets:
        meas = "n/a" if t["measured"] is None else f"{t['measured']:.2f} {t['unit']}"
        met = "n/a" if t["met"] is None else ("yes" if t["met"] else "**no**")
        note = f" ({t['note']})" if t["note"] else ""
        lines.append(f"| {t['name']}{note} | {meas} | {t['op']} {t['target']:g} {t['unit']} | "
                     f"{met} |")
    return lines


def format_markdown(result: dict[str, Any]) -> str:
    """README-ready Markdown: machine, stage table, modes, end to end, live, memory, targets."""
    lines = [*_header_lines(result), *_stage_lines(result["stages"]),
             *_mode_lines(result["modes"], result.get("mode_notes", {})),
             *_run_lines(result), *_target_lines(result["targets"]),
             "", "How it is measured:", "", *HOW_MEASURED]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------- histogram


def _plot_latencies(ax: Any, result: dict[str, Any], latencies: dict[str, list[float]]) -> None:
    """Per-window latency histogram of each mode on a log time axis."""
    import matplotlib.ticker

    data = {k: np.asarray(v) for k, v in latencies.items() if len(v)}
    if data:
        lo = max(min(float(v.min()) for v in data.values()) * 0.8, 1e-3)
        hi = max(float(v.max()) for v in data.values()) * 1.2
        bins = np.geomspace(lo, max(hi, lo * 1.01), 60)
        for name, v in data.items():
            ax.hist(v, bins=bins, alpha=0.55, color=_COLORS.get(name), label=(
                f"{name}: p50 {np.percentile(v, 50):.1f} / p95 {np.percentile(v, 95):.1f} ms"))
        bb = result["modes"].get("cached", {}).get("backbone_pass")
        if bb and bb["n"]:
            ax.axvline(bb["p50_ms"], color="k", ls="--", lw=1,
                       label=f"one backbone pass p50 {bb['p50_ms']:.1f} ms")
        ax.set_xscale("log")
        ticks = [t for t in _TICKS if bins[0] <= t <= bins[-1]]
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.legend(fontsize=7)
    ax.set_xlabel("per-window inference latency (ms, log scale)")
    ax.set_ylabel("windows")
    ax.set_title("Per-window latency by mode")


def _plot_stages(bx: Any, stages: dict[str, Any]) -> None:
    """p50 and p95 bars of each measured stage."""
    shown = [(k, stages[k]) for k in _PLOT_STAGES if stages.get(k, {}).get("n")]
    y = np.arange(len(shown))
    bx.barh(y - 0.2, [s["p50_ms"] for _, s in shown], height=0.4, label="p50")
    bx.barh(y + 0.2, [s["p95_ms"] for _, s in shown], height=0.4, label="p95")
    bx.set_yticks(y, [k.replace("_", " ") for k, _ in shown])
    bx.invert_yaxis()
    bx.set_xlabel("ms per frame (head: per window)")
    bx.set_title("Per-stage latency")
    bx.legend(fontsize=7)


def write_histogram(result: dict[str, Any], latencies: dict[str, list[float]],
                    path: Path) -> None:
    """Per-window latency histograms of the modes (log time axis) + per-stage p50/p95 bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [3, 2]})
    _plot_latencies(ax, result, latencies)
    _plot_stages(bx, result["stages"])
    src = result["source"]
    fig.suptitle(f"{result['machine']['cpu']}, {result['engine']['provider']}; "
                 f"clip {src['size'][0]}x{src['size'][1]}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
