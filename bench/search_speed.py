"""Seconds per candidate evaluation in the search, split into BN recalibration and validation, and
candidates per hour: ours (the supernet stays in memory; recalibrate a subnet holding its sliced weights,
then validate it hybridized) against the original's procedure (reload the supernet params from disk, update
BN statistics with momentum through the imperative supernet, validate through the imperative supernet).

    OMP_NUM_THREADS=2 python bench/search_speed.py [--input-size 224] [--bn-images 192] [--val-images 128]
        [--batch-size 32] [--candidates 3] [--no-baseline]

Weights and images are random: the work per image does not depend on them. The network is the SE +
MobileNetV3-tail supernet (OneShot-S+ style) with 1000 classes at 224 px, 10 at 32 px.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import mxnet as mx  # noqa: E402
from mxnet import autograd, nd  # noqa: E402

from oneshot_nas import bn_recalibration  # noqa: E402
from oneshot_nas.nn import Supernet, layers  # noqa: E402
from oneshot_nas.search.evaluator import Evaluator  # noqa: E402
from oneshot_nas.space import Candidate, SearchSpace  # noqa: E402
from oneshot_nas.utils import to_nd  # noqa: E402


def random_batches(count, batch, size, classes, seed):
    rs = np.random.RandomState(seed)
    out = []
    for start in range(0, count, batch):
        n = min(batch, count - start)
        # to_nd: nd.array would copy in this thread and slow every later step (see utils.to_nd)
        out.append((to_nd(rs.uniform(-2, 2, (n, 3, size, size)), np.float32),
                    to_nd(rs.randint(0, classes, n), np.float32)))
    return out


def original_procedure(net, params_file, cand, bn, val, momentum=0.9):
    """Reload params, momentum BN updates through the imperative supernet, imperative validation.
    The original ran every choice block at full width and masked the channels of the candidate, so its
    work per image is that of the full-width path with the same blocks: that is what runs here."""
    cand = Candidate(cand.blocks, (net.space.num_scales - 1,) * net.space.num_layers)
    tic = time.perf_counter()
    net.load_parameters(params_file)
    for x, _ in bn:
        with layers.recording_bn_stats() as recorded, autograd.train_mode():
            net(x, cand)
        for running_mean, running_var, mean, var in recorded:
            running_mean[:] = momentum * running_mean + (1 - momentum) * mean
            running_var[:] = momentum * running_var + (1 - momentum) * var
    nd.waitall()
    recal = time.perf_counter() - tic
    tic = time.perf_counter()
    correct = 0
    for x, y in val:
        correct += int((net(x, cand).argmax(axis=1) == y).sum().asscalar())
    return recal, time.perf_counter() - tic


YARDSTICK = (35.0, 17.0)  # the original's code on this machine class: 192 images recalibrated, 128 validated


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--bn-images", type=int, default=192)
    parser.add_argument("--val-images", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--candidates", type=int, default=3)
    parser.add_argument("--no-baseline", action="store_true", help="skip the original's procedure")
    args = parser.parse_args()
    classes = 1000 if args.input_size >= 64 else 10
    space = SearchSpace(use_se=True, last_conv_after_pooling=True, input_size=args.input_size, num_classes=classes)
    net = Supernet(space)
    net.initialize()
    rng = np.random.default_rng(0)
    net(nd.zeros((1, 3, args.input_size, args.input_size)), space.sample(rng))
    bn = random_batches(args.bn_images, args.batch_size, args.input_size, classes, 1)
    val = random_batches(args.val_images, args.batch_size, args.input_size, classes, 2)
    cands = [space.sample(rng) for _ in range(args.candidates)]
    print(f"# {space.describe()}, BN recalibration on {args.bn_images} images, validation on {args.val_images}, "
          f"batch {args.batch_size}, {args.candidates} candidates, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")

    evaluator = Evaluator(net, bn, val, [mx.cpu()])
    evaluator(space.sample(rng))  # first call pays one-off start-up costs
    ours = []
    for cand in cands:
        result = evaluator(cand)
        ours.append((result.recal_seconds, result.val_seconds))
    rows = [("ours (subnet with inherited weights)", ours)]
    if not args.no_baseline:
        with tempfile.TemporaryDirectory() as tmp:
            params = os.path.join(tmp, "supernet.params")
            net.save_parameters(params)
            saved = bn_recalibration.snapshot(net)
            original_procedure(net, params, cands[0], bn[:1], val[:1])  # warm-up
            rows.append(("original procedure (reload + momentum BN)",
                         [original_procedure(net, params, c, bn, val) for c in cands]))
            bn_recalibration.restore(net, saved)
    print(f"{'procedure':<44} {'recalibrate s':>13} {'validate s':>11} {'total s':>8} {'cand./hour':>10}")
    for name, times in rows:
        recal, valid = statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)
        print(f"{name:<44} {recal:>13.2f} {valid:>11.2f} {recal + valid:>8.2f} {3600 / (recal + valid):>10.0f}")
    if len(rows) == 2:
        ours_total = statistics.median(sum(t) for t in rows[0][1])
        theirs_total = statistics.median(sum(t) for t in rows[1][1])
        print(f"speed-up per candidate against the emulated original procedure: {theirs_total / ours_total:.1f}x")
    if (args.input_size, args.bn_images, args.val_images) == (224, 192, 128):
        ours_total = statistics.median(sum(t) for t in rows[0][1])
        print(f"speed-up against the original code's measured {YARDSTICK[0]:.0f} s + {YARDSTICK[1]:.0f} s "
              f"(issue yardstick, same image counts): {sum(YARDSTICK) / ours_total:.1f}x")


if __name__ == "__main__":
    main()
