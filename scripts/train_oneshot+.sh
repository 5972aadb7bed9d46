#!/bin/sh
# OneShot+ from scratch: the OneShot genes with SE and the MobileNetV3 tail (the original's train_oneshot+.sh).
. "$(dirname "$0")/common.sh"
SAVE_DIR=${SAVE_DIR:-$SAVE_ROOT/oneshot+}
RESUME=""; [ -f "$SAVE_DIR/last.json" ] && RESUME=--resume
exec $PYTHON -m oneshot_nas train --config "configs/oneshot_$DATASET.json" --model ShuffleNas_fixArch \
    --block-choices "$ONESHOT_BLOCKS" --channel-choices "$ONESHOT_CHANNELS" --use-se --last-conv-after-pooling $(log_flags shufflenas_oneshot+) \
    $(data_flags) $(gpu_flags) --save-dir "$SAVE_DIR" $RESUME "$@"
