#!/bin/sh
# Supernet+ : SE, MobileNetV3 tail, channel selection from the first epoch (the original's recipe).
. "$(dirname "$0")/common.sh"
SAVE_DIR=${SAVE_DIR:-$SAVE_ROOT/supernet+}
RESUME=""; [ -f "$SAVE_DIR/last.json" ] && RESUME=--resume
if [ "$DATASET" = fashion-mnist ]; then
    exec $PYTHON -m oneshot_nas train --model ShuffleNas $(fashion_data) \
        --lr 0.1 --wd 0.00004 --lr-mode cosine --warmup-epochs 1 --label-smoothing --no-wd \
        --num-epochs 4 --batch-size 64 --train-limit 10240 --bn-images 1024 \
        --epoch-start-cs 0 --use-se --last-conv-after-pooling --channels-layout OneShot \
        --save-dir "$SAVE_DIR" --save-frequency 1 $RESUME "$@"
fi
exec $PYTHON -m oneshot_nas train --model ShuffleNas $(imagenet_data) --mode imperative \
    --lr 0.65 --wd 0.00004 --lr-mode cosine --dtype float16 \
    --num-epochs 120 --batch-size 64 --num-gpus "${NUM_GPUS:-1}" -j 16 \
    --label-smoothing --no-wd --warmup-epochs 5 --bn-images 20000 \
    --epoch-start-cs 0 --use-se --last-conv-after-pooling --channels-layout OneShot \
    --save-dir "$SAVE_DIR" --logging-file shufflenas_supernet+.log $RESUME "$@"
