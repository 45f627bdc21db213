# Sourced by tools/dist_train.sh, dist_test.sh, slurm_train.sh and slurm_test.sh: ROOT (the
# repository), checks of their command line, and the python that runs the tools.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage_error() {  # usage_error 'ARGUMENTS': the script's usage line on stderr, status 2
    echo "usage: bash $0 $1" >&2
    exit 2
}

need_count() {  # need_count NAME VALUE: stop unless VALUE is a whole number >= 1
    if [[ ! $2 =~ ^[1-9][0-9]*$ ]]; then
        echo "$(basename "$0"): $1 must be a whole number >= 1, got '$2'" >&2
        exit 2
    fi
}

need_config() {  # need_config PATH: stop when the config file is not there
    if [ ! -f "$1" ]; then
        echo "$(basename "$0"): config file $1 does not exist" >&2
        exit 1
    fi
}

# Sets PYTHON: PYTHON if set; else the project's environment (MMDET_LITE_VENV, default .venv, as
# tools/setup_env.sh makes it) when it exists; else `python` from PATH (an activated environment).
# One that cannot import torch stops the launch (checked without importing torch). Puts ROOT on
# PYTHONPATH.
find_python() {
    if [ -z "${PYTHON:-}" ]; then
        local venv_python="${MMDET_LITE_VENV:-$ROOT/.venv}/bin/python"
        if [ -x "$venv_python" ]; then PYTHON=$venv_python; else PYTHON=python; fi
    fi
    if ! "$PYTHON" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("torch") is None)' \
            2>/dev/null; then
        echo "$(basename "$0"): $PYTHON cannot import torch: run 'bash tools/setup_env.sh' (it" \
             "makes .venv, which this script then uses) or set PYTHON to a python with torch" >&2
        exit 1
    fi
    export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
}
