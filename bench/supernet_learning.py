"""How fast does the supernet learn when its paths are drawn in different ways? Trains a fresh supernet of
the plain 32 px stride-2 network on Fashion-MNIST (training part, batch 128, NAG) for --steps steps and prints
the mean batch accuracy of every 50 steps. The README's "Not yet good (issue 13)" figures come from it:

    OMP_NUM_THREADS=2 python bench/supernet_learning.py --mode fixed|blocks|channels|both [--lr 0.02]
    OMP_NUM_THREADS=2 python bench/supernet_learning.py --mode blocks --average-blocks-first 100 --steps 200
    OMP_NUM_THREADS=2 python bench/supernet_learning.py --mode blocks --shrink-every 100 --steps 500

fixed: OneShot's path every step; blocks: random blocks, OneShot's widths; channels: OneShot's blocks, random
widths; both: uniform random paths (SPOS). --average-blocks-first N averages the four blocks of every layer
for the first N steps (the supernet's use_all_blocks). --shrink-every N averages each layer's path block with
random companions, 3 of them for N steps, then 2, then 1, then trains single paths (the block warm-up of
`train --block-warm-up`, here counted in steps).
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import mxnet as mx  # noqa: E402
from mxnet import autograd, gluon  # noqa: E402

from oneshot_nas import data, splits, zoo  # noqa: E402
from oneshot_nas.sampling import draw_companions  # noqa: E402
from oneshot_nas.schedules import averaged_blocks  # noqa: E402
from oneshot_nas.nn import Supernet  # noqa: E402
from oneshot_nas.space import Candidate, SearchSpace  # noqa: E402


def path(mode: str, space: SearchSpace, rng) -> Candidate:
    one, drawn = zoo.get("OneShot").candidate, space.sample(rng)
    return {"fixed": one, "blocks": Candidate(drawn.blocks, one.channels),
            "channels": Candidate(one.blocks, drawn.channels), "both": drawn}[mode]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("fixed", "blocks", "channels", "both"), default="both")
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--average-blocks-first", type=int, default=0, metavar="N")
    parser.add_argument("--shrink-every", type=int, default=0, metavar="N")
    args = parser.parse_args()
    space = SearchSpace(input_size=32, num_classes=10, first_conv_stride=2)
    source = splits.DataSource(dataset="fashion-mnist", holdout=10000, val_split="holdout")
    train, _ = data.make_pipelines(source, space, 128, 0)
    mx.random.seed(0)
    net = Supernet(space)
    net.initialize()
    trainer = gluon.Trainer(net.collect_params(), "nag", {"learning_rate": args.lr, "momentum": 0.9, "wd": 4e-5})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    rng, accuracies = np.random.default_rng(0), []
    for step, (x, y) in enumerate(train.epoch_batches(0)):
        if step == args.steps:
            break
        net.use_all_blocks = step < args.average_blocks_first
        cand = path(args.mode, space, rng)
        averaged = averaged_blocks(step // args.shrink_every, 3, 4) if args.shrink_every else 1
        companions = draw_companions(rng, cand, range(space.num_blocks), averaged) if averaged > 1 else None
        with autograd.record():
            out = net(x, cand, companions)
            loss = loss_fn(out, y)
        loss.backward()
        trainer.step(x.shape[0], ignore_stale_grad=True)
        accuracies.append(float((out.argmax(axis=1) == y).mean().asscalar()))
        if (step + 1) % 50 == 0:
            print(f"mode {args.mode} lr {args.lr:g} steps {step - 48}-{step + 1} ({averaged} block(s) averaged): "
                  f"mean batch accuracy "
                  f"{np.mean(accuracies[-50:]):.3f}", flush=True)


if __name__ == "__main__":
    main()
