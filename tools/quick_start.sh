#!/usr/bin/env bash
# Set up, make the built-in toy COCO dataset if it is absent, and train Faster R-CNN on it
# on the CPU, evaluating bbox mAP after every epoch:  bash tools/quick_start.sh [train.py args]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=$(bash "$ROOT/tools/setup_env.sh")
cd "$ROOT"
CONFIG=configs/toy/faster_rcnn_r18_fpn_toy.py
WORK_DIR=work_dirs/faster_rcnn_r18_fpn_toy
if [ ! -f data/toy_coco/annotations/instances_val.json ]; then
    "$PYTHON" tools/misc/make_toy_coco.py --out data/toy_coco
fi
"$PYTHON" tools/train.py "$CONFIG" --work-dir "$WORK_DIR" "$@"
echo
echo "Done. Checkpoints: $WORK_DIR/latest.pth (and epoch_N.pth); logs: $WORK_DIR/*.log and *.log.json"
echo "Evaluate again with: $PYTHON tools/test.py $CONFIG $WORK_DIR/latest.pth --eval bbox"
