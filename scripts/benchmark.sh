#!/bin/sh
# The stand-alone benchmark of issue 13: 20 subnets drawn uniformly under the search's constraint (FLOPs <= 7M,
# about OneShot's 6.68M on the 32 px stride-2 network) plus OneShot, OneShot-S+ and SPOS-block-only with the
# same network flags, each trained from scratch for seeds 0 and 1 with the recipe of train_oneshot.sh
# (configs/oneshot_fashion-mnist.json: 2 epochs over the 50,000 training images left after the 10,000-image
# hold-out) and tested on all 10,000 test images. Hours on 2 cores: it resumes when run again (kill it at any time). Extra arguments are passed on;
# e.g. two one-thread processes sharing the runs: OMP_NUM_THREADS=1 sh scripts/benchmark.sh & started twice (each
# skips the runs the other is training; --shard K/N splits the subnets beforehand instead). The ground truth of a
# block search (blocks drawn, every channel at scale 1.0): OUT=benchmarks/fashion-mnist-block.jsonl
# SAVE_DIR=runs/benchmark-block sh scripts/benchmark.sh --search-space block --zoo SPOS-block-only
. "$(dirname "$0")/common.sh"
OUT=${OUT:-benchmarks/fashion-mnist.jsonl}
exec $PYTHON -m oneshot_nas benchmark --config configs/oneshot_fashion-mnist.json --max-flops 7 --flop-max -1 --out "$OUT" \
    --save-dir "${SAVE_DIR:-$SAVE_ROOT/benchmark}" --num-subnets 20 --seeds 0,1 "$@"
