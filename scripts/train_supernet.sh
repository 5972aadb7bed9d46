#!/bin/sh
# Supernet, block selection from the start, channel selection with warm-up (ImageNet: the original's
# scripts/train_supernet.sh, plain network, channel selection from epoch 60). Resumes when run again.
. "$(dirname "$0")/common.sh"
SAVE_DIR=${SAVE_DIR:-$SAVE_ROOT/supernet}
RESUME=""; [ -f "$SAVE_DIR/last.json" ] && RESUME=--resume
exec $PYTHON -m oneshot_nas train --config "configs/supernet_$DATASET.json" $(data_flags) $(gpu_flags) \
    --save-dir "$SAVE_DIR" $RESUME "$@"
