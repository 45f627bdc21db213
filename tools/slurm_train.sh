#!/usr/bin/env bash
# bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [tools/train.py arguments]
# One Slurm task per GPU through srun: GPUS tasks in all (default 8), GPUS_PER_NODE per node
# (default 8), CPUS_PER_TASK cores each (default 5); SRUN_ARGS adds srun options (word-split,
# e.g. SRUN_ARGS="--time=2:00:00 --signal=USR1@120"). Python: PYTHON if set, else
# .venv/bin/python when it exists, else python. Exit status: srun's; 75 when training was
# preempted and saved a checkpoint: rerun (or requeue) with --auto-resume.
set -euo pipefail
source "$(dirname "$0")/launch_env.sh"
[ $# -ge 4 ] || usage_error "PARTITION JOB_NAME CONFIG WORK_DIR [tools/train.py arguments]"

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
need_count GPUS "$GPUS"
need_count GPUS_PER_NODE "$GPUS_PER_NODE"
need_count CPUS_PER_TASK "$CPUS_PER_TASK"
need_config "$CONFIG"
find_python

# srun forwards SIGTERM to the tasks and exits with the highest task status.
# shellcheck disable=SC2086  # SRUN_ARGS holds several options
exec srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    "$PYTHON" -u "$ROOT/tools/train.py" "$CONFIG" --work-dir="$WORK_DIR" --launcher=slurm "${@:5}"
