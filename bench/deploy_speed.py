"""Inference speed of deployed subnets on CPU, and fp32 vs int8 accuracy and speed of a trained one.

    OMP_NUM_THREADS=2 python bench/deploy_speed.py                       # OneShot-S+ at 224 px, random weights
    OMP_NUM_THREADS=2 python bench/deploy_speed.py --params runs/final/searched-seed0/best.params

Part 1 (always): images/s of OneShot-S+ (224 px, 1000 classes) at batch 1 and 32, as the original deployed
it (hybridized, BN in the graph) and as deployed here (BN folded, MKL-DNN graph fusion), and in int8
(naive calibration on random images: speed only).
Part 2 (--params): the trained subnet of a `train` run: top-1 on its validation data and images/s at
batch 1 and 32 for fp32 (BN folded, fused) and int8 (naive and entropy calibration on training images),
each model saved and measured by `python -m oneshot_nas evaluate` in a fresh process.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import mxnet as mx  # noqa: E402
from mxnet import nd  # noqa: E402

from oneshot_nas import splits, zoo  # noqa: E402
from oneshot_nas.deploy.merge_bn import load_trained_subnet, merge_bn, run_config, write_sidecar  # noqa: E402
from oneshot_nas.deploy.quantize import images_per_second, quantize  # noqa: E402
from oneshot_nas.nn import build_subnet  # noqa: E402
from oneshot_nas.space import SearchSpace  # noqa: E402


def fused(net, size):
    """The deployed fp32 graph: BN folded, then MKL-DNN's graph fusion (conv + bias + activation)."""
    folded = merge_bn(net)
    folded.optimize_for(nd.zeros((1, 3, size, size)), backend="MKLDNN", static_alloc=True, static_shape=True)
    return folded


def speeds(net, size, batches=(1, 32), repeats=20):
    return [images_per_second(net, (b, 3, size, size), repeats=repeats) for b in batches]


def part1(repeats):
    entry = zoo.get("OneShot-S+")
    space = SearchSpace(use_se=True, last_conv_after_pooling=True, input_size=224, num_classes=1000)
    net = build_subnet(space, entry.candidate)
    net.initialize()
    net.hybridize(static_alloc=True, static_shape=True)
    rows = [("hybridized, BN in the graph (the original's deployment)", speeds(net, 224, repeats=repeats))]
    rows.append(("BN folded + MKL-DNN fusion (ours, fp32)", speeds(fused(net, 224), 224, repeats=repeats)))
    calib = [(nd.random.uniform(-2, 2, (32, 3, 224, 224)), nd.zeros(32)) for _ in range(2)]
    rows.append(("int8, naive calibration (ours)", speeds(quantize(merge_bn(net), calib, "naive"), 224,
                                                          repeats=repeats)))
    print(f"# OneShot-S+ 224 px, 1000 classes, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    print(f"{'deployment':<58} {'batch 1 img/s':>13} {'batch 32 img/s':>14}")
    for name, (b1, b32) in rows:
        print(f"{name:<58} {b1:>13.1f} {b32:>14.1f}")


def part2(params, val_images, calib_batches):
    """Each model is saved (symbol + params + config, as `export` and `quantize` write them) and measured by
    `python -m oneshot_nas evaluate` in a process of its own: what a deployment runs, and untouched by the
    calibration (MXNet's entropy collector copies layer outputs in the main thread: see utils.to_nd)."""
    from oneshot_nas import data
    config = run_config(params)
    space = SearchSpace.from_dict(config["space"])
    train, _ = data.make_pipelines(splits.DataSource.from_dict(config), space, 32, config.get("seed", 0))
    calib = train.fixed_subset(calib_batches * 32, config.get("seed", 0) + 2, 32)
    net = load_trained_subnet(params)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as tmp:
        models = [("fp32, BN folded + MKL-DNN fusion", fused(net, space.input_size), "fp32")]
        for mode in ("naive", "entropy"):
            models.append((f"int8, {mode} calibration ({calib_batches} x 32 images)",
                           quantize(merge_bn(load_trained_subnet(params)), calib, mode), "int8"))
        results = []
        for i, (name, model, precision) in enumerate(models):
            prefix = os.path.join(tmp, f"model{i}")
            model.export(prefix, epoch=0)
            write_sidecar(prefix, config, precision=precision)
            command = [sys.executable, "-m", "oneshot_nas", "evaluate", prefix, "--batch-size", "32"]
            command += ["--val-images", str(val_images)] if val_images else []
            out = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": root})
            if out.returncode:
                sys.exit(f"evaluate failed for {name}:\n{out.stderr[-2000:]}")
            results.append((name, json.loads(out.stdout.strip().splitlines()[-1])))
    print(f"# {config['candidate']} ({space.describe()}) from {params}; validation on {results[0][1]['images']} "
          "images; each model saved and timed by `evaluate` in a process of its own")
    print(f"{'model':<48} {'top-1':>7} {'top-5':>7} {'batch 1 img/s':>13} {'batch 32 img/s':>14}")
    for name, r in results:
        print(f"{name:<48} {r['top1']:>7.4f} {r['top5']:>7.4f} {r['images_per_sec_batch1']:>13.1f} "
              f"{r['images_per_sec_batch32']:>14.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", default=None, help="params of a trained `train` run (part 2)")
    parser.add_argument("--repeats", type=int, default=20, help="timed batches per figure (part 1)")
    parser.add_argument("--val-images", type=int, default=None)
    parser.add_argument("--calib-batches", type=int, default=10)
    parser.add_argument("--skip-224", action="store_true", help="only part 2")
    args = parser.parse_args()
    mx.random.seed(0)
    np.random.seed(0)
    if not args.skip_224:
        part1(args.repeats)
    if args.params:
        part2(args.params, args.val_images, args.calib_batches)


if __name__ == "__main__":
    main()
