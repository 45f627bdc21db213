#!/usr/bin/env bash
# Set up the environment (if needed) and run the test suite: bash tools/run_tests.sh [pytest args]
# The suite's own requirements (requirements/tests.txt) are installed too, beside any extras
# named in MMDET_LITE_EXTRAS.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=$(MMDET_LITE_EXTRAS="tests ${MMDET_LITE_EXTRAS:-}" bash "$ROOT/tools/setup_env.sh")
cd "$ROOT"
exec "$PYTHON" -m pytest -q "$@"
