#!/bin/sh
# Supernet+ trained only on paths inside the FLOPs/params box, met by strolling evolution.
# (The original passed only an upper constraint and ignored it; here both corners are honoured.)
# The 32x32, 10-class network is ~12x cheaper in FLOPs and ~1M lighter: its box has the same shape.
. "$(dirname "$0")/common.sh"
SAVE_DIR=${SAVE_DIR:-$SAVE_ROOT/supernet+_constraints}
RESUME=""; [ -f "$SAVE_DIR/last.json" ] && RESUME=--resume
exec $PYTHON -m oneshot_nas train --config "configs/supernet+_$DATASET.json" $(data_flags) $(gpu_flags) \
    $(if [ "$DATASET" = imagenet ]; then
        echo --train-upper-constraints flops-330-params-5.0 --train-bottom-constraints flops-190-params-2.8 \
            --logging-file ./logs/shufflenas_supernet+_with_constraints.log
      else
        echo --train-upper-constraints flops-28-params-3.2 --train-bottom-constraints flops-16-params-2.0
      fi) --train-constraint-method evolution \
    --save-dir "$SAVE_DIR" $RESUME "$@"
