#!/bin/sh
# Search the trained supernet (the original's scripts/search_supernet.sh recipe on ImageNet: genetic,
# joint block + channel genes, population 50, 20 generations, BN recalibrated on 20,000 training images).
# Reads the supernet of scripts/train_supernet.sh ($SAVE_ROOT/supernet, or SUPERNET=file-or-dir) and writes
# $SAVE_ROOT/search (best.json feeds scripts/train_oneshot.sh). Resumes when run again.
. "$(dirname "$0")/common.sh"
SAVE_DIR=${SAVE_DIR:-$SAVE_ROOT/search}
SUPERNET=${SUPERNET:-$SAVE_ROOT/supernet}
RESUME=""; [ -f "$SAVE_DIR/state.json" ] && RESUME=--resume
exec $PYTHON -m oneshot_nas search --config "configs/search_$DATASET.json" $(data_flags) $(gpu_flags) \
    --supernet-params "$SUPERNET" --out-dir "$SAVE_DIR" $RESUME "$@"
