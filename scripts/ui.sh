#!/usr/bin/env bash
# Start the Dagster UI (webserver + daemon for the schedule) on 127.0.0.1 only.
set -euo pipefail
source "$(dirname "$0")/env.sh"
exec .venv/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p "${PORT:-3000}"
