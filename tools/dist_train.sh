#!/usr/bin/env bash
# bash tools/dist_train.sh CONFIG GPUS [tools/train.py arguments]   (bash dist_train.sh: the same)
# One process per GPU (or per CPU rank with gloo when there is no GPU), started by torchrun.
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT the same way on every node.
# Python: PYTHON if set, else .venv/bin/python when it exists, else python (tools/launch_env.sh).
# Exit status: train.py's (0 done, 1 error), or 75 when a stop signal (SIGTERM, SIGINT, SIGUSR1)
# made the ranks save a checkpoint and stop: rerun with --auto-resume.
set -euo pipefail
source "$(dirname "$0")/launch_env.sh"
[ $# -ge 2 ] || usage_error "CONFIG GPUS [tools/train.py arguments]"

CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PREEMPTED_EXIT_CODE=75
need_count GPUS "$GPUS"
need_config "$CONFIG"
find_python

MARKER_DIR=$(mktemp -d)
trap 'rm -rf "$MARKER_DIR"' EXIT
# torchrun runs in its own session, so that a signal meant for the job reaches the ranks once,
# from here, and not torchrun (which would end with a traceback); the ranks save and exit 0.
MMDET_LITE_PREEMPTED_MARKER="$MARKER_DIR/preempted" \
setsid "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$ROOT/tools/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}" &
TORCHRUN=$!
for sig in TERM INT USR1; do
    trap "pkill -$sig -P $TORCHRUN || true" "$sig"
done
status=0
while kill -0 "$TORCHRUN" 2>/dev/null; do
    wait "$TORCHRUN" && status=0 || status=$?  # a trapped signal interrupts wait: wait again
done
if [ -e "$MARKER_DIR/preempted" ]; then
    exit "$PREEMPTED_EXIT_CODE"
fi
exit "$status"
