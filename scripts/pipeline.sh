#!/bin/sh
# The whole Single Path One-Shot pipeline, each step through its own script (each resumes on its own, so
# running this again after an interruption continues from the last finished step and checkpoint):
#   1. train the supernet (block + channel selection with channel warm-up)   scripts/train_supernet.sh
#   2. genetic search, joint block + channel genes, under a FLOPs constraint scripts/search_supernet.sh
#   3. random search of RANDOM_N candidates on the same supernet (the baseline)
#   4. train from scratch, for every seed in SEEDS: the searched subnet, the best random one, and OneShot
#      with the same network flags (the paper's genes; plain tail, as the supernet)
#   5. print and write the final table ($FINAL_DIR/report.md)
# DATASET defaults to fashion-mnist here. Extra options: SUPERNET_ARGS (step 1), SEARCH_ARGS (steps 2-3),
# FINAL_ARGS (step 4; on fashion-mnist by default 1 epoch of 12,800 images, tested on all 10,000 test images;
# FINAL_ARGS="" trains with the full recipe of train_oneshot.sh, the benchmark's),
# FINAL_DIR (step 4's runs and the report; default $SAVE_ROOT/final: use another one for another FINAL_ARGS).
# ENSEMBLE_SEEDS="1 2 3": step 1 also trains a supernet per seed ($SAVE_ROOT/supernet-seedS, SUPERNET_ARGS with
# that --seed) and steps 2-3 score every candidate by its mean over all of them (--ensemble-params; each one
# more supernet costs step 1's time again, and the searches' scoring time again).
DATASET=${DATASET:-fashion-mnist}
export DATASET
. "$(dirname "$0")/common.sh"
SEEDS=${SEEDS:-0}
FINAL_DIR=${FINAL_DIR:-$SAVE_ROOT/final}
RANDOM_N=${RANDOM_N:-24}
if [ -z "${FINAL_ARGS+set}" ]; then
    if [ "$DATASET" = fashion-mnist ]; then FINAL_ARGS="--num-epochs 1 --train-limit 12800"; else FINAL_ARGS=""; fi
fi
set -e
step() { echo "=== pipeline: $* ===" >&2; }
step "1/5 supernet";        sh scripts/train_supernet.sh ${SUPERNET_ARGS:-}
ENSEMBLE=""
for seed in ${ENSEMBLE_SEEDS:-}; do
    step "1/5 supernet of the ensemble, seed $seed"
    SAVE_DIR=$SAVE_ROOT/supernet-seed$seed sh scripts/train_supernet.sh ${SUPERNET_ARGS:-} --seed "$seed"
    ENSEMBLE=${ENSEMBLE:+$ENSEMBLE,}$SAVE_ROOT/supernet-seed$seed
done
if [ -n "$ENSEMBLE" ]; then SEARCH_ARGS="${SEARCH_ARGS:-} --ensemble-params $ENSEMBLE"; fi
step "2/5 genetic search";  sh scripts/search_supernet.sh ${SEARCH_ARGS:-}
step "3/5 random search";   SAVE_DIR=$SAVE_ROOT/random-search sh scripts/search_supernet.sh ${SEARCH_ARGS:-} \
                                --search-mode random --search-iters "$RANDOM_N" --population-size "$RANDOM_N"
for seed in $SEEDS; do
    step "4/5 from scratch, seed $seed"
    CANDIDATE_FILE=$SAVE_ROOT/search/best.json SAVE_DIR=$FINAL_DIR/searched-seed$seed \
        sh scripts/train_oneshot.sh --seed "$seed" $FINAL_ARGS
    CANDIDATE_FILE=$SAVE_ROOT/random-search/best.json SAVE_DIR=$FINAL_DIR/random-best-seed$seed \
        sh scripts/train_oneshot.sh --seed "$seed" $FINAL_ARGS
    MODEL=OneShot SAVE_DIR=$FINAL_DIR/oneshot-seed$seed sh scripts/train_oneshot.sh --seed "$seed" $FINAL_ARGS
done
step "5/5 report"
$PYTHON -m oneshot_nas report "$FINAL_DIR"/*-seed* --out "$FINAL_DIR/report.md"
