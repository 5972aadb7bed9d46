"""BN recalibration: set running statistics to the exact mean/variance over fixed batches.

The original forwarded ~20,000 images with BN momentum so that the last batches dominated. Here each
batch is run imperatively in training mode (BN normalises with the batch statistics, as in training)
while every BN reports its batch mean and variance; the running statistics of the BNs on the path are
then set to the exact population values over all fed images:
mean = sum_b n_b mu_b / N,  var = sum_b n_b (var_b + mu_b^2) / N - mean^2.
Statistics that the path does not touch stay exactly as they were. (MXNet 1.9 updates running
statistics only in the backward pass, so this does not need, and does not do, a backward.)
"""
from __future__ import annotations

from typing import Callable, Iterable, List, Sequence

from mxnet import autograd, nd

from .nn import layers


def recalibrate(net, forward: Callable, batches: Iterable[Sequence], ctx_list) -> int:
    """Feed ``batches`` (lists of (data, label)) through ``forward(x)``, one batch per context in turn, and
    set exact BN statistics on the path, on every context. ``forward`` must run imperatively (a supernet
    path or a non-hybridized subnet) on the context of its input. Returns the number of images used."""
    home = ctx_list[0]
    sums, targets, total = None, None, 0
    for i, (data, _) in enumerate(batches):
        ctx = ctx_list[i % len(ctx_list)]
        recorded = _record_batch_stats(forward, data.as_in_context(ctx))
        if sums is None:
            if ctx != home:
                raise RuntimeError("the first batch must run on the first context")
            targets = [(m, v) for m, v, _, _ in recorded]
            sums = [[nd.zeros_like(mu), nd.zeros_like(mu)] for _, _, mu, _ in recorded]
        if len(recorded) != len(sums):
            raise RuntimeError("the forward passed through a different number of BN layers between batches")
        n = data.shape[0]
        for acc, (_, _, mu, var) in zip(sums, recorded):
            mu, var = mu.as_in_context(home), var.as_in_context(home)
            acc[0] += n * mu
            acc[1] += n * (var + mu * mu)
        total += n
    if not total:
        return 0
    for (running_mean, running_var), (s1, s2) in zip(targets, sums):
        mean = s1 / total
        running_mean[:] = mean  # in place: these are the parameters (or views of their active channels)
        running_var[:] = nd.maximum(s2 / total - mean * mean, 0)
    _broadcast_running_stats(net, home, ctx_list)
    return total


def _record_batch_stats(forward: Callable, data) -> list:
    """(running_mean, running_var, batch_mean, batch_var) of every BN the forward passes, in order."""
    with layers.recording_bn_stats() as recorded, autograd.train_mode():
        forward(data)
    return recorded


def running_stat_params(net) -> List:
    return [p for name, p in net.collect_params().items() if name.endswith(("_running_mean", "_running_var"))]


def _broadcast_running_stats(net, ctx, ctx_list) -> None:
    if len(ctx_list) > 1:
        for p in running_stat_params(net):
            p.set_data(p.data(ctx))


def snapshot(net) -> List[nd.NDArray]:
    return [p.data().copy() for p in running_stat_params(net)]


def restore(net, saved: List[nd.NDArray]) -> None:
    for p, value in zip(running_stat_params(net), saved):
        p.set_data(value)
