#!/usr/bin/env bash
# Set up the environment (if needed) and run the test suite: bash tools/run_tests.sh [pytest args]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=$(bash "$ROOT/tools/setup_env.sh")
cd "$ROOT"
exec "$PYTHON" -m pytest -q "$@"
