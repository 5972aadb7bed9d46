#!/bin/sh
# "Is the search's pick good?" (issue 13): the whole pipeline once per seed in PIPELINE_SEEDS (default "0 1 2";
# that seed drives the supernet, both searches and the from-scratch trainings), each in $SAVE_ROOT/pick-study/seed-S,
# its three picks (searched, best random, OneShot) trained with the benchmark's recipe (FINAL_ARGS="": the full
# train_oneshot.sh recipe). Then one table over the seeds, placed against the benchmark's random subnets, with
# searched minus best-random paired by seed and its 95% t-interval ($SAVE_ROOT/pick-study/report.md), and each
# seed's supernet ranked against the benchmark (`rank-study --benchmark`, scored on the whole 10,000-image hold-out:
# $SAVE_ROOT/pick-study/seed-S/rank-study/{rank_study.json,pairs.json,rank_study.png}).
# About 40 min per seed on 2 cores; every step resumes, so run it again after a kill. PARALLEL=1 runs the seeds'
# pipelines side by side instead, each with OMP_NUM_THREADS threads (default 1 here) and its log appended to
# $SAVE_ROOT/pick-study/seed-S/pipeline.log: one-thread processes use the two cores better than one two-thread
# process does, when there are at least as many seeds as cores. SUPERNET_ARGS, SEARCH_ARGS,
# RANDOM_N pass on to pipeline.sh; BENCHMARK names the benchmark file; FINAL_ARGS (default empty) must leave the
# picks' recipe equal to the benchmark's, which `report --benchmark` checks; RANK_ARGS the rank study's data flags.
DATASET=${DATASET:-fashion-mnist}
export DATASET
THREADS_GIVEN=${OMP_NUM_THREADS:-}
. "$(dirname "$0")/common.sh"
PARALLEL=${PARALLEL:-0}
PIPELINE_SEEDS=${PIPELINE_SEEDS:-0 1 2}
BENCHMARK=${BENCHMARK:-benchmarks/$DATASET.jsonl}
ROOT=$SAVE_ROOT/pick-study
FINAL_ARGS=${FINAL_ARGS:-}
RANK_ARGS=${RANK_ARGS:---dataset fashion-mnist --holdout 10000 --val-split holdout --update-bn-images 512 --val-images 10000}
set -e
pipeline() {  # the whole pipeline for pipeline seed $1
    SAVE_ROOT=$ROOT/seed-$1 SEEDS=$1 FINAL_ARGS="$FINAL_ARGS" SUPERNET_ARGS="--seed $1 ${SUPERNET_ARGS:-}" \
        SEARCH_ARGS="--seed $1 ${SEARCH_ARGS:-}" sh scripts/pipeline.sh
}
if [ "$PARALLEL" = 1 ]; then
    # A script's background jobs ignore Ctrl-C (SIGINT), so they would outlive it: stop the whole group instead
    # (every step resumes from its last checkpoint when the study runs again).
    trap "trap - INT; echo \"pick study: interrupted; stopping every seed's pipeline\" >&2; kill 0" INT
    started=""
    for seed in $PIPELINE_SEEDS; do
        mkdir -p "$ROOT/seed-$seed"
        echo "=== pick study: pipeline seed $seed in $ROOT/seed-$seed, in the background (log: pipeline.log there) ===" >&2
        (export OMP_NUM_THREADS="${THREADS_GIVEN:-1}"; pipeline "$seed") >> "$ROOT/seed-$seed/pipeline.log" 2>&1 &
        started="$started $!:$seed"
    done
    failed=""
    for job in $started; do wait "${job%%:*}" || failed="$failed ${job#*:}"; done
    if [ -n "$failed" ]; then
        echo "pick study: the pipeline of seed(s)$failed failed: see $ROOT/seed-S/pipeline.log; run again to resume" >&2
        exit 1
    fi
else
    for seed in $PIPELINE_SEEDS; do
        echo "=== pick study: pipeline seed $seed in $ROOT/seed-$seed ===" >&2
        pipeline "$seed"
    done
fi
$PYTHON -m oneshot_nas report "$ROOT"/seed-*/final/*-seed* --benchmark "$BENCHMARK" --pool-architectures --paired searched,random-best \
    --out "$ROOT/report.md"
for seed in $PIPELINE_SEEDS; do
    echo "=== pick study: seed $seed's supernet against the benchmark ===" >&2
    $PYTHON -m oneshot_nas rank-study $RANK_ARGS --supernet-params "$ROOT/seed-$seed/supernet" --benchmark "$BENCHMARK" \
        --out-dir "$ROOT/seed-$seed/rank-study"
done
