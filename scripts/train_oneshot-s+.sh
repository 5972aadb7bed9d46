#!/bin/sh
# Train OneShot-S+ (SE + MobileNetV3 tail, flags implied by the name) from scratch, the original's recipe.
. "$(dirname "$0")/common.sh"
SAVE_DIR=${SAVE_DIR:-$SAVE_ROOT/oneshot-s+}
RESUME=""; [ -f "$SAVE_DIR/last.json" ] && RESUME=--resume
if [ "$DATASET" = fashion-mnist ]; then
    exec $PYTHON -m oneshot_nas train --model OneShot-S+ $(fashion_data) --mode hybrid \
        --lr 0.1 --wd 0.00003 --lr-mode cosine --warmup-epochs 1 --label-smoothing --no-wd \
        --num-epochs 3 --batch-size 128 --train-limit 20480 \
        --save-dir "$SAVE_DIR" --save-frequency 1 $RESUME "$@"
fi
exec $PYTHON -m oneshot_nas train --model OneShot-S+ $(imagenet_data) --mode hybrid \
    --lr 1.3 --wd 0.00003 --lr-mode cosine --dtype float16 \
    --num-epochs 360 --batch-size 256 --num-gpus "${NUM_GPUS:-4}" -j 16 \
    --label-smoothing --no-wd --warmup-epochs 5 \
    --save-dir "$SAVE_DIR" --logging-file shufflenas_oneshot-s+.log $RESUME "$@"
