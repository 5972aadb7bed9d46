# Sourced by the scripts in this folder: interpreter, thread defaults, dataset selection.
#   DATASET=imagenet (default) | fashion-mnist     which recipe to run
#   REC_DIR=~/.mxnet/datasets/imagenet/rec          ImageNet RecordIO folder (train.rec/.idx, val.rec/.idx)
#   NUM_GPUS=...                                    override the recipe's GPU count (0 = CPU)
# Recipes live in configs/<name>_<dataset>.json; extra arguments to a script override them.
#   SAVE_ROOT=runs                                  where runs are written
#   PYTHON=...                                      interpreter (default: .venv/bin/python if present)
cd "$(dirname "$0")/.." || exit 1
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
DATASET=${DATASET:-imagenet}
SAVE_ROOT=${SAVE_ROOT:-runs}
REC_DIR=${REC_DIR:-$HOME/.mxnet/datasets/imagenet/rec}
# On CPU, one OpenMP thread per core is much faster than the default; GPUs do not care.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc 2>/dev/null || echo 2)}
export MXNET_SAFE_ACCUMULATION=${MXNET_SAFE_ACCUMULATION:-1}

imagenet_data() {
    echo --use-rec --rec-train "$REC_DIR/train.rec" --rec-train-idx "$REC_DIR/train.idx" \
         --rec-val "$REC_DIR/val.rec" --rec-val-idx "$REC_DIR/val.idx"
}

# The data flags of a run: ImageNet RecordIO from $REC_DIR, or nothing (the fashion-mnist presets say it all).
data_flags() {
    if [ "$DATASET" = imagenet ]; then imagenet_data; fi
}

case "$DATASET" in
    imagenet|fashion-mnist) ;;
    *) echo "DATASET must be imagenet or fashion-mnist, not '$DATASET'" >&2; exit 2 ;;
esac

# gpu_flags: the preset's GPU count unless NUM_GPUS overrides it.
gpu_flags() {
    if [ -n "${NUM_GPUS:-}" ]; then echo --num-gpus "$NUM_GPUS"; fi
}

# The published genes, as the original's scripts pass them (quoted comma lists).
ONESHOT_BLOCKS="0, 0, 3, 1, 1, 1, 0, 0, 2, 0, 2, 1, 1, 0, 2, 0, 2, 1, 3, 2"
ONESHOT_CHANNELS="6, 5, 3, 5, 2, 6, 3, 4, 2, 5, 7, 5, 4, 6, 7, 4, 4, 5, 4, 3"
ONESHOT_SPLUS_BLOCKS="0, 0, 0, 1, 0, 0, 1, 0, 3, 2, 0, 1, 2, 2, 1, 2, 0, 0, 2, 0"
ONESHOT_SPLUS_CHANNELS="8, 7, 6, 8, 5, 7, 3, 4, 2, 4, 2, 3, 4, 5, 6, 6, 3, 3, 4, 6"

# log_flags NAME: on ImageNet the original's --logging-file ./logs/NAME.log (relative to the repository, as
# the scripts run there); our Fashion-MNIST presets log into the run folder.
log_flags() {
    if [ "$DATASET" = imagenet ]; then echo --logging-file "./logs/$1.log"; fi
}
