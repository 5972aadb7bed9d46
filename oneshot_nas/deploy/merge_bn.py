"""Fold every BN into the conv before it, walking the network's unit structure (not parameter order).

For a conv unit followed by BN (gamma, beta, running mean m, running var v, eps):
    scale = gamma / sqrt(v + eps);  W' = W * scale (per output channel);  b' = (b - m) * scale + beta
with b = 0 when the conv had no bias. The result is a Subnet built with ``fold_bn=True``: the same
units with ``bn=False, bias=True``, so it hybridizes and exports like any subnet, without BatchNorm.
"""
from __future__ import annotations

from typing import Optional

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


def run_config(params_path: str, given: Optional[dict] = None) -> dict:
    """What a subnet's parameter file is (``space``, ``candidate`` and the data options): ``given`` (from the
    command line) when there is one, else the config.json of the `train` run the file lies in. A file without
    either (e.g. a checkpoint of the original codebase, which records no architecture) is one clear error."""
    from ..errors import OneShotError
    from ..run_folder import RunFolder
    from ..weights import describe, read_arrays
    if given:
        return given
    folder = RunFolder.of_params(params_path)
    if not folder.has_config():
        raise OneShotError(f"{params_path} has no `train` run config.json beside it, so its architecture is unknown "
                           f"(it seems to hold {describe(read_arrays(params_path))}): name it (BLOCKS-CHANNELS, --model "
                           "NAME or --block-choices/--channel-choices) with its network flags (--use-se, "
                           "--last-conv-after-pooling, --num-classes N, ...)")
    return folder.config(what=f"the params of a `train` run of a fixed architecture beside it ({params_path})")


def load_trained_subnet(params_path: str, ctx=None, config: Optional[dict] = None):
    """A Subnet with the weights of ``params_path`` (ours or the original codebase's), its space and architecture
    from ``config`` (default: :func:`run_config`)."""
    import mxnet as mx

    from ..errors import OneShotError
    from ..space import Candidate, SearchSpace
    from ..weights import load_weights
    config = config or run_config(params_path)
    space = SearchSpace.from_dict(config["space"])
    candidate = config["candidate"]
    if not candidate:
        raise OneShotError(f"{params_path} holds a supernet; export a subnet trained with `train` "
                           "(e.g. scripts/train_oneshot.sh)")
    net = build_subnet(space, Candidate.parse(candidate))
    load_weights(net, params_path, ctx or [mx.cpu()])
    return net


def write_sidecar(prefix: str, config: dict, **extra) -> None:
    """``prefix-config.json``: the run config a saved model came from (network, architecture, data)."""
    import json

    from ..utils import atomic_write_text
    atomic_write_text(f"{prefix}-config.json", json.dumps({**config, **extra}, indent=1))


def read_sidecar(prefix: str) -> dict:
    """``prefix-config.json`` as :func:`write_sidecar` wrote it; one line when it is missing or damaged."""
    import json

    from ..errors import OneShotError
    path = f"{prefix}-config.json"
    try:
        with open(path) as f:
            config = json.load(f)
        config["space"]["input_size"]  # what a loaded model is used with: its input size and classes
    except (OSError, ValueError, KeyError, TypeError):
        raise OneShotError(f"{path} is missing or damaged: it is what `export`/`quantize` write beside a model and "
                           "tells its input size and classes; export the model again") from None
    return config


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
