#!/bin/sh
# Supernet with SE and the MobileNetV3 tail, block selection from the start, channel selection warm-up
# (ImageNet: from epoch 60, the original's scripts/train_supernet.sh). Resumes when run again.
. "$(dirname "$0")/common.sh"
SAVE_DIR=${SAVE_DIR:-$SAVE_ROOT/supernet}
RESUME=""; [ -f "$SAVE_DIR/last.json" ] && RESUME=--resume
exec $PYTHON -m oneshot_nas train --config "configs/supernet_$DATASET.json" $(data_flags) $(gpu_flags) \
    --save-dir "$SAVE_DIR" $RESUME "$@"
