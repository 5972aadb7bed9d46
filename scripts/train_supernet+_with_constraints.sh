#!/bin/sh
# Supernet+ trained only on paths inside the FLOPs/params box, met by strolling evolution.
# (The original passed only an upper constraint and ignored it; here both corners are honoured.)
. "$(dirname "$0")/common.sh"
SAVE_DIR=${SAVE_DIR:-$SAVE_ROOT/supernet+_constraints}
RESUME=""; [ -f "$SAVE_DIR/last.json" ] && RESUME=--resume
if [ "$DATASET" = fashion-mnist ]; then
    # the 32x32, 10-class network is ~12x cheaper in FLOPs and ~1M lighter: a box of the same shape
    exec $PYTHON -m oneshot_nas train --model ShuffleNas $(fashion_data) \
        --lr 0.1 --wd 0.00004 --lr-mode cosine --warmup-epochs 1 --label-smoothing --no-wd \
        --num-epochs 4 --batch-size 64 --train-limit 10240 --bn-images 1024 \
        --epoch-start-cs 0 --use-se --last-conv-after-pooling --channels-layout OneShot \
        --train-upper-constraints flops-28-params-3.2 --train-bottom-constraints flops-16-params-2.0 \
        --train-constraint-method evolution \
        --save-dir "$SAVE_DIR" --save-frequency 1 $RESUME "$@"
fi
exec $PYTHON -m oneshot_nas train --model ShuffleNas $(imagenet_data) --mode imperative \
    --lr 0.65 --wd 0.00004 --lr-mode cosine --dtype float16 \
    --num-epochs 120 --batch-size 64 --num-gpus "${NUM_GPUS:-1}" -j 16 \
    --label-smoothing --no-wd --warmup-epochs 5 --bn-images 20000 \
    --epoch-start-cs 0 --use-se --last-conv-after-pooling --channels-layout OneShot \
    --train-upper-constraints flops-330-params-5.0 --train-bottom-constraints flops-190-params-2.8 \
    --train-constraint-method evolution \
    --save-dir "$SAVE_DIR" --logging-file shufflenas_supernet+.log $RESUME "$@"
