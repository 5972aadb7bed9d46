# Sourced by the bench studies that score supernets on a benchmark's planned subnets, keep the scores under logs/
# and rank the kept scores against the benchmark (bench/block_study.sh, bench/early_checkpoint_test.sh), so a study
# can be ranked again without its supernets. Source it from the repository root; set before calling:
#   BENCH     the benchmark .jsonl: its plan names the subnets, its mean top-1 over seeds is the truth
#   KEPT      the folder of kept scores; each scoring is kept in KEPT/NAME (scoring.json, supernet-scores.jsonl)
#   RANK_DIR  where rank-study writes its scoring folders (under runs/, not committed)
#   SEEDS     the study's seeds, for `seeds`
PYTHON=${PYTHON:-python}
[ -x .venv/bin/python ] && [ "$PYTHON" = python ] && PYTHON=.venv/bin/python

# score SUPERNET NAME [rank-study flags]: score every planned subnet with SUPERNET (a run folder or a .params
# checkpoint) and keep the scores in $KEPT/NAME
score() {
    supernet=$1; name=$2; shift 2
    $PYTHON -m oneshot_nas rank-study --dataset fashion-mnist --holdout 10000 --val-split holdout --val-images 10000 \
        --supernet-params "$supernet" --benchmark "$BENCH" --out-dir "$RANK_DIR/$name" "$@" >/dev/null 2>&1
    mkdir -p "$KEPT/$name"
    cp "$RANK_DIR/$name/scoring.json" "$RANK_DIR/$name/supernet-scores.jsonl" "$KEPT/$name/"
}
# keep_scores SUPERNET_DIR NAME: score with the studies' settings and keep the supernet's training history too
keep_scores() {
    score "$1" "$2" --update-bn-images 512
    cp "$1/history.jsonl" "$KEPT/$2/supernet-history.jsonl"
}
# pairs NAME...: the kept pairs files $KEPT/NAME/pairs.json
pairs() {
    for name in "$@"; do printf '%s ' "$KEPT/$name/pairs.json"; done
}
# seeds KIND [SUFFIX]: the kept pairs of the study's seeds, $KEPT/KIND-sS[SUFFIX]/pairs.json for S in $SEEDS
seeds() {
    for s in $SEEDS; do pairs "$1-s$s$2"; done
}
# rank NAME: rank the kept scores $KEPT/NAME against the benchmark (pairs, statistics, plot into $KEPT/NAME) and
# print the headline lines
rank() {
    out=$($PYTHON -m oneshot_nas rank-study --benchmark "$BENCH" --scores "$KEPT/$1" --out-dir "$KEPT/$1" 2>&1) \
        || { echo "$out" | tail -n 5 >&2; exit 1; }
    echo "$out" | grep -E "^(Kendall|ranking by|tau\(supernet\))"
}
# median_score NAME: the median hold-out score of the subnets kept in $KEPT/NAME (what the supernet has learned)
median_score() {
    $PYTHON -c "import json, statistics, sys; top1 = [json.loads(l)['top1'] for l in open(sys.argv[1])]
print(f'{sys.argv[2]}: median {statistics.median(top1):.3f}, range {min(top1):.3f}-{max(top1):.3f} over {len(top1)} subnets')" \
        "$KEPT/$1/supernet-scores.jsonl" "$1"
}
