#!/usr/bin/env bash
# Create or update the project's virtual environment in .venv (idempotent).
#   bash tools/setup_env.sh                          -> prints the path of the environment's python
#   MMDET_LITE_EXTRAS=optional bash tools/setup_env.sh   also installs requirements/optional.txt
# MMDET_LITE_EXTRAS names files of requirements/ without .txt, separated by spaces or commas
# (optional: TensorBoard, Weights & Biases and MLflow logger backends; tests: what the suite
# needs, which tools/run_tests.sh adds). Each is installed together with requirements.txt, so
# the pins there hold. MMDET_LITE_VENV chooses another environment folder.
# mmcv 1.7.2 is an sdist whose setup.py imports pkg_resources: its isolated build needs
# setuptools < 81, which only PIP_CONSTRAINT reaches (a -c flag does not).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${MMDET_LITE_VENV:-$ROOT/.venv}
PYTHON_BIN=${PYTHON_BIN:-$(command -v python3.11 || command -v python3)}

extras=()
extras_list=${MMDET_LITE_EXTRAS:-}
for extra in ${extras_list//,/ }; do
    if [[ ! $extra =~ ^[A-Za-z0-9_-]+$ || ! -f "$ROOT/requirements/$extra.txt" ]]; then
        echo "setup: MMDET_LITE_EXTRAS names '$extra', but there is no requirements/$extra.txt" \
             "(choose from: $(cd "$ROOT/requirements" && ls *.txt | grep -v constraints | sed 's/\.txt$//' | tr '\n' ' '))" >&2
        exit 1
    fi
    extras+=("$extra")
done

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV with $PYTHON_BIN" >&2
    "$PYTHON_BIN" -m venv "$VENV"
fi
export PIP_CONSTRAINT="$ROOT/requirements/build-constraints.txt"
base=$(cat "$ROOT/requirements.txt" "$ROOT/requirements/build-constraints.txt" "$ROOT/setup.py" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$VENV/.mmdet_lite_requirements" 2>/dev/null)" != "$base" ]; then
    echo "setup: installing requirements into $VENV (a few minutes the first time)" >&2
    "$VENV/bin/python" -m pip install --quiet -r "$ROOT/requirements.txt" >&2
    "$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e "$ROOT" >&2
    echo "$base" > "$VENV/.mmdet_lite_requirements"
fi
# One stamp per extra, so that alternating between extras (run_tests.sh and quick_start.sh)
# installs nothing twice; a change to requirements.txt or requirements/ reinstalls it.
for extra in "${extras[@]}"; do
    wanted=$( (echo "$base"; cat "$ROOT/requirements/"*.txt) | sha256sum | cut -d' ' -f1)
    stamp="$VENV/.mmdet_lite_requirements_$extra"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        echo "setup: installing requirements/$extra.txt into $VENV" >&2
        "$VENV/bin/python" -m pip install --quiet -r "$ROOT/requirements.txt" \
            -r "$ROOT/requirements/$extra.txt" >&2
        echo "$wanted" > "$stamp"
    fi
done
echo "$VENV/bin/python"
