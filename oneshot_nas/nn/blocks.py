"""ShuffleNet / ShuffleXception choice blocks, the stem and the tail, each with its cost formula beside it.

Cost convention (ShuffleNet / SPOS): FLOPs = multiply-accumulates of convolutions and fully connected
layers + one add per bias element + one op per pooled input element; BN and activations are free.
Params = trainable weights including BN gamma/beta, excluding running statistics and the frozen
shuffle-by-conv permutation. The formulas are written out by hand on purpose: they are checked against
the count measured on the exported symbol graph (tests/test_costs.py), which is what makes both
trustworthy.
"""
from __future__ import annotations

import dataclasses

import typing

from mxnet.gluon import HybridBlock

from ..space import FIRST_CONV_CHANNELS, LAST_CONV_CHANNELS, SHUFFLENETV2PLUS_TAIL_CHANNELS
from ..space import LayerSpec, SearchSpace
from .layers import (MID, ConvUnit, channel_shuffle_split, global_pool, run_se, run_units,
                     se_mid_channels, se_units, slice_params, ShufflePermutation)

KERNELS = (3, 5, 7, 3)  # per block gene: SNB-3, SNB-5, SNB-7, SXB-3
XCEPTION = 3


class Cost(typing.NamedTuple):
    flops: int
    params: int

    def __add__(self, other):  # noqa: D105 (element-wise, unlike tuple concatenation)
        return Cost(self.flops + other.flops, self.params + other.params)


ZERO = Cost(0, 0)


# ---------------------------------------------------------------------------------------------
# Cost formulas
# ---------------------------------------------------------------------------------------------
def conv_cost(cin, cout, kernel, out_res, depthwise=False, bn=True, bias=False) -> Cost:
    per_out = kernel * kernel * (1 if depthwise else cin)
    flops = cout * out_res * out_res * (per_out + (1 if bias else 0))
    params = cout * per_out + (cout if bias else 0) + (2 * cout if bn else 0)
    return Cost(flops, params)


def se_cost(channels: int, res: int) -> Cost:
    """GAP over the map, then two 1x1 convs with bias on the pooled vector (scaling is free)."""
    mid = se_mid_channels(channels)
    return (Cost(channels * res * res, 0)
            + conv_cost(channels, mid, 1, 1, bn=False, bias=True)
            + conv_cost(mid, channels, 1, 1, bn=False, bias=True))


def shufflenet_block_cost(layer: LayerSpec, kernel: int, mid: int, use_se: bool) -> Cost:
    ci, co, r_in, r = layer.main_in_channels, layer.main_out_channels, layer.in_resolution, layer.out_resolution
    cost = (conv_cost(ci, mid, 1, r_in)                         # pw, before the stride
            + conv_cost(mid, mid, kernel, r, depthwise=True)    # dw k x k, carries the stride
            + conv_cost(mid, co, 1, r))                         # pw-linear
    return cost + _projection_cost(layer, kernel) + (se_cost(co, r) if use_se else ZERO)


def shufflexception_block_cost(layer: LayerSpec, mid: int, use_se: bool) -> Cost:
    ci, co, r = layer.main_in_channels, layer.main_out_channels, layer.out_resolution
    cost = (conv_cost(ci, ci, 3, r, depthwise=True) + conv_cost(ci, mid, 1, r)
            + conv_cost(mid, mid, 3, r, depthwise=True) + conv_cost(mid, mid, 1, r)
            + conv_cost(mid, mid, 3, r, depthwise=True) + conv_cost(mid, co, 1, r))
    return cost + _projection_cost(layer, 3) + (se_cost(co, r) if use_se else ZERO)


def _projection_cost(layer: LayerSpec, kernel: int) -> Cost:
    if layer.stride == 1:
        return ZERO  # identity half after the channel shuffle: data movement only
    c, r = layer.in_channels, layer.out_resolution
    return conv_cost(c, c, kernel, r, depthwise=True) + conv_cost(c, c, 1, r)


