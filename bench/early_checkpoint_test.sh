#!/bin/sh
# The planned test of the early-checkpoint lead (logs/early-checkpoint-test/PLAN.md, written and committed before any
# checkpoint was scored): does a joint supernet's checkpoint after 5 of 15 epochs (cosine LR not yet annealed) rank
# the benchmark's subnets better than its final weights? Three fresh 15-epoch supernets of the pipeline's preset,
# seeds 30, 31, 32, trained as PLAN.md says into runs/early-test/joint-long-sS; each checkpoint's scores of every
# planned subnet are kept in logs/early-checkpoint-test/TRUTH/joint-long-sS-epE (TRUTH: joint, the pipeline's
# benchmark, where item 4 of issue 13 is judged; block, the block benchmark, secondary), so this ranks them again
# without the supernets:
#   sh bench/early_checkpoint_test.sh > logs/early_checkpoint_test.txt
# SCORE=1 first scores every checkpoint whose scores are not kept yet (a few minutes each on two cores); SCORE=only
# scores and stops (what a loop runs while the supernets train, to score each checkpoint once it is saved).
set -e
cd "$(dirname "$0")/.."
. bench/rank_helpers.sh
SEEDS="30 31 32"
RUNS=runs/early-test
# use_truth TRUTH: the benchmark and the kept-scores folder of one truth
use_truth() {
    case $1 in
        joint) BENCH=benchmarks/fashion-mnist.jsonl ;;
        block) BENCH=benchmarks/fashion-mnist-block.jsonl ;;
    esac
    KEPT=logs/early-checkpoint-test/$1
    RANK_DIR=$RUNS/rank-$1
}
# checkpoint S E: the file of run S after E epochs (PLAN.md: epoch-0004 and epoch-0009 after 5 and 10, last after
# 15), printed only once saved: last.params is rewritten after every epoch, so it waits for the 15th epoch's record
checkpoint() {
    if [ "$2" = 15 ]; then
        grep -q '"epoch": 14,' "$RUNS/joint-long-s$1/history.jsonl" 2>/dev/null && echo "$RUNS/joint-long-s$1/last.params"
    else
        file=$RUNS/joint-long-s$1/epoch-$(printf %04d $(($2 - 1))).params
        [ -f "$file" ] && echo "$file"
    fi
    return 0
}
if [ "${SCORE:-0}" != 0 ]; then
    for truth in joint block; do   # the primary truth first
        use_truth $truth
        for s in $SEEDS; do
            for e in 5 10 15; do
                file=$(checkpoint $s $e)
                if [ -n "$file" ] && [ ! -f "$KEPT/joint-long-s$s-ep$e/supernet-scores.jsonl" ]; then
                    score "$file" joint-long-s$s-ep$e --update-bn-images 512
                fi
            done
        done
    done
    [ "$SCORE" = only ] && exit 0
fi
echo "early-checkpoint test at commit $(git rev-parse --short HEAD), $(date '+%Y-%m-%d %H:%M')"
for truth in joint block; do
    use_truth $truth
    echo "==== truth: $BENCH ($(wc -l < $BENCH) runs; $([ $truth = joint ] && echo "PLAN.md's primary" || echo secondary))"
    flops=""   # the FLOPs baseline: the same line in every ranking on this benchmark
    for s in $SEEDS; do
        for e in 5 10 15; do
            name=joint-long-s$s-ep$e
            [ -f "$KEPT/$name/supernet-scores.jsonl" ] || { echo "$name: not scored yet"; continue; }
            ranked=$(rank $name)   # in a pipeline, a ranking error would pass unnoticed; here it stops the script
            echo "$ranked" | grep -E "^(Kendall|tau\(supernet\))" | sed "s|^|$name: |"
            flops=$(echo "$ranked" | grep "^ranking by flops")
            if [ $truth = joint ] && [ $e != 10 ]; then
                mv "$KEPT/$name/rank_study.png" images/rank_benchmark_early-s$s-ep$e.png
            else
                rm "$KEPT/$name/rank_study.png"
            fi
        done
    done
    if [ -n "$flops" ]; then
        echo "== the FLOPs baseline on this benchmark"
        echo "$flops"
    fi
    echo "== median hold-out score of the planned subnets after 5, 10, 15 epochs"
    for s in $SEEDS; do
        for e in 5 10 15; do
            [ ! -f "$KEPT/joint-long-s$s-ep$e/supernet-scores.jsonl" ] || median_score joint-long-s$s-ep$e
        done
    done
    if [ -z "$(for s in $SEEDS; do for e in 5 15; do [ -f "$KEPT/joint-long-s$s-ep$e/pairs.json" ] || echo missing; done; done)" ]; then
        echo "== after 5 minus after 15 epochs, paired by run"
        diff=$($PYTHON bench/ranker_difference.py --a $(seeds joint-long -ep5) --b $(seeds joint-long -ep15))
        echo "$diff"
        # PLAN.md's decision rule, applied to the last line: "mean difference over 3 parents: +M [+LOW, +HIGH] ..."
        echo "$diff" | tail -n 1 | sed 's/[][,]/ /g' | awk '{mean = $6 + 0; low = $7 + 0
            verdict = (mean > 0 && low > 0) ? "lead confirmed" : (mean <= 0 ? "lead not supported" : "not shown")
            print "decision rule (PLAN.md): " verdict}'
        echo "== the three checkpoints after 5 epochs: agreement, and their mean score against the benchmark"
        $PYTHON bench/supernet_agreement.py $(seeds joint-long -ep5)
        echo "== not in PLAN.md, looked at after the result: each run's mean score over its checkpoints after 5, 10, 15"
        for s in $SEEDS; do
            $PYTHON bench/supernet_agreement.py $(pairs joint-long-s$s-ep5 joint-long-s$s-ep10 joint-long-s$s-ep15) \
                | grep "^mean score" | sed "s|^|joint-long-s$s: |"
        done
    fi
done
