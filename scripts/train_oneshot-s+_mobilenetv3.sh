#!/bin/sh
# OneShot-S+ genes with SE on the ShuffleNetV2+ channel layout, last conv before pooling (the original's
# train_oneshot-s+_mobilenetv3.sh).
. "$(dirname "$0")/common.sh"
SAVE_DIR=${SAVE_DIR:-$SAVE_ROOT/oneshot-s+_mobilenetv3}
RESUME=""; [ -f "$SAVE_DIR/last.json" ] && RESUME=--resume
exec $PYTHON -m oneshot_nas train --config "configs/oneshot_$DATASET.json" --model ShuffleNas_fixArch \
    --block-choices "$ONESHOT_SPLUS_BLOCKS" --channel-choices "$ONESHOT_SPLUS_CHANNELS" --use-se --channels-layout ShuffleNetV2+ $(log_flags shufflenas_oneshot-s+_mobilenetv3) \
    $(data_flags) $(gpu_flags) --save-dir "$SAVE_DIR" $RESUME "$@"
