#!/usr/bin/env bash
# The GPU checks of docs/benchmarks.md, for a session that is lent a GPU:
#
#   bash tools/gpu_checks.sh wheels         # where PyPI is reached: what a bare GPU machine with
#                                           # python3 and torch lacks, as Python 3.12 wheels in .whl/
#   bash tools/gpu_checks.sh [CHECK ...]    # on the GPU machine: installs .whl/ if there, then runs
#                                           # the checks named (all, in this order, by default)
#
# Checks, most wanted first (about 7 minutes in all on one H200; each under its own time limit):
#   benchmark_train  the training step against torchvision's at the batch shape, img/s
#   batch_sizes      the --amp step at batch 2..32, img/s and memory per image
#   tests            the CUDA tests
#   train_loop       tools/train.py itself (loader, device_preprocess, hooks) with the R50-FPN 1x
#                    config on toy shapes drawn at the batch shape's size, --amp, img/s
#   profile          host time and the lines that wait for the GPU, against torchvision's
#   targets          batched target and proposal work against per image
# Each check's output goes to $OUT/CHECK.txt (./gpu_checks when OUT is unset); one that fails or
# runs past its limit is reported and the next runs. GPU_CHECKS_DEVICE=cpu with a small
# GPU_CHECKS_SHAPE (and GPU_CHECKS_LOOP_BATCH / _ITERS) runs the same commands on a CPU, to try
# the script itself.
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

checks=("$@")
[ ${#checks[@]} -eq 0 ] && checks=(benchmark_train batch_sizes tests train_loop profile targets)
for name in "${checks[@]}"; do
    case $name in
        benchmark_train|batch_sizes|tests|train_loop|profile|targets) ;;
        *) echo "gpu_checks.sh: unknown check '$name'" >&2; exit 2 ;;
    esac
done

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

run() {  # run NAME SECONDS COMMAND...: COMMAND's output to $out/NAME.txt
    local name=$1 seconds=$2
    shift 2
    echo "== $name: $*"
    timeout "$seconds" "$@" >> "$out/$name.txt" 2>&1
    local status=$?
    tail -n 25 "$out/$name.txt"
    echo "== $name: exit status $status$([ $status -eq 124 ] && echo ", stopped after $seconds s")"
}

benchmark_train() {
    run benchmark_train 120 "$python" tools/analysis_tools/benchmark_train.py --device "$device" \
        --shape "${shape[@]}" --steps 10 --warmup 3 --rows mmdet_lite mmdet_lite_amp \
        mmdet_lite_amp_channels_last mmdet_lite_amp_channels_last_fused torchvision torchvision_bf16
}

batch_sizes() {
    run batch_sizes 120 "$python" tools/analysis_tools/benchmark_train.py --device "$device" \
        --shape "${shape[@]}" --steps 10 --warmup 3 --rows mmdet_lite_amp --batch-sizes 2 4 8 16 32
}

tests() {
    run tests 90 "$python" -m pytest -q -s -p no:cacheprovider tests/test_models/test_on_device.py \
        tests/test_core/test_anchor_generator.py tests/test_compat/test_scatter.py tests/test_apis/test_inference.py
}

train_loop() {
    local loop=/tmp/gpu_checks_loop batch=${GPU_CHECKS_LOOP_BATCH:-8} iters=${GPU_CHECKS_LOOP_ITERS:-60}
    rm -rf "$loop"
    run train_loop 60 "$python" tools/misc/make_toy_coco.py --out "$loop/data" --num-train $((batch * iters)) \
        --num-val 1 --width "${shape[3]}" --height "${shape[2]}" --min-size 32 --max-size $((shape[2] / 2))
    run train_loop 120 "$python" tools/train.py configs/faster_rcnn/faster_rcnn_r50_fpn_1x_coco.py --amp \
        --no-validate --work-dir "$loop/work" --cfg-options \
        "data.train.ann_file=$loop/data/annotations/instances_train.json" "data.train.img_prefix=$loop/data/train/" \
        "data.train.classes=(rectangle,ellipse,triangle)" model.roi_head.bbox_head.num_classes=3 \
        model.backbone.init_cfg=None "data.samples_per_gpu=$batch" optimizer.lr=0.01 runner.max_epochs=1 \
        log_config.interval=10 checkpoint_config.interval=2
    "$python" - "$batch" "$loop"/work/*.log.json <<'PY' | tee -a "$out/train_loop.txt"
import json, sys
rows = [json.loads(line) for line in open(sys.argv[2]) if '"mode": "train"' in line][2:]  # warmed up
if rows:
    step = sum(row['time'] for row in rows) / len(rows)
    data = sum(row['data_time'] for row in rows) / len(rows)
    print(f'train_loop: {int(sys.argv[1]) / step:.1f} img/s at batch {sys.argv[1]} ({step:.3f} s/iter, '
          f'data_time {data:.3f} s, {len(rows) * 10} iterations after the first 20)')
PY
}

profile() {
    run profile 90 "$python" tools/analysis_tools/profile_train_step.py --device "$device" --shape "${shape[@]}" \
        --rows mmdet_lite torchvision
}

targets() {
    run targets 60 "$python" tools/analysis_tools/benchmark_targets.py --device "$device" \
        --size "${shape[2]}" "${shape[3]}"
}

{ nvidia-smi || true; "$python" -c 'import torch, torchvision; print(torch.__version__, torchvision.__version__)'; } \
    > "$out/machine.txt" 2>&1
cat "$out/machine.txt"
for name in "${checks[@]}"; do
    rm -f "$out/$name.txt"
    "$name"
done
