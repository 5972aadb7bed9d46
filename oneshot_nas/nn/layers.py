"""Building pieces shared by supernet and subnet: conv units, activations, SE, channel shuffle.

A block is described by a list of :class:`ConvUnit` (conv -> [BN] -> [activation]). The same
``run_units`` code computes a fixed subnet (inside ``hybrid_forward``, weights at their own width) and
a supernet path (imperatively, weights sliced to the active width), so a path computes exactly what the
narrow subnet computes. Widths equal to ``MID`` are the searched channel count of the block.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
from typing import Dict, Iterable, Iterator, List, Optional, Union

import mxnet as mx
import numpy as np
from mxnet import autograd, nd

from . import depthwise

MID = "mid"
Width = Union[int, str]
BN_EPS = 1e-5
BN_MOMENTUM = 0.9  # MXNet convention: weight of the old running value


class PathSettings:
    """How imperative supernet paths compute, changed only for a scope through :func:`recording_bn_stats` and
    :func:`width_padding` (which restore the previous setting on exit, exceptions included)."""

    def __init__(self):
        # MXNet 1.9 updates BN running statistics in the BACKWARD pass, so a forward-only pass cannot
        # re-estimate them. While BN recalibration records, this is a list; imperative forwards append, per BN
        # in call order, (running_mean, running_var, batch_mean, batch_var), the running arrays being (views
        # of) the parameters.
        self.bn_recorder: Optional[List[tuple]] = None
        # oneDNN's fast CPU kernels (JIT convolutions, blocked-layout BatchNorm) want channels in blocks of 16
        # (AVX-512); other widths fall back to plain-layout BatchNorm (ncsp_bnorm, ~10x slower per call), GEMM
        # depthwise convolutions and layout conversions around each op (DNNL_VERBOSE=1). Computing a path
        # padded to a multiple of 16 made a supernet training step 1.16x faster at batch 32 x 224 px and 1.11x
        # at 128 x 32 despite the extra channels (bench/train_throughput.py --compare-padding).
        self.pad_width_on_cpu = True


PATHS = PathSettings()


@contextlib.contextmanager
def recording_bn_stats() -> Iterator[List[tuple]]:
    """Within the scope, imperative forwards append each BN's (running_mean, running_var, batch_mean,
    batch_var) to the yielded list (and compute at the exact width)."""
    previous, PATHS.bn_recorder = PATHS.bn_recorder, []
    try:
        yield PATHS.bn_recorder
    finally:
        PATHS.bn_recorder = previous


@contextlib.contextmanager
def width_padding(enabled: bool) -> Iterator[None]:
    """Within the scope, CPU float32 paths are (not) computed at widths padded to a multiple of 16."""
    previous, PATHS.pad_width_on_cpu = PATHS.pad_width_on_cpu, enabled
    try:
        yield
    finally:
        PATHS.pad_width_on_cpu = previous


@dataclasses.dataclass(frozen=True)
class ConvUnit:
    """conv (k x k, optional depthwise / bias) -> optional BN -> optional activation."""

    name: str
    in_channels: Width
    out_channels: Width
    kernel: int = 1
    stride: int = 1
    depthwise: bool = False
    bn: bool = True
    act: Optional[str] = None
    bias: bool = False
    small_init: bool = False  # N(0, 0.01) as the original for first / last / SE / classifier convs

    def widths(self, mid: int):
        resolve = lambda w: mid if w == MID else w  # noqa: E731
        return resolve(self.in_channels), resolve(self.out_channels)

    def param_shapes(self, mid: int) -> Dict[str, tuple]:
        cin, cout = self.widths(mid)
        shapes = {f"{self.name}_weight": (cout, 1 if self.depthwise else cin, self.kernel, self.kernel)}
        if self.bias:
            shapes[f"{self.name}_bias"] = (cout,)
        if self.bn:
            for suffix in ("gamma", "beta", "running_mean", "running_var"):
                shapes[f"{self.name}_{suffix}"] = (cout,)
        return shapes

    def sliced_axes(self) -> Dict[str, tuple]:
        """Which axes of each parameter follow the searched width (for weight slicing)."""
        axes = {}
        out_mid, in_mid = self.out_channels == MID, self.in_channels == MID and not self.depthwise
        weight_axes = tuple(a for a, is_mid in ((0, out_mid), (1, in_mid)) if is_mid)
        if weight_axes:
            axes[f"{self.name}_weight"] = weight_axes
        if out_mid:
            for name in self.param_shapes(1):
                if name != f"{self.name}_weight":
                    axes[name] = (0,)
        return axes

    def initializer(self, param_name: str, shape: tuple) -> mx.init.Initializer:
        if param_name.endswith("_weight"):
            # Official ShuffleNetV2/SPOS init: N(0, 1/fan_in_per_group), N(0, 0.01) for the small ones.
            return mx.init.Normal(0.01 if self.small_init else 1.0 / shape[1])
        if param_name.endswith("_beta"):
            return mx.init.Constant(1e-4)
        if param_name.endswith(("_gamma", "_running_var")):
            # running_var starts at 1 (the original used 0, which made a fresh net output NaN).
            return mx.init.One()
        return mx.init.Zero()


def activation(F, x, name: Optional[str]):
    if name is None:
        return x
    if name == "relu":
        return F.Activation(x, act_type="relu")  # not F.relu: MKL-DNN fuses only Activation into a conv
    # relu6(x + 3) / 6 as MXNet's one-op hard_sigmoid: as four ops it took a third of an SE network's
    # forward time on CPU (measured with MXNet's profiler)
    if name == "hard_swish":
        return x * F.hard_sigmoid(x, alpha=1.0 / 6.0, beta=0.5)
    if name == "hard_sigmoid":
        return F.hard_sigmoid(x, alpha=1.0 / 6.0, beta=0.5)
    raise ValueError(f"unknown activation {name!r}")


def run_unit(F, x, w: dict, unit: ConvUnit, mid: int):
    cin, cout = unit.widths(mid)
    n = unit.name
    if F is nd and unit.depthwise and not unit.bias and depthwise.applies(x):
        x = depthwise.depthwise_conv(x, w[f"{n}_weight"], unit.kernel, unit.stride, unit.kernel // 2)
    else:
        x = F.Convolution(x, w[f"{n}_weight"], w[f"{n}_bias"] if unit.bias else None,
                          kernel=(unit.kernel, unit.kernel), stride=(unit.stride, unit.stride),
                          pad=(unit.kernel // 2, unit.kernel // 2), num_filter=cout,
                          num_group=cout if unit.depthwise else 1, no_bias=not unit.bias, name=n)
    if unit.bn:
        args = (x, w[f"{n}_gamma"], w[f"{n}_beta"], w[f"{n}_running_mean"], w[f"{n}_running_var"])
        stats_target = w.get(f"{n}{STATS_TARGET}")
        recorder = PATHS.bn_recorder
        if F is nd and (recorder is not None or stats_target is not None):
            x, mean, inv_std = F.BatchNorm(*args, eps=BN_EPS, momentum=BN_MOMENTUM, fix_gamma=False,
                                           output_mean_var=True)
            training = autograd.is_training()
            with autograd.pause():
                var = 1.0 / (inv_std * inv_std) - BN_EPS
                if stats_target is None:
                    recorder.append((args[3], args[4], mean, var))
                elif training:
                    update_running_stats(stats_target, mean, var)
        else:
            x = F.BatchNorm(*args, eps=BN_EPS, momentum=BN_MOMENTUM, fix_gamma=False, name=f"{n}_bn")
    return activation(F, x, unit.act)


def run_units(F, x, w: dict, units: Iterable[ConvUnit], mid: int):
    for unit in units:
        x = run_unit(F, x, w, unit, mid)
    return x


def global_pool(F, x):
    return F.Pooling(x, kernel=(1, 1), global_pool=True, pool_type="avg")


def se_mid_channels(channels: int) -> int:
    """SE bottleneck width: C // 4 rounded up to a multiple of 8 (the original's make_divisible)."""
    return int(np.ceil(channels // 4 / 8) * 8)


def se_units(prefix: str, channels: int):
    mid = se_mid_channels(channels)
    return (ConvUnit(f"{prefix}_squeeze", channels, mid, bn=False, act="relu", bias=True, small_init=True),
            ConvUnit(f"{prefix}_excite", mid, channels, bn=False, act="hard_sigmoid", bias=True,
                     small_init=True))


def run_se(F, x, w: dict, units):
    return F.broadcast_mul(x, run_units(F, global_pool(F, x), w, units, 0))


def shuffle_permutation(channels: int) -> np.ndarray:
    """Output channel j of the reshape shuffle reads input channel perm[j]: 0, C/2, 1, C/2+1, ..."""
    return np.arange(channels).reshape(2, channels // 2).T.reshape(-1)


def shuffle_conv_weight(channels: int) -> np.ndarray:
    weight = np.zeros((channels, channels, 1, 1), dtype=np.float32)
    weight[np.arange(channels), shuffle_permutation(channels), 0, 0] = 1.0
    return weight


@mx.init.register
class ShufflePermutation(mx.init.Initializer):
    """Initialises the frozen shuffle-by-conv weight to the reshape shuffle's permutation."""

    def __init__(self, channels: int):
        super().__init__(channels=channels)
        self.channels = channels

    def _init_weight(self, _, arr):
        arr[:] = shuffle_conv_weight(self.channels)

    _init_default = _init_weight


def channel_shuffle_split(F, x, channels: int, shuffle_weight=None):
    """ShuffleNetV2 shuffle of 2 groups then split in halves: returns (projection half, main half).

    ``shuffle_weight`` given: the same permutation as a frozen 1x1 conv, for backends that dislike
    reshape/transpose (int8).
    """
    if shuffle_weight is not None:
        x = F.Convolution(x, shuffle_weight, kernel=(1, 1), num_filter=channels, no_bias=True,
                          name="shuffle")
    else:
        x = F.reshape(x, shape=(0, -4, 2, -1, -2))
        x = F.swapaxes(x, 1, 2)
        x = F.reshape(x, shape=(0, -3, -2))
    half = channels // 2
    return (F.slice_axis(x, axis=1, begin=0, end=half),
            F.slice_axis(x, axis=1, begin=half, end=channels))


def slice_params(arrays: Dict[str, nd.NDArray], axes: Dict[str, tuple], mid: int,
                 width: Optional[int] = None) -> Dict[str, nd.NDArray]:
    """The active-width view of a max-width block's parameters, computed at ``width`` >= ``mid`` channels.

    Trainable weights go through ``slice_axis`` (recorded by autograd, so gradients land in the active
    slice only); running statistics are axis-0 views that share memory, so BatchNorm's in-place update
    of the active channels reaches the supernet's stored statistics.

    ``width > mid`` (see :func:`compute_width`) adds ``width - mid`` channels that stay exactly zero: the
    BN scale, shift and bias of the searched channels are multiplied by a 0/1 mask, so each padded
    channel leaves its BN as 0, every later unit sees zeros there (activations, depthwise convs and the
    next BN keep them 0) and no gradient reaches a weight outside the active slice. In training their BN
    runs on scratch statistics and the active channels' running statistics are updated from the batch
    statistics (``<unit>_stats_target``, see :func:`run_unit`); in inference the active channels'
    running statistics are extended by scratch ones.
    """
    width = width or mid
    out = {}
    for name, arr in arrays.items():
        ax = axes.get(name, ())
        if not ax:
            out[name] = arr
        elif name.endswith(("_running_mean", "_running_var")):
            is_var = name.endswith("_running_var")
            if width == mid:
                out[name] = arr[0:mid]
            elif autograd.is_training():
                out[name] = _scratch_stats("train", arr.context, width, arr.dtype)[is_var]
                unit = name[:-len("_running_var" if is_var else "_running_mean")]
                out.setdefault(f"{unit}{STATS_TARGET}", [None, None])[is_var] = arr[0:mid]
            else:  # inference normalises with the running statistics: the active ones, then any (scaled by 0)
                tail = _scratch_stats("inference", arr.context, width - mid, arr.dtype)[is_var]
                out[name] = nd.concat(arr[0:mid], tail, dim=0)
        else:
            for a in ax:
                arr = nd.slice_axis(arr, axis=a, begin=0, end=width)
            out[name] = arr if width == mid or arr.ndim > 1 else arr * _channel_mask(arr.context, mid, width, arr.dtype)
    return out


STATS_TARGET = "_stats_target"
def compute_width(x, mid: int, max_mid: int) -> int:
    """The width an imperative supernet path computes a block at: ``mid``, or on CPU in float32 ``mid``
    rounded up to a multiple of 16 (capped at the stored width), its extra channels held at zero by
    :func:`slice_params`. Not while BN recalibration records the path's exact statistics."""
    if (not PATHS.pad_width_on_cpu or PATHS.bn_recorder is not None or x.context.device_type != "cpu"
            or x.dtype != np.float32):
        return mid
    return min(depthwise.blocked_channels(mid), max_mid)


def update_running_stats(target, mean, var) -> None:
    """MXNet's BatchNorm running-statistics update, on the active channels ``target`` = [mean, var] views.

    Done at the forward (MXNet does it in the backward): a supernet path always runs both.
    """
    for running, batch in zip(target, (mean, var)):
        running[:] = running * BN_MOMENTUM + batch[0:running.shape[0]] * (1 - BN_MOMENTUM)


@functools.lru_cache(maxsize=None)
def _channel_mask(ctx, mid: int, width: int, dtype):
    """1 for the ``mid`` active channels, 0 for the padding (one array per context, widths and dtype)."""
    mask = np.zeros(width, dtype=dtype)
    mask[:mid] = 1
    return nd.array(mask, ctx=ctx, dtype=dtype)


@functools.lru_cache(maxsize=None)
def _scratch_stats(use: str, ctx, width: int, dtype):
    """Running mean / var (0, 1) for padded channels: in training MXNet updates them but never reads
    them; in inference they are read but multiplied by a zero scale."""
    return nd.zeros(width, ctx=ctx, dtype=dtype), nd.ones(width, ctx=ctx, dtype=dtype)
