#!/bin/sh
# Train OneShot-S+ (SE + MobileNetV3 tail, flags implied by the name) from scratch, the original's recipe.
. "$(dirname "$0")/common.sh"
SAVE_DIR=${SAVE_DIR:-$SAVE_ROOT/oneshot-s+}
RESUME=""; [ -f "$SAVE_DIR/last.json" ] && RESUME=--resume
ARCH="--model OneShot-S+ --logging-file shufflenas_oneshot-s+.log"
exec $PYTHON -m oneshot_nas train --config "configs/oneshot_$DATASET.json" $ARCH $(data_flags) $(gpu_flags) \
    --save-dir "$SAVE_DIR" $RESUME "$@"
