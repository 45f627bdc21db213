#!/usr/bin/env bash
# The GPU checks of docs/benchmarks.md in one run (about 6 minutes on one H200): the CUDA tests, the
# training-step benchmark against torchvision, the batch-size sweep, the profile, the target work.
#
#   bash tools/gpu_checks.sh wheels   # where PyPI is reached: what a bare GPU machine with python3
#                                     # and torch lacks, as Python 3.12 wheels in .whl/
#   bash tools/gpu_checks.sh          # on the GPU machine: installs .whl/ if there, then the checks
#
# Each check's output goes to its own file under $OUT (./gpu_checks when OUT is unset); a check that
# fails or runs past its time limit is reported and the next one runs. GPU_CHECKS_DEVICE=cpu with a
# small GPU_CHECKS_SHAPE runs the same commands on a CPU, to try the script itself.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = wheels ]; then
    python=${PYTHON:-.venv/bin/python}
    # mmcv 1.7.2 is an sdist whose setup.py needs setuptools<81: built here, a pure-Python wheel
    PIP_CONSTRAINT=requirements/build-constraints.txt "$python" -m pip wheel -q --no-deps -w .whl mmcv==1.7.2 &&
    "$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl addict==2.4.0 yapf==0.40.1 importlib-metadata==8.7.0 platformdirs==4.3.8 tomli==2.2.1 \
        pycocotools==2.0.8 || exit 1
    ls .whl
    exit 0
fi

python=${PYTHON:-python3}
device=${GPU_CHECKS_DEVICE:-cuda}
read -r -a shape <<< "${GPU_CHECKS_SHAPE:-2 3 800 1344}"
out=${OUT:-gpu_checks}
mkdir -p "$out"
if [ -d .whl ]; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 MMDET_LITE_TEST_DEVICE=$device

check() {  # check NAME SECONDS COMMAND...: COMMAND's output to $out/NAME.txt
    local name=$1 seconds=$2
    shift 2
    echo "== $name: $*"
    timeout "$seconds" "$@" > "$out/$name.txt" 2>&1
    local status=$?
    tail -n 25 "$out/$name.txt"
    echo "== $name: exit status $status$([ $status -eq 124 ] && echo ", stopped after $seconds s")"
}

{ nvidia-smi || true; "$python" -c 'import torch, torchvision; print(torch.__version__, torchvision.__version__)'; } \
    > "$out/machine.txt" 2>&1
cat "$out/machine.txt"
check tests 180 "$python" -m pytest -q -s -p no:cacheprovider tests/test_models/test_on_device.py \
    tests/test_core/test_anchor_generator.py tests/test_compat/test_scatter.py tests/test_apis/test_inference.py
check benchmark_train 150 "$python" tools/analysis_tools/benchmark_train.py --device "$device" --shape "${shape[@]}" \
    --steps 10 --warmup 3 --rows mmdet_lite mmdet_lite_amp mmdet_lite_amp_channels_last \
    mmdet_lite_amp_channels_last_foreach torchvision torchvision_bf16
check batch_sizes 150 "$python" tools/analysis_tools/benchmark_train.py --device "$device" --shape "${shape[@]}" \
    --steps 10 --warmup 3 --rows mmdet_lite_amp --batch-sizes 2 4 8 16 32
check profile 120 "$python" tools/analysis_tools/profile_train_step.py --device "$device" --shape "${shape[@]}" \
    --rows mmdet_lite torchvision
check targets 90 "$python" tools/analysis_tools/benchmark_targets.py --device "$device" --size "${shape[2]}" "${shape[3]}"
