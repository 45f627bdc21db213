#!/usr/bin/env bash
# bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [tools/test.py arguments, e.g. --eval bbox]
# (bash dist_test.sh: the same). One process per GPU (or per CPU rank with gloo when there is no
# GPU), started by torchrun. Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT the same way
# on every node. Python: PYTHON if set, else .venv/bin/python when it exists, else python.
set -euo pipefail
source "$(dirname "$0")/launch_env.sh"
[ $# -ge 3 ] || usage_error "CONFIG CHECKPOINT GPUS [tools/test.py arguments]"

CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
need_count GPUS "$GPUS"
need_config "$CONFIG"
find_python

exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$ROOT/tools/test.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch "${@:4}"
