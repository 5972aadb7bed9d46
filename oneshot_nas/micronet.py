"""MicroNet Challenge counting: one row per op of a subnet's graph, mults and adds apart, and the score.

Conventions (those of the original's published OneShot-S+ profile, which this reproduces):
* conv / FC with K = k*k*C_in/groups inputs per output: K mults and K - 1 adds per output (+1 add for
  its own bias); params = weights + bias. BN is folded into the conv before deployment, so it costs
  nothing here (the published profile did not count the folded bias either).
* ReLU: one mult (a compare) per element, quantizable. hard-sigmoid relu6(x + 3) / 6: one add and three
  mults per element (the add, the two-sided clip, the divide); hard-swish adds one mult (x * that);
  the SE scale one mult per element; all not quantizable.
* Channel shuffle as a sparse 1x1 conv: one mult per output element, no add, C*C/16 params (as published).
* Global average pooling: H*W - 1 adds and one divide per channel.
* Score = ops / 1170M + params / 6.9M (MobileNetV2-1.4). fp16: mults and params at 16 of 32 bits, adds
  kept at 32 (accumulators). int8: the quantizable ops (mults and adds) and params at 8 of 32 bits, the
  rest at 32. These two rules reproduce the published 0.640 and 0.280.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Dict, List

REFERENCE_OPS, REFERENCE_PARAMS = 1170e6, 6.9e6


@dataclasses.dataclass(frozen=True)
class OpRow:
    name: str
    op: str
    in_shape: tuple
    out_shape: tuple
    kernel: int
    params: float
    mults: float
    adds: float
    quantizable: bool


def _true(value) -> bool:
    return str(value) in ("True", "true", "1")


def profile_symbol(sym, data_shape) -> List[OpRow]:
    """Rows for every counted op of ``sym`` (a subnet exported with the shuffle as a 1x1 conv)."""
    from .costs.tables import graph_shapes
    nodes, args, shape_of = graph_shapes(sym, data_shape)

    rows = []
    for index, node in enumerate(nodes):
        op, attrs, name = node["op"], node.get("attrs", {}), node["name"]
        if op == "null" or not node["inputs"]:
            continue
        x_shape, y_shape = shape_of(node["inputs"][0]), shape_of([index, 0])
        elems = math.prod(y_shape[1:])
        if op in ("Convolution", "FullyConnected"):
            weight = nodes[node["inputs"][1][0]]["name"]
            w_shape = args[weight]
            kernel = w_shape[-1] if len(w_shape) == 4 else 1
            if weight.endswith("shuffle_weight"):
                rows.append(OpRow(name, "shuffle", x_shape, y_shape, 1, w_shape[0] ** 2 / 16, elems, 0, False))
                continue
            k = math.prod(w_shape[1:])
            bias = not _true(attrs.get("no_bias", "False"))
            cout = w_shape[0]
            rows.append(OpRow(name, op, x_shape, y_shape, kernel, math.prod(w_shape) + (cout if bias else 0),
                              k * elems, (k - 1) * elems + (elems if bias else 0), True))
        elif op == "relu" or (op == "Activation" and attrs.get("act_type") == "relu"):
            rows.append(OpRow(name, "relu", x_shape, y_shape, -1, 0, elems, 0, True))
        elif op == "hard_sigmoid":
            rows.append(OpRow(name, op, x_shape, y_shape, -1, 0, 3 * elems, elems, False))
        elif op in ("elemwise_mul", "_mul", "broadcast_mul"):
            rows.append(OpRow(name, "mul", x_shape, y_shape, -1, 0, elems, 0, False))
        elif op == "Pooling":
            channels = x_shape[1]
            window = math.prod(x_shape[2:]) if _true(attrs.get("global_pool")) else math.prod(eval(attrs["kernel"]))  # noqa: S307
            outputs = elems if not _true(attrs.get("global_pool")) else channels
            rows.append(OpRow(name, "pool", x_shape, y_shape, -1, 0, outputs, outputs * (window - 1), False))
    return rows


def totals(rows: List[OpRow]) -> Dict[str, float]:
    out = {}
    for key, keep in (("quant", lambda r: r.quantizable), ("no_quant", lambda r: not r.quantizable),
                      ("all", lambda r: True)):
        chosen = [r for r in rows if keep(r)]
        out.update({f"params_{key}": sum(r.params for r in chosen), f"mults_{key}": sum(r.mults for r in chosen),
                    f"adds_{key}": sum(r.adds for r in chosen)})
    return out


def scores(t: Dict[str, float]) -> Dict[str, float]:
    fp32 = (t["mults_all"] + t["adds_all"]) / REFERENCE_OPS + t["params_all"] / REFERENCE_PARAMS
    fp16 = (t["mults_all"] / 2 + t["adds_all"]) / REFERENCE_OPS + t["params_all"] / 2 / REFERENCE_PARAMS
    int8 = ((t["mults_quant"] + t["adds_quant"]) / 4 + t["mults_no_quant"] + t["adds_no_quant"]) / REFERENCE_OPS \
        + (t["params_quant"] / 4 + t["params_no_quant"]) / REFERENCE_PARAMS
    return {"score_fp32": fp32, "score_fp16": fp16, "score_int8": int8}


def subnet_profile(space, candidate) -> List[OpRow]:
    from .costs.tables import subnet_symbol
    sym = subnet_symbol(space, candidate, shuffle_by_conv=True)
    return profile_symbol(sym, (1, 3, space.input_size, space.input_size))


def summary(rows: List[OpRow]) -> dict:
    t = totals(rows)
    return {"params": t["params_all"], "mults": t["mults_all"], "adds": t["adds_all"], **scores(t),
            "params_quantizable": t["params_quant"], "mults_quantizable": t["mults_quant"],
            "adds_quantizable": t["adds_quant"]}


def markdown(rows: List[OpRow], title: str, command: str) -> str:
    lines = [f"## Detailed profiling: {title}", "", f"Generated by `{command}`.", "",
             "| op | type | quantizable | input | output | kernel | params (M) | mults (M) | adds (M) |",
             "| :-- | :-- | :-: | :-- | :-- | --: | --: | --: | --: |"]
    for r in rows:
        lines.append(f"| {r.name} | {r.op} | {r.quantizable} | {'x'.join(map(str, r.in_shape[1:]))} | "
                     f"{'x'.join(map(str, r.out_shape[1:]))} | {r.kernel} | {r.params / 1e6:.4f} | "
                     f"{r.mults / 1e6:.4f} | {r.adds / 1e6:.4f} |")
    t = totals(rows)
    for label, key in (("Total quantizable", "quant"), ("Total not quantizable", "no_quant"), ("Total", "all")):
        lines.append(f"| **{label}** | | | | | | {t['params_' + key] / 1e6:.3f} | {t['mults_' + key] / 1e6:.1f} | "
                     f"{t['adds_' + key] / 1e6:.1f} |")
    s = scores(t)
    lines += ["", f"MicroNet score (ops / 1170M + params / 6.9M): fp32 {s['score_fp32']:.4f}, "
                  f"fp16 {s['score_fp16']:.4f}, int8 {s['score_int8']:.4f}.", ""]
    return "\n".join(lines)
