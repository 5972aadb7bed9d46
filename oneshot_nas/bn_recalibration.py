"""BN recalibration: reset running statistics and set them to the exact mean/variance over fixed batches.

The original forwarded ~20,000 images with BN momentum so that the last batches dominated. Here every
batch is run in training mode with momentum 0 (so BN writes that batch's statistics), and the running
statistics are then set to the exact population mean and (biased) variance over all fed images:
mean = sum_b n_b mu_b / N,  var = sum_b n_b (var_b + mu_b^2) / N - mean^2.
Statistics that the path does not touch stay exactly as they were.
"""
from __future__ import annotations

from typing import Callable, Iterable, List, Sequence, Tuple

from mxnet import autograd, nd

from .nn import layers


def running_stat_params(net) -> List[Tuple[object, object]]:
    """(running_mean, running_var) Parameter pairs of every BN in ``net``."""
    params = net.collect_params()
    means = sorted(n for n in params.keys() if n.endswith("_running_mean"))
    return [(params[n], params[n[:-len("_running_mean")] + "_running_var"]) for n in means]


def recalibrate(net, forward: Callable, batches: Iterable[Sequence], ctx_list) -> int:
    """Feed ``batches`` (lists of (data, label)) through ``forward(x)`` and set exact BN statistics.

    ``forward`` must be imperative (a supernet path, or a non-hybridized subnet) so that the BN
    momentum override takes effect. Returns the number of images used.
    """
    pairs = running_stat_params(net)
    ctx = ctx_list[0]
    sums = [[nd.zeros(m.shape, ctx=ctx), nd.zeros(m.shape, ctx=ctx)] for m, _ in pairs]
    total = 0
    old_momentum = layers.BN_MOMENTUM
    layers.BN_MOMENTUM = 0.0
    try:
        for data, _ in batches:
            n = data.shape[0]
            with autograd.train_mode():
                forward(data.as_in_context(ctx)).wait_to_read()
            for (mean_p, var_p), acc in zip(pairs, sums):
                mu, var = mean_p.data(ctx), var_p.data(ctx)
                acc[0] += n * mu
                acc[1] += n * (var + mu * mu)
            total += n
    finally:
        layers.BN_MOMENTUM = old_momentum
    if total == 0:
        return 0
    for (mean_p, var_p), (s1, s2) in zip(pairs, sums):
        mean = s1 / total
        mean_p.set_data(mean)
        var_p.set_data(nd.maximum(s2 / total - mean * mean, 0))
    return total


def snapshot(net) -> List[Tuple[nd.NDArray, nd.NDArray]]:
    return [(m.data().copy(), v.data().copy()) for m, v in running_stat_params(net)]


def restore(net, saved) -> None:
    for (m, v), (sm, sv) in zip(running_stat_params(net), saved):
        m.set_data(sm)
        v.set_data(sv)
