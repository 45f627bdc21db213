#!/usr/bin/env bash
# Create or update the project's virtual environment in .venv (idempotent).
#   bash tools/setup_env.sh        -> prints the path of the environment's python
# mmcv 1.7.2 is an sdist whose setup.py imports pkg_resources: its isolated build needs
# setuptools < 81, which only PIP_CONSTRAINT reaches (a -c flag does not).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${MMDET_LITE_VENV:-$ROOT/.venv}
PYTHON_BIN=${PYTHON_BIN:-$(command -v python3.11 || command -v python3)}

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV with $PYTHON_BIN" >&2
    "$PYTHON_BIN" -m venv "$VENV"
fi
stamp="$VENV/.mmdet_lite_requirements"
wanted=$(cat "$ROOT/requirements.txt" "$ROOT/requirements/build-constraints.txt" "$ROOT/setup.py" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "setup: installing requirements into $VENV (a few minutes the first time)" >&2
    export PIP_CONSTRAINT="$ROOT/requirements/build-constraints.txt"
    "$VENV/bin/python" -m pip install --quiet -r "$ROOT/requirements.txt" >&2
    "$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e "$ROOT" >&2
    echo "$wanted" > "$stamp"
fi
echo "$VENV/bin/python"
