"""Control for bench/supernet_learning.py, written with stock Gluon layers only (none of this package's network
code): a plain stack of LAYERS choice layers, each with four candidates (pw 1x1 -> dw kxk -> pw 1x1, k = 3, 5,
7, 3, each conv followed by BN), trained on Fashion-MNIST (32 px, stride-2 stem, batch 128, NAG lr 0.02) with a
fixed path or a random path per step. It shows that a random-path supernet without skip connections stays near
chance at this budget whatever code runs it, and that a residual connection per layer lifts it:

    OMP_NUM_THREADS=2 python bench/plain_supernet_control.py --path fixed|random [--residual] [--layers 12]
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import mxnet as mx  # noqa: E402
from mxnet import autograd, gluon  # noqa: E402
from mxnet.gluon import nn  # noqa: E402

from oneshot_nas import data, splits  # noqa: E402
from oneshot_nas.space import SearchSpace  # noqa: E402

WIDTH, KERNELS = 32, (3, 5, 7, 3)


def candidate(kernel: int) -> nn.HybridSequential:
    block = nn.HybridSequential()
    block.add(nn.Conv2D(WIDTH, 1, use_bias=False, in_channels=WIDTH), nn.BatchNorm(in_channels=WIDTH),
              nn.Activation("relu"),
              nn.Conv2D(WIDTH, kernel, padding=kernel // 2, groups=WIDTH, use_bias=False, in_channels=WIDTH),
              nn.BatchNorm(in_channels=WIDTH),
              nn.Conv2D(WIDTH, 1, use_bias=False, in_channels=WIDTH), nn.BatchNorm(in_channels=WIDTH),
              nn.Activation("relu"))
    return block


class ChoiceStack(gluon.Block):
    def __init__(self, num_layers: int, residual: bool):
        super().__init__()
        self.residual = residual
        self.stem = nn.HybridSequential()
        self.stem.add(nn.Conv2D(WIDTH, 3, strides=2, padding=1, use_bias=False, in_channels=3),
                      nn.BatchNorm(in_channels=WIDTH), nn.Activation("relu"))
        self.layers = []
        for i in range(num_layers):
            choices = [candidate(k) for k in KERNELS]
            for j, block in enumerate(choices):
                self.register_child(block, f"layer{i}_choice{j}")
            self.layers.append(choices)
        self.head = nn.HybridSequential()
        self.head.add(nn.GlobalAvgPool2D(), nn.Dense(10, in_units=WIDTH))

    def forward(self, x, path):
        x = self.stem(x)
        for choices, gene in zip(self.layers, path):
            y = choices[gene](x)
            x = x + y if self.residual else y
        return self.head(x)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", choices=("fixed", "random"), default="random")
    parser.add_argument("--residual", action="store_true")
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--lr", type=float, default=0.02)
    args = parser.parse_args()
    space = SearchSpace(input_size=32, num_classes=10, first_conv_stride=2)
    train, _ = data.make_pipelines(splits.DataSource(dataset="fashion-mnist", holdout=10000, val_split="holdout"),
                                   space, 128, 0)
    mx.random.seed(0)
    net = ChoiceStack(args.layers, args.residual)
    net.initialize(mx.init.Xavier(magnitude=2))
    trainer = gluon.Trainer(net.collect_params(), "nag", {"learning_rate": args.lr, "momentum": 0.9, "wd": 4e-5})
    loss_fn, rng, accuracies = gluon.loss.SoftmaxCrossEntropyLoss(), np.random.default_rng(0), []
    for step, (x, y) in enumerate(train.epoch_batches(0)):
        if step == args.steps:
            break
        path = [0] * args.layers if args.path == "fixed" else list(rng.integers(0, len(KERNELS), args.layers))
        with autograd.record():
            out = net(x, path)
            loss = loss_fn(out, y)
        loss.backward()
        trainer.step(x.shape[0], ignore_stale_grad=True)
        accuracies.append(float((out.argmax(axis=1) == y).mean().asscalar()))
        if (step + 1) % 50 == 0:
            print(f"path {args.path}{' residual' if args.residual else ''} steps {step - 48}-{step + 1}: mean batch "
                  f"accuracy {np.mean(accuracies[-50:]):.3f}", flush=True)


if __name__ == "__main__":
    main()
