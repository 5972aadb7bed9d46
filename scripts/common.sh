# Sourced by the scripts in this folder: interpreter, thread defaults, dataset selection.
#   DATASET=imagenet (default) | fashion-mnist     which recipe to run
#   REC_DIR=~/.mxnet/datasets/imagenet/rec          ImageNet RecordIO folder (train.rec/.idx, val.rec/.idx)
#   NUM_GPUS=...                                    override the recipe's GPU count (0 = CPU)
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

# The small-data recipe: Fashion-MNIST at 32x32 on the CPU, a few minutes on 2 cores.
fashion_data() {
    echo --dataset fashion-mnist --input-size 32 --num-classes 10 --num-gpus 0 -j 2 \
         --val-limit 2000 --log-interval 40
}

case "$DATASET" in
    imagenet|fashion-mnist) ;;
    *) echo "DATASET must be imagenet or fashion-mnist, not '$DATASET'" >&2; exit 2 ;;
esac
