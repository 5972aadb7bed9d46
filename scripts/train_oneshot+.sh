#!/bin/sh
# Train OneShot+ (SE + MobileNetV3 tail, flags implied by the name) from scratch, the original's recipe.
. "$(dirname "$0")/common.sh"
SAVE_DIR=${SAVE_DIR:-$SAVE_ROOT/oneshot+}
RESUME=""; [ -f "$SAVE_DIR/last.json" ] && RESUME=--resume
ARCH="--model OneShot+ --logging-file shufflenas_oneshot+.log"
exec $PYTHON -m oneshot_nas train --config "configs/oneshot_$DATASET.json" $ARCH $(data_flags) $(gpu_flags) \
    --save-dir "$SAVE_DIR" $RESUME "$@"
