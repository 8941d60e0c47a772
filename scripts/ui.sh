#!/usr/bin/env bash
# Start the Dagster UI (webserver + daemon for the schedule) on 127.0.0.1 only.
set -euo pipefail
source "$(dirname "$0")/env.sh"
# Runs killed while no daemon watched stay STARTED and hold the run queue: mark them failed first.
.venv/bin/python -m instr_assets.runs reap
# dg dev finds the code location in pyproject.toml's [tool.dg] section; the instance is DAGSTER_HOME's dagster.yaml.
exec .venv/bin/dg dev -h 127.0.0.1 -p "${PORT:-3000}"
