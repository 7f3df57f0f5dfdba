#!/usr/bin/env bash
# GPU figures in one command (issue #16 part 3): on a machine with an NVIDIA GPU, from the
# repository root:
#
#     bash scripts/gpu_check.sh
#
# 1. installs what it needs into $VENV (default .venv): requirements.txt (onnxruntime-gpu on
#    Linux x86_64) plus the CUDA/cuDNN runtime wheels when onnxruntime cannot open a CUDA
#    session without them; WHEELS=DIR installs offline from a wheel folder; an existing venv
#    whose imports already work is used as it is (SKIP_INSTALL=1 forces that);
# 2. checks that a CUDA session really opens (fails with the reason otherwise: no silent CPU);
# 3. runs `python -m realtime bench --provider cuda` (I/O binding, device-resident features)
#    on the demo clip at 640x480, medians of $RUNS runs;
# 4. runs a short corpus batch on the GPU (`python -m realtime.corpus.bench --provider cuda`:
#    1 vs 2 workers and the chunked path, on Ray when installed, else local processes);
# 5. writes everything, with the GPU, driver and library versions, to $OUT_JSON
#    (default docs/bench/gpu.json), plus bench tables next to it (gpu.md, gpu_corpus.md).
#
# Environment: PYTHON (python3.11), VENV, WHEELS, SKIP_INSTALL, RUNS (3), BENCH_FRAMES (600),
# CORPUS_RECORDINGS (4), CORPUS_FRAMES (300), BENCH_EXTRA (more bench options), OUT_JSON, PROVIDER (cuda; cpu only to dry-run
# this script on a machine without a GPU: the JSON then says provider cpu).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3.11}
VENV=${VENV:-.venv}
RUNS=${RUNS:-3}
BENCH_FRAMES=${BENCH_FRAMES:-600}
CORPUS_RECORDINGS=${CORPUS_RECORDINGS:-4}
CORPUS_FRAMES=${CORPUS_FRAMES:-300}
OUT_JSON=${OUT_JSON:-docs/bench/gpu.json}
PROVIDER=${PROVIDER:-cuda}
OUT_DIR=$(dirname "$OUT_JSON")
WORK=$(mktemp -d -t gpu_check.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

say() { printf 'gpu_check: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 2; }

if [[ "$PROVIDER" == cuda ]]; then
  command -v nvidia-smi >/dev/null || die "nvidia-smi not found: no NVIDIA driver on this machine"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >"$WORK/gpu.txt" \
    || die "nvidia-smi cannot talk to the driver"
  say "GPU: $(head -1 "$WORK/gpu.txt")"
else
  echo "none (PROVIDER=$PROVIDER dry run)" >"$WORK/gpu.txt"
fi

# -- 1. install ---------------------------------------------------------------------------------
PIP_SOURCE=()
[[ -n "${WHEELS:-}" ]] && PIP_SOURCE=(--no-index --find-links "$WHEELS")
if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
imports_ok() { "$PY" -c "import onnxruntime, mediapipe, cv2, numpy, tqdm" 2>/dev/null; }
if [[ "${SKIP_INSTALL:-0}" != 1 ]] && ! imports_ok; then
  say "installing requirements.txt"
  "$PY" -m pip install -q "${PIP_SOURCE[@]}" -r requirements.txt
  "$PY" -m pip install -q "${PIP_SOURCE[@]}" ray || say "ray not installed: batch runs on processes"
fi
imports_ok || die "the runtime imports fail in $VENV (install requirements.txt)"

# -- 2. a CUDA session must open ------------------------------------------------------------------
cuda_ok() {
  "$PY" - <<'PY'
import sys
import onnxruntime as ort
from realtime.engine.sessions import cuda_problem
problem = cuda_problem()
if problem:
    sys.exit(f"CUDA not usable: {problem}")
sess = ort.InferenceSession("weights/backbone.onnx", providers=["CUDAExecutionProvider"])
if sess.get_providers()[0] != "CUDAExecutionProvider":
    sys.exit(f"onnxruntime fell back to {sess.get_providers()} (CUDA/cuDNN libraries missing?)")
PY
}
if [[ "$PROVIDER" == cuda ]] && ! cuda_ok 2>"$WORK/cuda.txt"; then
  say "$(tail -1 "$WORK/cuda.txt"); trying the CUDA/cuDNN runtime wheels"
  ORT=$("$PY" -c "import onnxruntime as o; print(o.__version__)")
  "$PY" -m pip install -q "${PIP_SOURCE[@]}" "onnxruntime-gpu[cuda,cudnn]==$ORT" \
    || die "cannot install the CUDA runtime wheels: $(tail -1 "$WORK/cuda.txt")"
  "$PY" -c "import onnxruntime as o; getattr(o, 'preload_dlls', lambda: None)()"
  cuda_ok || die "no CUDA session even with the runtime wheels"
fi

# -- 3. per-window and end-to-end benchmark ----------------------------------------------------
mkdir -p "$OUT_DIR"
say "bench --provider $PROVIDER ($RUNS runs of $BENCH_FRAMES frames)"
"$PY" -m realtime bench --provider "$PROVIDER" --resize 640x480 --runs "$RUNS" \
  --frames "$BENCH_FRAMES" --no-eager --long-frames 0 \
  --json "$WORK/bench.json" --md "$OUT_DIR/gpu.md" --quiet ${BENCH_EXTRA:-}

# -- 4. a short corpus batch ---------------------------------------------------------------------
say "corpus batch ($CORPUS_RECORDINGS recordings x $CORPUS_FRAMES frames, $RUNS runs)"
"$PY" -m realtime.corpus.bench --provider "$PROVIDER" --recordings "$CORPUS_RECORDINGS" \
  --frames "$CORPUS_FRAMES" --runs "$RUNS" --json "$WORK/corpus.json" \
  --md "$OUT_DIR/gpu_corpus.md" >/dev/null

# -- 5. one JSON ---------------------------------------------------------------------------------
"$PY" - "$WORK" "$OUT_JSON" "$PROVIDER" <<'PY'
import datetime, json, platform, subprocess, sys
from pathlib import Path
import onnxruntime as ort
work, out, provider = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout
report = {
    "ran_at_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "provider": provider,
    "gpu": (work / "gpu.txt").read_text().strip(),
    "onnxruntime": ort.__version__,
    "python": platform.python_version(),
    "commit": commit.strip(),
    "commands": [
        f"python -m realtime bench --provider {provider} --resize 640x480 --no-eager "
        "--long-frames 0 ...",
        f"python -m realtime.corpus.bench --provider {provider} ...",
    ],
    "bench": json.loads((work / "bench.json").read_text()),
    "corpus": json.loads((work / "corpus.json").read_text()),
}
out.write_text(json.dumps(report, indent=1) + "\n")
print(f"gpu_check: wrote {out}", file=sys.stderr)
PY
