#!/bin/sh
# Supernet+ : SE, MobileNetV3 tail, channel selection from the first epoch (the original's recipe).
. "$(dirname "$0")/common.sh"
SAVE_DIR=${SAVE_DIR:-$SAVE_ROOT/supernet+}
RESUME=""; [ -f "$SAVE_DIR/last.json" ] && RESUME=--resume
exec $PYTHON -m oneshot_nas train --config "configs/supernet+_$DATASET.json" $(data_flags) $(gpu_flags) \
    --save-dir "$SAVE_DIR" $RESUME "$@"
