#!/usr/bin/env bash
# Start the Dagster UI (webserver + daemon for the schedule) on 127.0.0.1 only.
set -euo pipefail
source "$(dirname "$0")/env.sh"
# Runs killed while no daemon watched stay STARTED and hold the run queue: mark them failed first.
.venv/bin/python -m instr_assets.runs reap
exec .venv/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p "${PORT:-3000}"
