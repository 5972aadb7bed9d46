"""How fast does the supernet learn when its paths are drawn in different ways? Trains a fresh supernet of
the plain 32 px stride-2 network on Fashion-MNIST (training part, batch 128, NAG) for --steps steps and prints
the mean batch accuracy of every 50 steps. The README's "A supernet that learns" figures come from it:

    OMP_NUM_THREADS=2 python bench/supernet_learning.py --mode fixed|blocks|channels|both [--lr 0.02]
    OMP_NUM_THREADS=2 python bench/supernet_learning.py --mode blocks --average-blocks-first 100 --steps 200
    OMP_NUM_THREADS=2 python bench/supernet_learning.py --mode blocks --shrink-every 100 --steps 500

    OMP_NUM_THREADS=2 python bench/supernet_learning.py --mode shufflenet-blocks|alternate --init shared
    OMP_NUM_THREADS=2 python bench/supernet_learning.py --mode blocks|both --fair [--lr 0.02]

fixed: OneShot's path every step; blocks: random blocks, OneShot's widths; channels: OneShot's blocks, random
widths; both: uniform random paths (SPOS); shufflenet-blocks: each layer's block drawn from the three ShuffleNet
blocks (SNB-3/5/7), OneShot's widths; alternate: SNB-3 in every layer, then SNB-5 in every layer, by turns.
--init shared starts SNB-5/7 of every layer as the same function as its SNB-3 (same pointwise weights, the 3x3
kernel centred in the 5x5/7x7 one): then only the training, not the initialisation, can make the blocks of a
layer disagree. --init msra draws the weights with MXNet's MSRAPrelu instead of the official N(0, 1/fan_in).
--average-blocks-first N averages the four blocks of every layer
for the first N steps (the supernet's use_all_blocks). --shrink-every N averages each layer's path block with
random companions, 3 of them for N steps, then 2, then 1, then trains single paths (the block warm-up of
`train --block-warm-up`, here counted in steps). --fair trains four paths per step on the same batch (FairNAS's
strict fairness): in every layer the four paths' blocks are a random permutation of the four choices (their
widths as --mode says, drawn per path), their gradients summed into one update (as FairNAS does; `train
--fair-blocks` averages them), so every block of every layer gets exactly one path's gradient per step; the
accuracy printed is the mean over the four paths.
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


MODES = ("fixed", "blocks", "channels", "both", "shufflenet-blocks", "alternate")


def path(mode: str, space: SearchSpace, rng, step: int) -> Candidate:
    one, drawn = zoo.get("OneShot").candidate, space.sample(rng)
    if mode == "shufflenet-blocks":
        return Candidate(tuple(int(b) for b in rng.integers(0, 3, space.num_layers)), one.channels)
    if mode == "alternate":
        return Candidate((step % 2,) * space.num_layers, one.channels)
    return {"fixed": one, "blocks": Candidate(drawn.blocks, one.channels),
            "channels": Candidate(one.blocks, drawn.channels), "both": drawn}[mode]


def fair_paths(space: SearchSpace, rng, mode: str, step: int) -> list:
    """Four paths whose blocks in every layer are a permutation of the four choices (FairNAS), each with the
    widths ``mode`` gives it."""
    order = np.array([rng.permutation(space.num_blocks) for _ in range(space.num_layers)])
    return [Candidate(tuple(int(b) for b in order[:, k]), path(mode, space, rng, step).channels)
            for k in range(space.num_blocks)]


def centred(kernel3: mx.nd.NDArray, size: int) -> mx.nd.NDArray:
    out = mx.nd.zeros(kernel3.shape[:2] + (size, size))
    offset = (size - 3) // 2
    out[:, :, offset:offset + 3, offset:offset + 3] = kernel3
    return out


def initialise(net: Supernet, how: str) -> None:
    if how == "msra":
        for p in net.collect_params().values():
            if p.name.endswith("_weight") and len(p.shape) > 1 and p.grad_req != "null":
                p.initialize(init=mx.init.MSRAPrelu(), force_reinit=True)
    if how == "shared":  # SNB-5 and SNB-7 of each layer compute exactly what its SNB-3 computes
        for layer in net.choice_layers:
            snb3 = {name: p.data() for name, p in layer.choices[0]._reg_params.items()}
            for block in layer.choices[1:3]:
                for name, p in block._reg_params.items():
                    if name.endswith("_weight"):
                        w = snb3[name]
                        p.set_data(centred(w, p.shape[-1]) if w.shape != p.shape else w.copy())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=MODES, default="both")
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--average-blocks-first", type=int, default=0, metavar="N")
    parser.add_argument("--shrink-every", type=int, default=0, metavar="N")
    parser.add_argument("--init", choices=("spos", "msra", "shared"), default="spos")
    parser.add_argument("--fair", action="store_true", help="four paths per step, blocks permuted per layer")
    args = parser.parse_args()
    space = SearchSpace(input_size=32, num_classes=10, first_conv_stride=2)
    source = splits.DataSource(dataset="fashion-mnist", holdout=10000, val_split="holdout")
    train, _ = data.make_pipelines(source, space, 128, 0)
    mx.random.seed(0)
    net = Supernet(space)
    net.initialize()
    initialise(net, args.init)
    trainer = gluon.Trainer(net.collect_params(), "nag", {"learning_rate": args.lr, "momentum": 0.9, "wd": 4e-5})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    rng, accuracies = np.random.default_rng(0), []
    for step, (x, y) in enumerate(train.epoch_batches(0)):
        if step == args.steps:
            break
        net.use_all_blocks = step < args.average_blocks_first
        cand = path(args.mode, space, rng, step)
        averaged = averaged_blocks(step // args.shrink_every, 3, 4) if args.shrink_every else 1
        companions = draw_companions(rng, cand, range(space.num_blocks), averaged) if averaged > 1 else None
        paths = fair_paths(space, rng, args.mode, step) if args.fair else [cand]
        with autograd.record():
            outs = [net(x, p, companions) for p in paths]
            loss = sum(loss_fn(out, y) for out in outs)
        loss.backward()
        trainer.step(x.shape[0], ignore_stale_grad=True)  # summed: each block gets one path's gradient
        accuracies.append(float(np.mean([(out.argmax(axis=1) == y).mean().asscalar() for out in outs])))
        if (step + 1) % 50 == 0:
            print(f"mode {args.mode} init {args.init} lr {args.lr:g} steps {step - 48}-{step + 1} ({averaged} block(s) averaged): "
                  f"mean batch accuracy "
                  f"{np.mean(accuracies[-50:]):.3f}", flush=True)


if __name__ == "__main__":
    main()
