# Sourced by the other scripts: the instance, offline flags and output folder.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export DAGSTER_HOME="$ROOT"
export HF_HUB_OFFLINE=1
export TRANSFORMERS_OFFLINE=1
export GX_ANALYTICS_ENABLED=false
export DAGSTER_DISABLE_TELEMETRY=1
export INSTR_ASSETS_OUTPUT="${INSTR_ASSETS_OUTPUT:-$ROOT/output}"
mkdir -p "$ROOT/.dagster"
