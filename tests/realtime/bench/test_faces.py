"""``python -m realtime bench --faces``: the several-faces benchmark (realtime.bench.faces)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from realtime.bench.faces import parse_face_counts, tile


def test_face_counts_are_parsed_and_bad_ones_named() -> None:
    assert parse_face_counts("4,1,2,2") == (1, 2, 4)
    for bad in ("", "1,x", "0", "1,99"):
        with pytest.raises(ValueError, match="--faces"):
            parse_face_counts(bad)


def test_tiles_keep_one_canvas_size_for_every_count() -> None:
    frame = np.full((24, 32, 3), 200, np.uint8)
    grids = {n: tile([frame], n, 4)[0] for n in (1, 2, 4)}
    assert {g.shape for g in grids.values()} == {(48, 64, 3)}
    assert [(g == 200).all(axis=2).sum() for g in grids.values()] == [768, 1536, 3072]


def test_bench_faces_runs_and_reports_each_count(tmp_path: Path, clip: Path, graphs: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from realtime.__main__ import main

    out = tmp_path / "faces.json"
    rc = main(["bench", "--faces", "1,2", "--source", str(clip), "--weights", str(graphs),
               "--frames", "10", "--warmup", "5", "--runs", "1", "--threads", "1",
               "--json", str(out), "--quiet"])
    assert rc == 0
    result = json.loads(out.read_text())
    assert sorted(result["faces"]) == ["1", "2"]
    one, two = result["faces"]["1"], result["faces"]["2"]
    assert one["latency"]["n"] == 10 and one["frames_per_s"] > 0
    assert 0 < one["faces_per_frame"] <= 1 and 0 < two["faces_per_frame"] <= 2
    assert "| faces | followed per frame |" in capsys.readouterr().out


def test_bench_faces_bad_count_exits_2(clip: Path, graphs: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    from realtime.__main__ import main

    assert main(["bench", "--faces", "0", "--source", str(clip), "--weights", str(graphs),
                 "--quiet"]) == 2
    assert "--faces" in capsys.readouterr().err
