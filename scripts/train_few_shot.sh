#!/bin/sh
# Few-shot sub-supernets (ours, after few-shot NAS, Zhao et al. 2021; not in the original): the trained supernet
# ($SUPERNET, default $SAVE_ROOT/supernet) split on choice layer SPLIT_LAYER (default 0) into one sub-supernet per
# block, each started from its weights and trained further with every path taking its block at that layer, in
# $SAVE_ROOT/few-shot/blockB (B = 0..3). Score with them (prints the option):
#   sh scripts/search_supernet.sh --few-shot-params $SAVE_ROOT/few-shot/block0,...,block3
# The sub-supernets' recipe is the supernet preset's with FEW_SHOT_ARGS, then "$@": on fashion-mnist by default
# the one measured in the README ("Few-shot sub-supernets"); on imagenet give it (nothing is measured there).
# Costs one further training per block (four). Resumes when run again.
. "$(dirname "$0")/common.sh"
SUPERNET=${SUPERNET:-$SAVE_ROOT/supernet}
SPLIT_LAYER=${SPLIT_LAYER:-0}
if [ -z "${FEW_SHOT_ARGS+set}" ]; then
    if [ "$DATASET" = fashion-mnist ]; then
        FEW_SHOT_ARGS="--num-epochs 2 --block-warm-up 0 --warmup-epochs 0 --lr 0.02"
    else
        echo "train_few_shot.sh: give the sub-supernets' recipe for $DATASET, e.g. FEW_SHOT_ARGS=\"--num-epochs 10" \
             "--lr 0.05 --warmup-epochs 0 --epoch-start-cs 0\" (no default is measured on $DATASET)" >&2
        exit 2
    fi
fi
PARAMS=$SUPERNET; [ -d "$SUPERNET" ] && PARAMS=$SUPERNET/last.params
if [ ! -f "$PARAMS" ]; then
    echo "train_few_shot.sh: no supernet at $PARAMS; train one first (sh scripts/train_supernet.sh) or set SUPERNET" >&2
    exit 2
fi
set -e
MEMBERS=""
for block in 0 1 2 3; do
    echo "=== few-shot: sub-supernet of block $block at layer $SPLIT_LAYER ===" >&2
    SAVE_DIR=$SAVE_ROOT/few-shot/block$block sh scripts/train_supernet.sh --resume-params "$PARAMS" \
        $FEW_SHOT_ARGS --split-layer "$SPLIT_LAYER" --split-block "$block" "$@"
    MEMBERS=${MEMBERS:+$MEMBERS,}$SAVE_ROOT/few-shot/block$block
done
echo "--few-shot-params $MEMBERS"
