"""Fold every BN into the conv before it, walking the network's unit structure (not parameter order).

For a conv unit followed by BN (gamma, beta, running mean m, running var v, eps):
    scale = gamma / sqrt(v + eps);  W' = W * scale (per output channel);  b' = (b - m) * scale + beta
with b = 0 when the conv had no bias. The result is a Subnet built with ``fold_bn=True``: the same
units with ``bn=False, bias=True``, so it hybridizes and exports like any subnet, without BatchNorm.
"""
from __future__ import annotations

from mxnet import nd

from ..nn import build_subnet
from ..nn.layers import BN_EPS
from ..nn.subnet import Subnet, unit_blocks


def fold_unit(arrays: dict, unit) -> dict:
    """The folded weight and bias of one unit, from its arrays (keyed by the unit's parameter names)."""
    n = unit.name
    weight = arrays[f"{n}_weight"]
    bias = arrays.get(f"{n}_bias")
    if not unit.bn:
        return {f"{n}_weight": weight, **({f"{n}_bias": bias} if bias is not None else {})}
    scale = arrays[f"{n}_gamma"] / nd.sqrt(arrays[f"{n}_running_var"] + BN_EPS)
    shift = (bias if bias is not None else 0) - arrays[f"{n}_running_mean"]
    return {f"{n}_weight": weight * scale.reshape((-1, 1, 1, 1)), f"{n}_bias": shift * scale + arrays[f"{n}_beta"]}


def merge_bn(subnet: Subnet) -> Subnet:
    """A BN-free copy of ``subnet`` (initialised on the same contexts) computing the same function in
    inference."""
    if subnet.fold_bn:
        return subnet
    ctx = subnet.stem.first_conv_weight.list_ctx()
    folded = build_subnet(subnet.space, subnet.candidate, dropout=subnet.tail.dropout,
                          shuffle_by_conv=subnet.shuffle_by_conv, fold_bn=True)
    folded.initialize(ctx=ctx)
    for src, dst in zip(unit_blocks(subnet), unit_blocks(folded)):
        arrays = src.param_arrays(ctx[0])
        values = {}
        for unit in src.units:
            values.update(fold_unit(arrays, unit))
        if "shuffle_weight" in arrays:
            values["shuffle_weight"] = arrays["shuffle_weight"]
        if set(values) != set(dst._reg_params):
            raise RuntimeError(f"folding {src.name}: {sorted(set(values) ^ set(dst._reg_params))} do not match")
        for name, value in values.items():
            dst._reg_params[name].set_data(value)
    return folded


def run_config(params_path: str) -> dict:
    """The config.json of the `train` run whose params these are."""
    from ..run_folder import RunFolder
    return RunFolder.of_params(params_path).config(
        what=f"the params of a `train` run of a fixed architecture beside it ({params_path})")


def load_trained_subnet(params_path: str, ctx=None):
    """A Subnet with the weights of a `train` run (its config.json beside the params names the space and
    the architecture)."""
    import mxnet as mx

    from ..errors import OneShotError
    from ..space import Candidate, SearchSpace
    config = run_config(params_path)
    space = SearchSpace.from_dict(config["space"])
    candidate = config["candidate"]
    if not candidate:
        raise OneShotError(f"{params_path} holds a supernet; export a subnet trained with `train` "
                           "(e.g. scripts/train_oneshot.sh)")
    net = build_subnet(space, Candidate.parse(candidate))
    ctx = ctx or [mx.cpu()]
    try:
        net.load_parameters(params_path, ctx=ctx)
    except (AssertionError, mx.base.MXNetError, OSError, ValueError) as e:
        raise OneShotError(f"cannot load {params_path} ({str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__}); "
                           "the file is damaged or from another architecture") from None
    return net


def write_sidecar(prefix: str, config: dict, **extra) -> None:
    """``prefix-config.json``: the run config a saved model came from (network, architecture, data)."""
    import json

    from ..utils import atomic_write_text
    atomic_write_text(f"{prefix}-config.json", json.dumps({**config, **extra}, indent=1))


def export(net: Subnet, prefix: str, shuffle_by_conv: bool = False, fold: bool = True) -> str:
    """Write ``prefix-symbol.json`` and ``prefix-0000.params`` (folded BN, optional shuffle as a 1x1 conv)."""
    import os

    from mxnet import nd as _nd
    if shuffle_by_conv and not net.shuffle_by_conv:
        ctx = net.stem.first_conv_weight.list_ctx()
        by_conv = build_subnet(net.space, net.candidate, dropout=net.tail.dropout, shuffle_by_conv=True)
        by_conv.initialize(ctx=ctx)
        for src, dst in zip(unit_blocks(net), unit_blocks(by_conv)):
            for name, p in src._reg_params.items():
                dst._reg_params[name].set_data(p.data(ctx[0]))
        net = by_conv
    if fold:
        net = merge_bn(net)
    net.hybridize(static_alloc=True, static_shape=True)
    size = net.space.input_size
    net(_nd.zeros((1, 3, size, size), ctx=net.stem.first_conv_weight.list_ctx()[0]))
    os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
    net.export(prefix, epoch=0)
    return prefix
