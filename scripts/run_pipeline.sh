#!/usr/bin/env bash
# Set up, then materialize every asset and print a summary. `scripts/run_pipeline.sh --help` lists the flags
# (--tiny, --sources FILE, --config FILE, --model ID_OR_PATH); they are parsed in instr_assets/cli.py.
set -euo pipefail
CALLER_DIR="$PWD"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The flags are checked first, with the system Python and nothing installed: --help and a mistyped flag
# (exit 2, naming it) end here, before any setup, download or run.
for arg in "$@"; do
  case "$arg" in -h|--help) exec "${PYTHON:-python3}" "$ROOT/instr_assets/cli.py" --help ;; esac
done
"${PYTHON:-python3}" "$ROOT/instr_assets/cli.py" "$@"

"$ROOT/scripts/setup.sh"
source "$ROOT/scripts/env.sh"
run_config="$(mktemp "${TMPDIR:-/tmp}/instr_assets_run_config.XXXXXX.json")"
trap 'rm -f "$run_config"' EXIT
JOB="$(.venv/bin/python -m instr_assets.cli plan "$CALLER_DIR" "$run_config" "$@")"
# A run killed earlier (kill -9) would otherwise stay STARTED for ever: mark it failed first.
.venv/bin/python -m instr_assets.runs reap
start=$(date +%s)
# The job runs in this process (dg launch executes in process); its jobs carry this machine's name as the
# instr_assets/host tag, which the reaper needs, since dg launch takes no --tags.
status=0
.venv/bin/dg launch --job "$JOB" --config "$run_config" || status=$?
# The summary also follows a failed run: it names the stage and the checks that failed.
if ! .venv/bin/python -m instr_assets.summary --since "$start"; then [ "$status" -ne 0 ] || status=1; fi
exit "$status"
