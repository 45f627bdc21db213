#!/usr/bin/env bash
# bash dist_train.sh CONFIG GPUS [tools/train.py arguments]
# One process per GPU (or per CPU rank with gloo when there is no GPU), started by torchrun.
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT the same way on every node.
set -euo pipefail

CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

ROOT=$(dirname "$0")
PYTHONPATH="$ROOT":${PYTHONPATH:-} \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$ROOT/tools/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
