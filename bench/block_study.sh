#!/bin/sh
# SPOS's block search (channels fixed at scale 1.0) against the joint search's supernet, on the block benchmark
# (benchmarks/fashion-mnist-block.jsonl). Three block-only supernets and three of the pipeline's joint supernets
# (seeds 0, 1, 2) were trained and scored once (README, "Block search with channels fixed"); their scores of every
# planned subnet are kept in logs/block-study/KIND-sS (scoring.json, supernet-scores.jsonl), so this ranks them
# again, without the supernets, against the benchmark as it stands, and prints the comparisons:
#   sh bench/block_study.sh > logs/block_study.txt
# (the commit and the benchmark's run count are printed first, so the file says what it was computed from).
# With SCORE=1 it first scores with the supernets in runs/{block,joint}-supernet-sS (where this study trained
# them) and refreshes the kept scores.
set -e
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
[ -x .venv/bin/python ] && [ "$PYTHON" = python ] && PYTHON=.venv/bin/python
BENCH=benchmarks/fashion-mnist-block.jsonl
KEPT=logs/block-study
echo "block study at commit $(git rev-parse --short HEAD), $(date '+%Y-%m-%d %H:%M'): $(wc -l < $BENCH) of 42 benchmark runs"
for kind in block joint; do
    for s in 0 1 2; do
        if [ "${SCORE:-0}" = 1 ]; then
            $PYTHON -m oneshot_nas rank-study --dataset fashion-mnist --holdout 10000 --val-split holdout \
                --update-bn-images 512 --val-images 10000 --supernet-params runs/$kind-supernet-s$s \
                --benchmark $BENCH --out-dir runs/block-rank/$kind-s$s >/dev/null 2>&1
            mkdir -p $KEPT/$kind-s$s
            cp runs/block-rank/$kind-s$s/scoring.json runs/block-rank/$kind-s$s/supernet-scores.jsonl $KEPT/$kind-s$s/
            cp runs/$kind-supernet-s$s/history.jsonl $KEPT/$kind-s$s/supernet-history.jsonl
        fi
        echo "== $kind supernet, seed $s (block: --fixed-channel-scale 1.0; joint: the pipeline's preset)"
        out=$($PYTHON -m oneshot_nas rank-study --benchmark $BENCH --scores $KEPT/$kind-s$s --out-dir $KEPT/$kind-s$s \
              2>&1) || { echo "$out" | tail -n 5 >&2; exit 1; }
        echo "$out" | grep -E "^(Kendall|ranking by|tau\(supernet\))"
        mv $KEPT/$kind-s$s/rank_study.png images/rank_benchmark_block-$kind-s$s.png
    done
done
for kind in block joint; do
    echo "== the $kind supernets: agreement with each other and with FLOPs over all 21 planned subnets (no truth needed)"
    $PYTHON bench/supernet_agreement.py --scored $KEPT/$kind-s0/pairs.json $KEPT/$kind-s1/pairs.json $KEPT/$kind-s2/pairs.json
    echo "== the $kind supernets over the subnets the benchmark holds: with each other, the benchmark, mean score"
    $PYTHON bench/supernet_agreement.py $KEPT/$kind-s0/pairs.json $KEPT/$kind-s1/pairs.json $KEPT/$kind-s2/pairs.json
done
echo "== block-only minus joint supernet, paired by seed"
$PYTHON bench/ranker_difference.py --a $KEPT/block-s0/pairs.json $KEPT/block-s1/pairs.json $KEPT/block-s2/pairs.json \
    --b $KEPT/joint-s0/pairs.json $KEPT/joint-s1/pairs.json $KEPT/joint-s2/pairs.json
echo "== the block benchmark's seeds"
$PYTHON bench/benchmark_reliability.py $BENCH
