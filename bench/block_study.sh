#!/bin/sh
# SPOS's block search (channels fixed at scale 1.0) against the joint search's supernet, on the block benchmark
# (benchmarks/fashion-mnist-block.jsonl). Three block-only supernets and three of the pipeline's joint supernets
# (seeds 0, 1, 2) were trained and scored once (README, "Block search with channels fixed"); their scores of every
# planned subnet are kept in logs/block-study/KIND-sS (scoring.json, supernet-scores.jsonl), so this ranks them
# again, without the supernets, against the benchmark as it stands, and prints the comparisons:
#   sh bench/block_study.sh > logs/block_study.txt
# (the commit and the benchmark's run count are printed first, so the file says what it was computed from).
# With SCORE=1 it first scores with the supernets in runs/{block,joint}-supernet-sS (where this study trained
# them) and refreshes the kept scores (18 scorings in all, about 2 minutes each on two cores). Last, the block
# supernets' scoring noise: their scores again with another BN-recalibration draw and with more BN images (kept in
# block-sS-VARIANT).
# Then longer training: three block-only supernets trained 15 epochs instead of 5, and their checkpoints after 5
# and 10 epochs (kept in block-long-sS and block-long-sS-epE; with SCORE=1 scored from runs/block-supernet-long-sS,
# trained as the section's header says).
set -e
cd "$(dirname "$0")/.."
. bench/rank_helpers.sh
BENCH=benchmarks/fashion-mnist-block.jsonl
KEPT=logs/block-study
RANK_DIR=runs/block-rank
SEEDS="0 1 2"
echo "block study at commit $(git rev-parse --short HEAD), $(date '+%Y-%m-%d %H:%M'): $(wc -l < $BENCH) of 42 benchmark runs"
for kind in block joint; do
    for s in 0 1 2; do
        if [ "${SCORE:-0}" = 1 ]; then
            keep_scores runs/$kind-supernet-s$s $kind-s$s
        fi
        echo "== $kind supernet, seed $s (block: --fixed-channel-scale 1.0; joint: the pipeline's preset)"
        rank $kind-s$s
        mv $KEPT/$kind-s$s/rank_study.png images/rank_benchmark_block-$kind-s$s.png
    done
done
for kind in block joint; do
    echo "== the $kind supernets: agreement with each other and with FLOPs over all 21 planned subnets (no truth needed)"
    $PYTHON bench/supernet_agreement.py --scored $(seeds $kind)
    echo "== the $kind supernets over the subnets the benchmark holds: with each other, the benchmark, mean score"
    $PYTHON bench/supernet_agreement.py $(seeds $kind)
done
echo "== block-only minus joint supernet, paired by seed"
$PYTHON bench/ranker_difference.py --a $(seeds block) --b $(seeds joint)
echo "== the block benchmark's seeds"
$PYTHON bench/benchmark_reliability.py $BENCH
echo "== scoring noise: each block supernet scored again with another BN-recalibration draw (--seed 1) and with"
echo "   4096 BN images instead of 512; agreement with its first scoring, and the rescored ranking against the benchmark"
for s in 0 1 2; do
    for variant in draw1 bn4096; do
        if [ "${SCORE:-0}" = 1 ]; then
            case $variant in
                draw1) score runs/block-supernet-s$s block-s$s-$variant --update-bn-images 512 --seed 1 ;;
                bn4096) score runs/block-supernet-s$s block-s$s-$variant --update-bn-images 4096 ;;
            esac
        fi
        ranked=$(rank block-s$s-$variant)
        echo "$ranked" | grep "^Kendall" | sed "s|^|block-s$s-$variant: |"
        rm $KEPT/block-s$s-$variant/rank_study.png   # the first scoring's plot stands for it
        $PYTHON bench/supernet_agreement.py --scored $KEPT/block-s$s/pairs.json $KEPT/block-s$s-$variant/pairs.json
    done
done
echo "== longer training: block-only supernets trained 15 epochs instead of the preset's 5 (seeds 0, 1, 2; runs/block-supernet-long-sS:"
echo "   train_supernet.sh --fixed-channel-scale 1.0 --train-constraint-method none --seed S --num-epochs 15)"
for s in 0 1 2; do
    if [ "${SCORE:-0}" = 1 ]; then
        keep_scores runs/block-supernet-long-s$s block-long-s$s
    fi
    ranked=$(rank block-long-s$s)
    echo "$ranked" | sed "s|^|block-long-s$s: |"
    mv $KEPT/block-long-s$s/rank_study.png images/rank_benchmark_block-block-long-s$s.png
    $PYTHON bench/supernet_agreement.py --scored $KEPT/block-s$s/pairs.json $KEPT/block-long-s$s/pairs.json | grep -v "against FLOPs"   # the FLOPs lines follow, for all three
done
$PYTHON bench/supernet_agreement.py --scored $(seeds block-long)
echo "== along the 15-epoch training: its checkpoints after 5 and 10 epochs (epoch-0004, epoch-0009), same scoring"
for s in 0 1 2; do
    for e in 5 10; do
        if [ "${SCORE:-0}" = 1 ]; then
            score runs/block-supernet-long-s$s/epoch-$(printf %04d $((e - 1))).params block-long-s$s-ep$e --update-bn-images 512
        fi
        ranked=$(rank block-long-s$s-ep$e)
        echo "$ranked" | grep -E "^(Kendall|tau\(supernet\))" | sed "s|^|block-long-s$s after $e epochs: |"
        rm $KEPT/block-long-s$s-ep$e/rank_study.png
    done
done
echo "== median hold-out score of the 21 subnets (what the supernet has learned): 5 epochs; 5, 10, 15 of the 15-epoch runs"
for name in block-s0 block-s1 block-s2 \
    block-long-s0-ep5 block-long-s0-ep10 block-long-s0 block-long-s1-ep5 block-long-s1-ep10 block-long-s1 \
    block-long-s2-ep5 block-long-s2-ep10 block-long-s2; do
    median_score $name
done
echo "== 15 minus 5 epochs, paired by seed"
$PYTHON bench/ranker_difference.py --a $(seeds block-long) --b $(seeds block)
echo "== the same runs' checkpoints: after 5 minus after 15 epochs, paired by run (found after the fact: see README)"
$PYTHON bench/ranker_difference.py --a $(seeds block-long -ep5) --b $(seeds block-long)
echo "== the checkpoints after 5 of 15 epochs minus the 5-epoch supernets (LR not yet annealed against annealed)"
$PYTHON bench/ranker_difference.py --a $(seeds block-long -ep5) --b $(seeds block)
echo "== the checkpoints after 5 of 15 epochs: mean score against the benchmark"
$PYTHON bench/supernet_agreement.py $(seeds block-long -ep5) | grep "^mean score"
echo "== each 15-epoch run's mean score over its checkpoints after 5, 10, 15 epochs (a snapshot ensemble; looked at"
echo "   after the planned early-checkpoint test, bench/early_checkpoint_test.sh)"
for s in 0 1 2; do
    $PYTHON bench/supernet_agreement.py $(pairs block-long-s$s-ep5 block-long-s$s-ep10 block-long-s$s) \
        | grep "^mean score" | sed "s|^|block-long-s$s: |"
done