def block_cost(space: SearchSpace, layer: LayerSpec, block_gene: int, channel_gene: int) -> Cost:
    mid = space.mid_channels(layer, channel_gene)
    use_se = space.stage_uses_se(layer.stage)
    if block_gene == XCEPTION:
        return shufflexception_block_cost(layer, mid, use_se)
    return shufflenet_block_cost(layer, KERNELS[block_gene], mid, use_se)


def stem_cost(space: SearchSpace) -> Cost:
    return conv_cost(3, FIRST_CONV_CHANNELS, 3, space.input_size // space.stem_stride)


def tail_cost(space: SearchSpace) -> Cost:
    c, r = space.stage_widths[-1], space.input_size // space.stem_stride // 16
    last, kind = LAST_CONV_CHANNELS, space.tail_kind
    if kind == "plain":
        cost = conv_cost(c, last, 1, r) + Cost(last * r * r, 0)
    elif kind == "pool_conv":
        cost = Cost(c * r * r, 0) + conv_cost(c, last, 1, 1, bn=False, bias=True)
    else:
        wide = SHUFFLENETV2PLUS_TAIL_CHANNELS
        cost = (conv_cost(c, wide, 1, r) + Cost(wide * r * r, 0) + se_cost(wide, 1)
                + conv_cost(wide, last, 1, 1, bn=False, bias=True))
    return cost + conv_cost(last, space.num_classes, 1, 1, bn=False, bias=True)


# ---------------------------------------------------------------------------------------------
# Unit lists (the structure the networks are built from)
# ---------------------------------------------------------------------------------------------
def main_units(layer: LayerSpec, block_gene: int, act: str):
    ci, co, s = layer.main_in_channels, layer.main_out_channels, layer.stride
    if block_gene == XCEPTION:
        return (ConvUnit("dw1", ci, ci, 3, s, depthwise=True),
                ConvUnit("pw1", ci, MID, act=act),
                ConvUnit("dw2", MID, MID, 3, depthwise=True),
                ConvUnit("pw2", MID, MID, act=act),
                ConvUnit("dw3", MID, MID, 3, depthwise=True),
                ConvUnit("pw3", MID, co, act=act))
    k = KERNELS[block_gene]
    return (ConvUnit("pw1", ci, MID, act=act),
            ConvUnit("dw", MID, MID, k, s, depthwise=True),
            ConvUnit("pw2", MID, co, act=act))


def projection_units(layer: LayerSpec, block_gene: int, act: str):
    if layer.stride == 1:
        return ()
    c, k = layer.in_channels, KERNELS[block_gene]
    return (ConvUnit("proj_dw", c, c, k, 2, depthwise=True),
            ConvUnit("proj_pw", c, c, act=act))


class UnitsBlock(HybridBlock):
    """A HybridBlock whose parameters are declared by ConvUnits and registered on itself.

    Registering them here (not on child blocks) lets one function compute the block from a dict of
    arrays, whether those are the block's own weights or a slice of a wider block's weights.
    """

    def __init__(self, fold_bn: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.sliced_axes = {}
        self.units = []
        self.fold_bn = fold_bn

    def _deploy(self, units):
        """The units as built: with ``fold_bn`` every BN is folded into its conv (a bias instead)."""
        if not self.fold_bn:
            return tuple(units)
        return tuple(dataclasses.replace(u, bn=False, bias=True) if u.bn else u for u in units)

    def _register(self, units, mid: int):
        for unit in units:
            self.units.append(unit)
            self.sliced_axes.update(unit.sliced_axes())
            for name, shape in unit.param_shapes(mid).items():
                running = name.endswith(("_running_mean", "_running_var"))
                param = self.params.get(name, shape=shape, init=unit.initializer(name, shape),
                                        grad_req="null" if running else "write", differentiable=not running)
                setattr(self, name, param)

    def param_arrays(self, ctx) -> dict:
        return {name: p.data(ctx) for name, p in self._reg_params.items()}


class ShuffleBlock(UnitsBlock):
    """One ShuffleNetV2-style block (SNB-3/5/7 or SXB-3) with a fixed mid width ``mid``.

    Inside the supernet it is built at the maximum width and run through :meth:`compute` with its
    weights sliced to the active width (:meth:`sliced_params`).
    """

    def __init__(self, layer: LayerSpec, block_gene: int, mid: int, act: str, use_se: bool,
                 shuffle_by_conv: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.layer, self.block_gene, self.mid = layer, block_gene, mid
        self.main = self._deploy(main_units(layer, block_gene, act))
        self.proj = self._deploy(projection_units(layer, block_gene, act))
        self.se = se_units("se", layer.main_out_channels) if use_se else ()
        with self.name_scope():
            self._register(self.proj + self.main + self.se, mid)
            if shuffle_by_conv and layer.stride == 1:
                c = layer.in_channels
                self.shuffle_weight = self.params.get(
                    "shuffle_weight", shape=(c, c, 1, 1), grad_req="null", differentiable=False,
                    init=ShufflePermutation(c))

    def compute(self, F, x, w: dict, mid: int):
        if self.layer.stride == 1:
            proj, x = channel_shuffle_split(F, x, self.layer.in_channels, w.get("shuffle_weight"))
        else:
            proj = run_units(F, x, w, self.proj, mid)
        y = run_units(F, x, w, self.main, mid)
        if self.se:
            y = run_se(F, y, w, self.se)
        return F.concat(proj, y, dim=1)

    def hybrid_forward(self, F, x, **w):
        return self.compute(F, x, w, self.mid)

    def sliced_params(self, ctx, mid: int, width: typing.Optional[int] = None) -> dict:
        return slice_params(self.param_arrays(ctx), self.sliced_axes, mid, width)


class Stem(UnitsBlock):
    def __init__(self, space: SearchSpace, **kwargs):
        super().__init__(**kwargs)
        act = "hard_swish" if space.use_se else "relu"
        with self.name_scope():
            self._register(self._deploy((ConvUnit("first_conv", 3, FIRST_CONV_CHANNELS, 3, space.stem_stride,
                                                  act=act, small_init=True),)), 0)

    def hybrid_forward(self, F, x, **w):
        return run_units(F, x, w, self.units, 0)


class Tail(UnitsBlock):
    """Last conv block (plain / MobileNetV3 pool-conv / ShuffleNetV2+), dropout and 1x1-conv classifier."""

    def __init__(self, space: SearchSpace, dropout: float, **kwargs):
        super().__init__(**kwargs)
        self.kind, self.dropout = space.tail_kind, dropout
        act = "hard_swish" if space.use_se else "relu"
        c, last = space.stage_widths[-1], LAST_CONV_CHANNELS
        self.tail_se = ()
        if self.kind == "plain":
            self.before_pool = self._deploy((ConvUnit("last_conv", c, last, act=act),))
            self.after_pool = ()
        elif self.kind == "pool_conv":
            self.before_pool = ()
            self.after_pool = (ConvUnit("last_conv", c, last, bn=False, act=act, bias=True),)
        else:
            wide = SHUFFLENETV2PLUS_TAIL_CHANNELS
            self.before_pool = self._deploy((ConvUnit("last_conv", c, wide, act=act),))
            self.tail_se = se_units("last_se", wide)
            self.after_pool = (ConvUnit("fc_conv", wide, last, bn=False, act=act, bias=True),)
        self.classifier = (ConvUnit("output", last, space.num_classes, bn=False, bias=True, small_init=True),)
        with self.name_scope():
            self._register(self.before_pool + self.tail_se + self.after_pool + self.classifier, 0)

    def hybrid_forward(self, F, x, **w):
        x = global_pool(F, run_units(F, x, w, self.before_pool, 0))
        if self.tail_se:
            x = run_se(F, x, w, self.tail_se)
        x = run_units(F, x, w, self.after_pool, 0)
        if self.dropout > 0:
            x = F.Dropout(x, p=self.dropout)
        return F.flatten(run_units(F, x, w, self.classifier, 0))


def default_dropout(space: SearchSpace) -> float:
    """ShuffleNetV2+ dropout with SE (0.2), else 0.1, as the original."""
    return 0.2 if space.use_se else 0.1
