#!/usr/bin/env bash
# Set up, then run the test suite.
set -euo pipefail
"$(dirname "$0")/setup.sh"
# The model runtime's default generator (1.1 GB GGUF), for the one test that calls it; the pipeline does not yet.
"$(dirname "$0")/fetch_models.sh"
# Debian packages that only the tests need, each only if missing and only where we are root with apt-get:
# headless Chromium for the UI tests (instr_assets_tests/test_webserver.py) and the PostgreSQL server (initdb,
# pg_ctl, postgres in /usr/lib/postgresql/<version>/bin) for instr_assets_tests/test_postgres_storage.py.
# Elsewhere those tests are skipped; the pipeline itself (scripts/run_pipeline.sh) installs no system package.
pkgs=()
command -v chromium >/dev/null || pkgs+=(chromium)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || pkgs+=(postgresql)
if [ "${#pkgs[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}"; } \
      || echo "test: note: could not install ${pkgs[*]}; the tests that need them will be skipped"
  else
    echo "test: note: ${pkgs[*]} missing (e.g. sudo apt-get install ${pkgs[*]});" \
         "the browser and PostgreSQL tests that need them will be skipped"
  fi
fi
source "$(dirname "$0")/env.sh"
.venv/bin/python -m pytest "$@"
