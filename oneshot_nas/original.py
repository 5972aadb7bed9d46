"""Parameter files of the original MXNet codebase, read into our networks.

The original saves Gluon structural names (``features.0.weight``, ``features.3.main_branch.0.weight``,
``features.3.proj_branch.1.gamma``, ``...channel_attention.1.bias``, ``output.0.weight``); ours are
``stem_first_conv_weight`` and so on. Both networks hold the same arrays in the same order except that
within a choice block the original lists the main branch before the projection branch, while ours builds
the projection first. So the mapping is by order, after moving each block's projection branch first, and
every pair is checked by shape and by kind (weight, bias, gamma, beta, running mean/var).
"""
from __future__ import annotations

import re
from typing import Dict, List, Tuple

from .errors import OneShotError

KINDS = ("running_mean", "running_var", "weight", "bias", "gamma", "beta")


def is_original(names) -> bool:
    """Whether parameter names are the original's structural ones."""
    names = list(names)
    return bool(names) and all(n.startswith(("features.", "output.")) for n in names)


def _kind(name: str) -> str:
    return next((k for k in KINDS if name.endswith(k)), "")


# A supernet's choice blocks, in block-gene order (0 = SNB-3 ... 3 = SXB-3), then a block's two branches
# in our build order.
PART_ORDER = {"block_sn_3x3": 0, "block_sn_5x5": 1, "block_sn_7x7": 2, "block_sx_3x3": 3,
              "proj_branch": 0, "main_branch": 1}


def _order_key(name: str) -> Tuple:
    """Structural position, with a block's projection branch before its main branch (our build order);
    the leaf name is left out so that a stable sort keeps the file's order inside one layer."""
    key = []
    for part in name.split(".")[:-1]:
        key.append((0, int(part)) if part.isdigit() else (1, PART_ORDER.get(part, 9)))
    return (name.startswith("output."), key)


def ordered(names: List[str]) -> List[str]:
    return sorted(names, key=_order_key)


def map_onto(arrays: Dict[str, object], params: List[Tuple[str, object]], source: str) -> Dict[str, object]:
    """{our parameter name: array} for ``params`` (our (name, Parameter) pairs in build order), or a clear
    error naming the first parameter that is missing or mis-shaped."""
    theirs = ordered(list(arrays))
    if len(theirs) != len(params):
        raise OneShotError(f"{source} holds {len(theirs)} arrays in the original's format but this network has "
                           f"{len(params)}: it is a checkpoint of another architecture or network config "
                           f"({describe(arrays)})")
    out = {}
    for (ours, param), name in zip(params, theirs):
        shape = tuple(arrays[name].shape)
        if _kind(ours) != _kind(name) or tuple(param.shape) != shape:
            raise OneShotError(f"{source}: the original's {name} {shape} does not fit our {ours} "
                               f"{tuple(param.shape)}; the file seems to hold {describe(arrays)}")
        out[ours] = arrays[name]
    return out


def describe(arrays: Dict[str, object]) -> str:
    """What an original parameter file seems to hold, read from its names and shapes."""
    names = list(arrays)
    layers = sorted({int(m.group(1)) for n in names for m in [re.match(r"features\.(\d+)\.(main|proj)_branch", n)] if m})
    se = any("channel_attention" in n for n in names)
    classes = arrays["output.0.weight"].shape[0] if "output.0.weight" in names else "?"
    supernet = any(re.match(r"features\.\d+\.block_", n) for n in names)
    return (f"an original {'supernet (ShuffleNas)' if supernet else 'fixed subnet (ShuffleNas_fixArch)'} with "
            f"{len(layers)} choice layers, {'SE' if se else 'no SE'}, {classes} classes, {len(names)} arrays")
