#!/usr/bin/env bash
# Reproduce the shipped weights and their benchmark table from scratch:
# SynthME-30 -> 4-fold subject-disjoint evaluation (+ the training-free baseline on the same data)
# -> a final model trained on all 11 subjects, shipped as the float16 checkpoint + ONNX graphs.
# The model's input is the reference difference (--input-tau-frames 120: each face crop minus a
# 4-second running average of the previous ones; realtime/reference.py).
# Usage: weights/reproduce.sh [PORTRAITS_DIR] [WORK_DIR]
#   PORTRAITS_DIR  real face photographs/clips (default ../shared/data/real; the shipped model used
#                  the project's shared test media: 11 distinct people)
#   WORK_DIR       where data, cache and runs go (default ./work; git-ignored if inside the repo)
# Wall time on a 2-core CPU: see weights/MODEL_CARD.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PORTRAITS=${1:-../shared/data/real}
WORK=${2:-work}
PY=${PYTHON:-.venv/bin/python}
start=$(date +%s)
"$PY" -m export synth --out "$WORK/synthme30" --seed 0 --fps 30 --subjects 11 --duration-s 32 \
    --portraits "$PORTRAITS" --quiet
"$PY" -m export train --data "$WORK/synthme30" --cache "$WORK/cache" --out "$WORK/runs/kfold4" \
    --protocol kfold --folds 4 --final --epochs 30 --clips-per-epoch 200 \
    --optimizer adamw --lr 1e-3 --val-every 0 --threads 2 --quiet \
    --input-tau-frames 120 --input-gain 4
"$PY" -m export baseline --data "$WORK/synthme30" --cache "$WORK/cache" \
    > "$WORK/runs/baseline.md"
"$PY" -m export onnx --checkpoint "$WORK/runs/kfold4/all/checkpoint.pt" --out weights --ship
echo "tables: $WORK/runs/kfold4/results.md (model, 4 folds pooled), $WORK/runs/baseline.md"
echo "reproduced weights in $(( $(date +%s) - start )) s"
