# Sourced by the other scripts: the instance, offline flags and output folder.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export DAGSTER_HOME="$ROOT"
export HF_HUB_OFFLINE=1
export TRANSFORMERS_OFFLINE=1
export GX_ANALYTICS_ENABLED=false
export DAGSTER_DISABLE_TELEMETRY=1
# tqdm reads this when it is first imported, which in a Dagster step is before our modules run: set it here so
# transformers' GGUF conversion bars stay out of the run log.
export TQDM_DISABLE="${TQDM_DISABLE:-1}"
export INSTR_ASSETS_OUTPUT="${INSTR_ASSETS_OUTPUT:-$ROOT/output}"
# The project's .venv counts as active: dg checks that it runs in the project's environment.
export VIRTUAL_ENV="$ROOT/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
mkdir -p "$ROOT/.dagster"
