#!/bin/sh
# Train a fixed architecture from scratch (no supernet weights). Which one, in this order:
#   CANDIDATE_FILE=path/best.json   a search's best.json (or a file of compact strings)
#   runs/search/best.json           the search of scripts/search_supernet.sh, when it exists
#   otherwise                       the paper's OneShot architecture (plain tail)
. "$(dirname "$0")/common.sh"
SAVE_DIR=${SAVE_DIR:-$SAVE_ROOT/oneshot}
RESUME=""; [ -f "$SAVE_DIR/last.json" ] && RESUME=--resume
CANDIDATE_FILE=${CANDIDATE_FILE:-}
[ -z "$CANDIDATE_FILE" ] && [ -f "$SAVE_ROOT/search/best.json" ] && CANDIDATE_FILE=$SAVE_ROOT/search/best.json
if [ -n "$CANDIDATE_FILE" ]; then ARCH="--candidate-file $CANDIDATE_FILE"; else ARCH="--model OneShot"; fi
echo "train_oneshot: $ARCH" >&2
if [ "$DATASET" = fashion-mnist ]; then
    exec $PYTHON -m oneshot_nas train $ARCH $(fashion_data) --mode hybrid \
        --lr 0.1 --wd 0.00003 --lr-mode cosine --warmup-epochs 1 --label-smoothing --no-wd \
        --num-epochs 3 --batch-size 128 --train-limit 20480 \
        --save-dir "$SAVE_DIR" --save-frequency 1 $RESUME "$@"
fi
exec $PYTHON -m oneshot_nas train $ARCH $(imagenet_data) --mode hybrid \
    --lr 1.3 --wd 0.00003 --lr-mode cosine --dtype float16 \
    --num-epochs 360 --batch-size 256 --num-gpus "${NUM_GPUS:-4}" -j 16 \
    --label-smoothing --no-wd --warmup-epochs 5 \
    --save-dir "$SAVE_DIR" --logging-file shufflenas_oneshot.log $RESUME "$@"
