"""``python -m export evaluate --gt --pred``: table, JSON, clean errors, no torch import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from export.__main__ import main
from realtime.metrics import write_intervals_csv
from realtime.vocab import Interval

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    gt = [Interval("s1", "v1", 10, 19, "micro"), Interval("s1", "v1", 40, 99, "macro"),
          Interval("s2", "v9", 0, 29, "macro")]
    pred = [Interval("s1", "v1", 12, 21, "micro"),   # IoU 8/12: TP
            Interval("s1", "v1", 40, 60, "macro"),   # IoU 21/60: FP (and the GT is a FN)
            Interval("s2", "v9", 0, 29, "macro"),    # TP
            Interval("s2", "v9", 100, 110, "micro")]  # FP
    gt_path, pred_path = tmp_path / "gt.csv", tmp_path / "pred.csv"
    write_intervals_csv(gt_path, gt)
    write_intervals_csv(pred_path, pred)
    return gt_path, pred_path


def test_table(files, capsys):
    gt, pred = files
    assert main(["evaluate", "--gt", str(gt), "--pred", str(pred)]) == 0
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")[1:]]
            for line in out.splitlines() if line.startswith("|")}
    assert rows["Metric"] == ["Macro", "Micro", "Overall"]
    assert rows["TP"] == ["1", "1", "2"]
    assert rows["FP"] == ["1", "1", "2"]
    assert rows["FN"] == ["1", "0", "1"]
    assert rows["Precision"] == ["0.5000", "0.5000", "0.5000"]
    assert rows["F1-score"][2] == f"{2 * 0.5 * (2 / 3) / (0.5 + 2 / 3):.4f}"


def test_json_and_iou_option(files, capsys):
    gt, pred = files
    assert main(["evaluate", "--gt", str(gt), "--pred", str(pred), "--json",
                 "--iou", "0.3"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["iou_threshold"] == 0.3
    assert (d["macro"]["tp"], d["overall"]["tp"], d["overall"]["fn"]) == (2, 3, 0)
    assert (d["n_gt"], d["n_pred"]) == (3, 4)


@pytest.mark.parametrize("problem", ["missing", "bad_type", "bad_iou", "no_pred"])
def test_errors_are_messages_not_tracebacks(files, tmp_path, capsys, problem):
    gt, pred = files
    argv = ["evaluate", "--gt", str(gt), "--pred", str(pred)]
    expected = ""
    if problem == "missing":
        argv[2] = str(tmp_path / "nope.csv")
        expected = "nope.csv: cannot open"
    elif problem == "bad_type":
        pred.write_text("subject,video,onset,offset,type\ns1,v1,1,2,mega\n")
        expected = "pred.csv: line 2: type 'mega'"
    elif problem == "bad_iou":
        argv += ["--iou", "0"]
        expected = "--iou must be in (0, 1]"
    else:
        argv = argv[:3]
        expected = "give --gt and --pred"
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


def test_interval_mode_does_not_import_torch():
    code = ("import sys; from export.__main__ import main; import export.evaluate; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "False"


def test_no_matching_video_is_an_error_and_a_partial_match_a_warning(files, tmp_path, capsys):
    gt, _ = files
    renamed = tmp_path / "renamed.csv"
    write_intervals_csv(renamed, [Interval("S1", "s1_v1", 10, 19, "micro"),
                                  Interval("S2", "s2_v9", 0, 29, "macro")])
    assert main(["evaluate", "--gt", str(gt), "--pred", str(renamed)]) == 2
    err = capsys.readouterr().err
    assert "no predicted video matches a ground-truth video" in err
    assert "s1/v1" in err and "S1/s1_v1" in err
    partial = tmp_path / "partial.csv"
    write_intervals_csv(partial, [Interval("s1", "v1", 12, 21, "micro"),
                                  Interval("s3", "v3", 0, 9, "macro")])
    assert main(["evaluate", "--gt", str(gt), "--pred", str(partial)]) == 0
    err = capsys.readouterr().err
    assert "1 predicted video(s) have no ground truth" in err and "s3/v3" in err
