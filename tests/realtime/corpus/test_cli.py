"""``python -m realtime batch`` end to end: Ray and local processes, resume, chunks, errors.

Every per-recording event file must be byte for byte what ``spot`` writes for the same file.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from realtime.corpus import add_arguments, cli, executors, run
from realtime.corpus.output import event_paths, read_summary

pytestmark = pytest.mark.timeout(600)


def batch(*argv: object) -> int:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return run(parser.parse_args([str(a) for a in argv]))


def outputs(out: Path, name: str) -> tuple[str, str]:
    jsonl, csv_path, _ = event_paths(out, name)
    return jsonl.read_text(), csv_path.read_text()


def rows(out: Path) -> dict[str, dict[str, str]]:
    return {r["recording"]: r for r in read_summary(out)}


@pytest.mark.skipif(not executors.ray_available(), reason="ray is not installed")
def test_embedded_ray_run_equals_spot_and_records_the_corrupt_file(
        tmp_path: Path, short_clip: Path, cut_clip: Path, corrupt_clip: Path, spot_output,
        ray_shutdown, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = batch(short_clip, cut_clip, corrupt_clip, "--out", out, "--workers", 2,
                 "--backend", "ray", "--no-progress")
    err = capsys.readouterr().err
    assert code == 2, err  # one recording failed; the others are done
    assert "workers: 2 on ray (embedded)" in err
    for clip in (short_clip, cut_clip):
        assert outputs(out, clip.stem) == spot_output(clip)
    assert spot_output(cut_clip)[0].count('"segment"') >= 1  # the comparison has events
    summary = rows(out)
    assert [r["status"] for r in summary.values()] == ["ok", "ok", "error"]
    assert "corrupt.mp4" in summary["corrupt"]["error"]
    cut = summary["cut"]
    assert int(cut["frames"]) == 130 and int(cut["face_frames"]) == 124
    assert float(cut["face_time_s"]) == pytest.approx(124 / 30, abs=1e-3)
    segments = spot_output(cut_clip)[0].count('"segment"')
    assert int(cut["segments"]) == segments == sum(int(cut[t]) for t in ("micro", "macro"))
    assert not event_paths(out, "corrupt")[2].exists()  # no done-marker: retried next time


def test_local_processes_when_ray_is_absent(tmp_path: Path, short_clip: Path, spot_output,
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(executors, "ray_available", lambda: False)
    out = tmp_path / "out"
    assert batch(short_clip, "--out", out, "--workers", 1, "--no-progress") == 0
    assert "on processes (local processes)" in capsys.readouterr().err
    assert outputs(out, "short") == spot_output(short_clip)
    assert batch(short_clip, "--out", out, "--backend", "ray") == 2
    assert "the Ray backend needs ray" in capsys.readouterr().err


def test_chunked_run_equals_the_single_pass(tmp_path: Path, cut_clip: Path, spot_output,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert batch(cut_clip, "--out", out, "--workers", 2, "--backend", "processes",
                 "--chunk-frames", 30, "--max-faces", 1, "--no-progress") == 0, \
        capsys.readouterr().err
    assert outputs(out, "cut") == spot_output(cut_clip)
    row = rows(out)["cut"]
    # The single-face path joins at any face-free frame (several faces: test_multiface.py).
    # 5 chunks (0, 30, 60, 90, 120); the face never leaves the view in 60-90: one rerun.
    assert (row["tasks"], row["reruns"]) == ("6", "1")
    assert (row["frames"], row["face_frames"]) == ("130", "124")


def test_resume_skips_finished_and_redoes_partial(tmp_path: Path, short_clip: Path,
                                                  cut_clip: Path, spot_output,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    args = (short_clip, cut_clip, "--out", out, "--workers", 1, "--backend", "processes",
            "--no-progress")
    finished = []
    original = cli.BatchRun._finish

    def finish_then_stop(self, cfg, wcfg, rec, result) -> None:
        original(self, cfg, wcfg, rec, result)
        finished.append(rec.name)
        raise KeyboardInterrupt  # Ctrl-C right after the first recording is written

    monkeypatch.setattr(cli.BatchRun, "_finish", finish_then_stop)
    assert batch(*args) == 130
    monkeypatch.undo()
    first, second = finished[0], {"short", "cut"} - set(finished)
    assert event_paths(out, first)[2].is_file()
    (second_name,) = second
    assert not event_paths(out, second_name)[2].exists()
    jsonl = event_paths(out, first)[0]
    stamp = jsonl.stat().st_mtime_ns
    # A partial file of the unfinished recording (as if cut off while writing).
    event_paths(out, second_name)[0].write_text('{"kind": "onset"')
    capsys.readouterr()
    assert batch(*args) == 0
    assert "2 recordings, 1 finished earlier, 1 to do" in capsys.readouterr().err
    assert jsonl.stat().st_mtime_ns == stamp  # not rewritten
    for clip in (short_clip, cut_clip):
        assert outputs(out, clip.stem) == spot_output(clip)
    summary = rows(out)
    assert summary[first]["from_earlier_run"] == "true"
    assert summary[second_name]["from_earlier_run"] == "false"
    # A changed recording is done again; everything finished: nothing to do.
    os.utime(short_clip, ns=(stamp, stamp + 10**9))
    assert batch(*args) == 0
    assert "1 finished earlier, 1 to do" in capsys.readouterr().err
    assert batch(*args) == 0
    assert "2 finished earlier, 0 to do" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), [
    (["--workers", "0"], "--workers must be in [1, 1024]"),
    (["--chunk-frames", "-1"], "--chunk-frames must be >= 0"),
    (["--merge-gap", "-3"], "--merge-gap"),
    (["--threshold", "2"], "--threshold"),
    (["--max-faces", "0"], "--max-faces"),
    (["--backend", "processes", "--ray-address", "head:6379"], "--ray-address needs"),
])
def test_bad_options_are_one_error_line(argv: list[str], message: str, tmp_path: Path,
                                        short_clip: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert batch(short_clip, "--out", tmp_path, *argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err, err


def test_missing_source_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert batch(tmp_path / "nope.mp4", "--out", tmp_path / "out") == 2
    assert "nope.mp4" in capsys.readouterr().err


@pytest.mark.skipif(not executors.ray_available(), reason="ray is not installed")
def test_joins_a_ray_cluster_at_an_address(tmp_path: Path, short_clip: Path, spot_output,
                                           ray_shutdown,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from ray.cluster_utils import Cluster

    os.environ.setdefault(executors.LOCAL_ONLY_ENV, "0")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1,
                                                            "include_dashboard": False})
    try:
        out = tmp_path / "out"
        assert batch(short_clip, "--out", out, "--workers", 1, "--ray-address",
                     cluster.address, "--no-progress") == 0
        assert f"on ray ({cluster.address})" in capsys.readouterr().err
        assert outputs(out, "short") == spot_output(short_clip)
    finally:
        import ray

        ray.shutdown()
        cluster.shutdown()


def test_the_corpus_package_is_torch_free() -> None:
    import subprocess
    import sys

    code = ("import sys, realtime.corpus.cli, realtime.corpus.work, realtime.corpus.stitch, "
            "realtime.corpus.executors, realtime.corpus.output, realtime.corpus.bench; "
            "from realtime.corpus.work import WorkerConfig; "
            "from realtime.spotter import DEFAULT_WEIGHTS; "
            "WorkerConfig(weights=str(DEFAULT_WEIGHTS)).spotter().close(); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
