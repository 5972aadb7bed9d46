"""Training throughput (images/s) of the supernet (a new random path every iteration) and of a fixed
subnet, at batch 32 x 224, batch 128 x 32 and batch 128 x 32 with the original's stride-2 first conv by
default (the network the original codebase trains at 32 px: its 128 x 32 speed was measured on that one).

    OMP_NUM_THREADS=2 python bench/train_throughput.py [--steps 10] [--warmup 10] [--use-se --last-conv-after-pooling]

ONESHOT_NAS_FAST_DEPTHWISE=0 measures the supernet without the C++ depthwise weight gradient;
--compare-padding alternates supernet steps with and without the CPU width padding (layers.compute_width)
in one process, so that the VM's noise hits both alike, and prints the median step times.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import mxnet as mx  # noqa: E402
from mxnet import autograd, gluon, nd  # noqa: E402

from oneshot_nas import zoo  # noqa: E402
from oneshot_nas.nn import Supernet, build_subnet, depthwise, layers  # noqa: E402
from oneshot_nas.space import SearchSpace  # noqa: E402


def training_step(net, space, batch, rng):
    """``step(candidate)``: one NAG training step of ``net`` on a fixed random batch (``candidate`` None
    for a fixed subnet)."""
    trainer = gluon.Trainer(net.collect_params(), "nag", {"learning_rate": 0.01, "momentum": 0.9, "wd": 4e-5})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    x = nd.random.uniform(-1, 1, (batch, 3, space.input_size, space.input_size))
    y = nd.array(rng.integers(0, space.num_classes, batch))

    def step(candidate):
        with autograd.record():
            loss = loss_fn(net(x) if candidate is None else net(x, candidate), y)
        loss.backward()
        trainer.step(batch, ignore_stale_grad=True)

    return step


def images_per_second(net, space, batch, steps, warmup, supernet, seed=0):
    rng = np.random.default_rng(seed)
    step = training_step(net, space, batch, rng)
    for i in range(warmup + steps):
        if i == warmup:
            nd.waitall()
            start = time.perf_counter()
        step(space.sample(rng) if supernet else None)
    nd.waitall()
    return batch * steps / (time.perf_counter() - start)


def padding_comparison(net, space, batch, steps):
    """Median supernet step times (s) without and with width padding, alternating on the same paths, and
    the median of the per-path ratios."""
    rng = np.random.default_rng(0)
    step = training_step(net, space, batch, rng)
    times = {True: [], False: []}
    for i in range(steps + 1):
        cand = space.sample(rng)
        for pad in (False, True):
            with layers.width_padding(pad):
                start = time.perf_counter()
                step(cand)
                nd.waitall()
            if i:  # the first round warms up
                times[pad].append(time.perf_counter() - start)
    plain, padded = np.array(times[False]), np.array(times[True])
    # the ratio per pair of steps (same path, seconds apart) cancels the VM's slower drifts
    return float(np.median(plain)), float(np.median(padded)), float(np.median(plain / padded))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10, help="timed iterations per setting")
    # The first supernet steps of a process are up to 25% slower: every new width a random path needs
    # grows MXNet's memory pool (fresh pages, page faults; 2.7 -> 3.9 GB over the first 8 steps at 32 x 224).
    # A training run spends nearly all its steps past that, so the timed steps start after it.
    parser.add_argument("--warmup", type=int, default=10, help="untimed iterations first")
    parser.add_argument("--settings", default="32x224,128x32,128x32s2",
                        help="comma list of BATCHxSIZE, with sN for a first-conv stride N (default: automatic)")
    parser.add_argument("--use-se", action="store_true")
    parser.add_argument("--last-conv-after-pooling", action="store_true")
    parser.add_argument("--compare-padding", action="store_true",
                        help="only the supernet, with and without the CPU width padding, steps alternated")
    parser.add_argument("--copy-in-main-thread", action="store_true",
                        help="first copy one 32 x 3 x 224 x 224 array with nd.array in this thread, to show what that "
                             "does to every later step (see oneshot_nas.utils.to_nd)")
    args = parser.parse_args()
    if args.copy_in_main_thread:
        nd.array(np.zeros((32, 3, 224, 224), np.float32)).wait_to_read()
    print(f"mxnet {mx.__version__}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
          f"{os.cpu_count()} cpus, {args.steps} timed steps after {args.warmup} warm-up steps, "
          f"fast depthwise backward {'on' if depthwise.load() else 'off'}")
    for setting in args.settings.split(","):
        batch, size = setting.split("x")
        size, _, stride = size.partition("s")
        batch, size = int(batch), int(size)
        space = SearchSpace(input_size=size, num_classes=1000 if size >= 64 else 10, use_se=args.use_se,
                            last_conv_after_pooling=args.last_conv_after_pooling, first_conv_stride=int(stride or 0))
        mx.random.seed(0)
        supernet = Supernet(space)
        supernet.initialize()
        if args.compare_padding:
            plain, padded, speedup = padding_comparison(supernet, space, batch, args.steps)
            print(f"batch {batch:4d} x {size:3d}px {space.describe():<75} supernet step, median of {args.steps}: "
                  f"unpadded {plain * 1e3:.0f} ms ({batch / plain:.1f} img/s), padded to 16 channels "
                  f"{padded * 1e3:.0f} ms ({batch / padded:.1f} img/s), median pairwise speed-up {speedup:.2f}x")
            continue
        sup = images_per_second(supernet, space, batch, args.steps, args.warmup, supernet=True)
        subnet = build_subnet(space, zoo.get("OneShot").candidate)
        subnet.initialize()
        subnet.hybridize(static_alloc=True, static_shape=True)
        sub = images_per_second(subnet, space, batch, args.steps, args.warmup, supernet=False)
        print(f"batch {batch:4d} x {size:3d}px {space.describe():<75} supernet (random path) {sup:7.1f} img/s   "
              f"OneShot subnet (hybrid) {sub:7.1f} img/s")


if __name__ == "__main__":
    main()
