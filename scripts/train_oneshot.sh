#!/bin/sh
# Train a fixed architecture from scratch (no supernet weights): the paper's OneShot architecture (plain tail),
# as the original's train_oneshot.sh, unless one is named:
#   MODEL=name                      a published architecture (OneShot, OneShot+, OneShot-S+, SPOS-block-only)
#   CANDIDATE_FILE=path/best.json   a search's best.json (or a file of compact strings); the pipeline passes its own
. "$(dirname "$0")/common.sh"
SAVE_DIR=${SAVE_DIR:-$SAVE_ROOT/oneshot}
RESUME=""; [ -f "$SAVE_DIR/last.json" ] && RESUME=--resume
if [ -n "${MODEL:-}" ]; then set -- --model "$MODEL" "$@"
elif [ -n "${CANDIDATE_FILE:-}" ]; then set -- --candidate-file "$CANDIDATE_FILE" "$@"
else set -- --model ShuffleNas_fixArch --block-choices "$ONESHOT_BLOCKS" --channel-choices "$ONESHOT_CHANNELS" "$@"; fi
echo "train_oneshot: $1 $2" >&2
exec $PYTHON -m oneshot_nas train --config "configs/oneshot_$DATASET.json" $(log_flags shufflenas_oneshot) \
    $(data_flags) $(gpu_flags) --save-dir "$SAVE_DIR" $RESUME "$@"
