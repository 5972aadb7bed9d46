#!/bin/sh
# Train a fixed architecture from scratch (no supernet weights). Which one, in this order:
#   MODEL=name                      a published architecture (OneShot, OneShot+, OneShot-S+, SPOS-block-only)
#   CANDIDATE_FILE=path/best.json   a search's best.json (or a file of compact strings)
#   runs/search/best.json           the search of scripts/search_supernet.sh, when it exists
#   otherwise                       the paper's OneShot architecture (plain tail)
. "$(dirname "$0")/common.sh"
SAVE_DIR=${SAVE_DIR:-$SAVE_ROOT/oneshot}
RESUME=""; [ -f "$SAVE_DIR/last.json" ] && RESUME=--resume
CANDIDATE_FILE=${CANDIDATE_FILE:-}
if [ -z "$CANDIDATE_FILE" ] && [ -f "$SAVE_ROOT/search/best.json" ]; then CANDIDATE_FILE=$SAVE_ROOT/search/best.json; fi
if [ -n "${MODEL:-}" ]; then ARCH="--model $MODEL"
elif [ -n "$CANDIDATE_FILE" ]; then ARCH="--candidate-file $CANDIDATE_FILE"
else ARCH="--model OneShot"; fi
echo "train_oneshot: $ARCH" >&2
exec $PYTHON -m oneshot_nas train --config "configs/oneshot_$DATASET.json" $ARCH $(data_flags) $(gpu_flags) \
    --save-dir "$SAVE_DIR" $RESUME "$@"
