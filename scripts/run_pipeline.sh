#!/usr/bin/env bash
# Set up, then materialize all eight assets on the bundled default sources with SmolLM2-135M-Instruct.
# Pass --tiny to use the tiny random model instead (a quick look, not a meaningful report).
set -euo pipefail
"$(dirname "$0")/setup.sh"
source "$(dirname "$0")/env.sh"
JOB=instruction_pipeline
[ "${1:-}" = "--tiny" ] && JOB=instruction_pipeline_tiny
# A run killed earlier (kill -9) would otherwise stay STARTED for ever: mark it failed first.
.venv/bin/python -m instr_assets.runs reap
start=$(date +%s)
# Tagged with this machine: the reaper judges a run by its pids only where they were taken.
.venv/bin/dagster job execute -m instr_assets.definitions -j "$JOB" --tags "{\"instr_assets/host\": \"$(hostname)\"}"
.venv/bin/python -m instr_assets.summary --since "$start"
