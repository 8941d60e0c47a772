#!/usr/bin/env bash
# Set up, then run the test suite.
set -euo pipefail
"$(dirname "$0")/setup.sh"
source "$(dirname "$0")/env.sh"
.venv/bin/python -m pytest "$@"
