#!/usr/bin/env bash
# Reproduce the shipped v0.3 weights and their test-split tables from nothing:
# SynthME2-30 (130 real identities, subject-disjoint train/validation/test split) -> STSNet_SW
# with the lag-difference input trained on the 84 training subjects -> float16 checkpoint and
# ONNX graphs -> post-processing chosen on the 14 validation subjects (stored in the checkpoint
# and the graphs' contract) -> int8 backbone calibrated on training subjects, gated on test ->
# the optical-flow peer (OF-FD) on the same split.
# Usage: weights/reproduce.sh [PORTRAITS_DIR] [REAL_DIR] [WORK_DIR]
#   PORTRAITS_DIR  the CC BY 4.0 portraits (default ../shared/data/portraits; credits in README)
#   REAL_DIR       the project's shared test media, train split only (default ../shared/data/real)
#   WORK_DIR       where data, cache and runs go (default ./work; git-ignored if inside the repo)
# Wall time on the 2-core CPU: see weights/MODEL_CARD.md ("Reproduce").
set -euo pipefail
cd "$(dirname "$0")/.."
PORTRAITS=${1:-../shared/data/portraits}
REAL=${2:-../shared/data/real}
WORK=${3:-work}
PY=${PYTHON:-.venv/bin/python}
DATA="$WORK/synthme2_30"
D=(--data "$DATA" --cache "$WORK/cache")
start=$(date +%s)
"$PY" -m export synth --out "$DATA" --seed 0 --fps 30 --workers 2 --portraits "$PORTRAITS" \
    --train-only-portraits "$REAL" --codec x264 --quiet  # x264 pinned: needs ffmpeg
OMP_NUM_THREADS=1 "$PY" -m export train "${D[@]}" --out "$WORK/runs/v03" --protocol dataset \
    --epochs 40 --clips-per-epoch 200 --optimizer adamw --lr 1e-3 --val-every 0 --threads 1 \
    --input-lag-frames 3 --input-gain 8 --no-held-out-eval --quiet  # tune scores test below
"$PY" -m export onnx --checkpoint "$WORK/runs/v03/test/checkpoint.pt" --out weights --ship
"$PY" -m export tune --graphs weights "${D[@]}" --json "$WORK/runs/tune.json" \
    --into weights/stsnet_sw.pt
"$PY" -m export onnx --checkpoint weights/stsnet_sw.pt --out weights  # carry the setting
# int8 backbone: calibrated on 24 training subjects' crops, scored on test at the same setting
mkdir -p "$WORK/calib"
for s in $(awk -F, '$2=="train"{print $1}' "$DATA/split.csv" | head -24); do
  for f in "$WORK"/cache/generic-synthme2_30-*/"$s"/*.npz; do ln -sf "$(readlink -f "$f")" \
      "$WORK/calib/${s}__$(basename "$f")"; done
done
"$PY" -m export quantize --graphs weights --calib "$WORK/calib" --out "$WORK/int8q" \
    --eval-folder "$WORK/int8"
"$PY" -m export tune --graphs "$WORK/int8" "${D[@]}" --recommended --json "$WORK/runs/int8.json"
# The gate: int8 ships (and becomes the CPU default) only when overall and micro F1 on the test
# split drop by at most 0.01 against the fp32 graphs at the same post-processing.
if "$PY" - "$WORK/runs/tune.json" "$WORK/runs/int8.json" <<'GATE'
import json, sys
fp32 = json.load(open(sys.argv[1]))["test_with_best"]
int8 = json.load(open(sys.argv[2]))["test_with_recommended"]
drops = {k: round(fp32[k]["f1"] - int8[k]["f1"], 4) for k in ("overall", "micro")}
print("int8 gate, F1 drop on test (fp32 - int8):", drops)
sys.exit(0 if max(drops.values()) <= 0.01 else 1)
GATE
then cp "$WORK/int8q/backbone_int8.onnx" weights/; else rm -f weights/backbone_int8.onnx; fi
echo "tables: $WORK/runs/tune.json (choice on validation, scores on test), $WORK/runs/int8.json"
echo "reproduced weights in $(( $(date +%s) - start )) s"
