"""Parameter files into networks: this project's (Gluon ``save_parameters``: ``stem.first_conv_weight``,
``features.3.main_dw_weight`` ...) or the original codebase's (``features.0.weight``, ``output.0.weight``: see
``original.py``), recognised by their names. A file that does not fit gets one clear error line naming the
first missing, extra or mis-shaped parameter and what the file seems to hold, never MXNet's traceback.
"""
from __future__ import annotations

import os
import re
from typing import Dict

import mxnet as mx

from . import original
from .errors import OneShotError

OURS, ORIGINAL = "oneshot-nas", "original"
HINT = ("the file comes from another architecture or network config (check --use-se, --last-conv-after-pooling, "
        "--channels-layout, --input-size, --first-conv-stride, --num-classes)")


def read_arrays(path: str) -> Dict[str, mx.nd.NDArray]:
    if not os.path.exists(path):
        raise OneShotError(f"parameter file {path} does not exist")
    try:
        arrays = mx.nd.load(path)
    except mx.base.MXNetError:
        raise OneShotError(f"{path} is not an MXNet parameter file (or it is damaged)") from None
    if not isinstance(arrays, dict) or not arrays:
        raise OneShotError(f"{path} holds no named parameters: it is not a network's parameter file")
    return arrays


def describe(arrays: Dict[str, mx.nd.NDArray]) -> str:
    """What a parameter file of either format seems to hold, read from its names and shapes."""
    if original.is_original(arrays):
        return original.describe(arrays)
    names = list(arrays)
    if any(n.startswith(("arg:", "aux:")) for n in names):
        return "an exported model's parameters (PREFIX-0000.params: use it with its PREFIX-symbol.json)"
    layers = {m.group(1) for n in names for m in [re.match(r"(?:features\.)?(\d+)\.", n)] if m}
    supernet = not any(n.startswith("features.") for n in names)
    out = arrays.get("tail.output_weight")
    classes = out.shape[0] if out is not None else "?"
    se = any("se_" in n for n in names)
    return (f"a oneshot-nas {'supernet' if supernet else 'subnet'} with {len(layers)} choice layers, "
            f"{'SE' if se else 'no SE'}, {classes} classes, {len(names)} arrays")


def load_weights(net, path: str, ctx=None) -> str:
    """Load ``path`` into ``net`` (its shapes known; initialised on ``ctx`` if it is not yet): our format (any Gluon
    network's ``save_parameters``) or, into our networks, the original's. Returns which."""
    arrays = read_arrays(path)
    if any(p._data is None and not p._deferred_init for p in net.collect_params().values()):
        net.initialize(ctx=ctx or [mx.cpu()])
    params = net._collect_params_with_prefix()
    ours = hasattr(net, "space")  # a ShuffleNas network of ours, not a GluonCV zoo one
    target = f"this network ({net.space.describe()})" if ours else f"this {type(net).__name__} network"

    def seems() -> str:  # what the file holds instead, for the error line (read only when one is raised)
        return (f"it seems to hold {describe(arrays)}; {HINT}" if ours else
                f"it holds {len(arrays)} arrays of another network; check the network name and --num-classes")

    # GluonCV's zoo networks save structural names too (features.0.weight): the original's format is read only
    # into our ShuffleNas networks, the only ones it can hold
    if ours and original.is_original(arrays):
        mapped = original.map_onto(arrays, list(net.collect_params().items()), path)
        for name, param in net.collect_params().items():
            param.set_data(mapped[name])
        return ORIGINAL
    for name, param in params.items():
        if name not in arrays:
            raise OneShotError(f"cannot load {path} into {target}: it lacks {name} {tuple(param.shape)}; {seems()}")
        if tuple(arrays[name].shape) != tuple(param.shape):
            raise OneShotError(f"cannot load {path} into {target}: its {name} is {tuple(arrays[name].shape)}, ours "
                               f"{tuple(param.shape)}; {seems()}")
    extra = [name for name in arrays if name not in params]
    if extra:
        raise OneShotError(f"cannot load {path} into {target}: it holds {extra[0]} {tuple(arrays[extra[0]].shape)}, "
                           f"which this network lacks; {seems()}")
    for name, param in params.items():
        param.set_data(arrays[name].astype(param.dtype, copy=False))
    return OURS
