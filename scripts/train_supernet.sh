#!/bin/sh
# Supernet with SE and the MobileNetV3 tail, block selection from the start, channel selection warm-up
# from epoch 60 (the original's scripts/train_supernet.sh). Resumes when run again.
. "$(dirname "$0")/common.sh"
SAVE_DIR=${SAVE_DIR:-$SAVE_ROOT/supernet}
RESUME=""; [ -f "$SAVE_DIR/last.json" ] && RESUME=--resume
if [ "$DATASET" = fashion-mnist ]; then
    exec $PYTHON -m oneshot_nas train --model ShuffleNas $(fashion_data) \
        --lr 0.1 --wd 0.00004 --lr-mode cosine --warmup-epochs 1 --label-smoothing --no-wd \
        --num-epochs 4 --batch-size 64 --train-limit 10240 --bn-images 1024 \
        --epoch-start-cs 1 --cs-warm-up --use-se --last-conv-after-pooling \
        --save-dir "$SAVE_DIR" --save-frequency 1 $RESUME "$@"
fi
exec $PYTHON -m oneshot_nas train --model ShuffleNas $(imagenet_data) --mode imperative \
    --lr 0.25 --wd 0.00004 --lr-mode cosine --dtype float16 \
    --num-epochs 120 --batch-size 128 --num-gpus "${NUM_GPUS:-4}" -j 4 \
    --label-smoothing --no-wd --warmup-epochs 10 --bn-images 20000 \
    --epoch-start-cs 60 --cs-warm-up --use-se --last-conv-after-pooling \
    --save-dir "$SAVE_DIR" --logging-file shufflenas_supernet.log $RESUME "$@"
