"""FLOPs and params three ways: formula, measured on the symbol graph, and the lookup table.

All three must agree exactly for every candidate (tests/test_costs.py); the table is the fast
one that samplers and searchers use, the symbol count is the ground truth.
"""
from __future__ import annotations

import datetime
import json
import math
from typing import Dict, Iterable, Optional

import numpy as np

from ..errors import OneShotError
from ..nn.blocks import Cost, block_cost, stem_cost, tail_cost
from ..space import CHANNEL_LAYOUTS, FIRST_CONV_CHANNELS, LAST_CONV_CHANNELS, Candidate, SearchSpace
from ..utils import atomic_write_text

# name -> (FLOPs, params) of the models a candidate is normalised against (the original's
# --comparison-model names, plus short aliases).
COMPARISON_MODELS = {
    "SinglePathOneShot": (328e6, 3.4e6),
    "MobileNetV3_large": (217e6, 5.4e6),
    "MobileNetV2_1.4": (585e6, 6.9e6),
    "ShuffleNetV2+_medium": (222e6, 5.6e6),
}
COMPARISON_ALIASES = {"OneShot": "SinglePathOneShot"}
DEFAULT_COMPARISON = "SinglePathOneShot"


def comparison_reference(name: str = DEFAULT_COMPARISON):
    name = COMPARISON_ALIASES.get(name, name)
    if name not in COMPARISON_MODELS:
        raise OneShotError(f"unknown comparison model {name!r}; choose one of "
                           f"{', '.join(list(COMPARISON_MODELS) + list(COMPARISON_ALIASES))}")
    return COMPARISON_MODELS[name]


def normalized_score(cost: Cost, comparison: str = DEFAULT_COMPARISON) -> float:
    """F/F_ref + P/P_ref: 2.0 for a model exactly as costly as the reference."""
    ref_flops, ref_params = comparison_reference(comparison)
    return cost.flops / ref_flops + cost.params / ref_params


# ---------------------------------------------------------------------------------------------
# 1. formula
# ---------------------------------------------------------------------------------------------
def formula_cost(space: SearchSpace, candidate: Candidate) -> Cost:
    space.validate(candidate)
    total = stem_cost(space) + tail_cost(space)
    for layer, b, c in zip(space.layers(), candidate.blocks, candidate.channels):
        total = total + block_cost(space, layer, b, c)
    return total


# ---------------------------------------------------------------------------------------------
# 2. measured on the symbol graph
# ---------------------------------------------------------------------------------------------
def _is_frozen_shuffle(name: str) -> bool:
    # The shuffle-by-conv permutation is data movement, not computation, and is not trained.
    return name.endswith("shuffle_weight")


def graph_shapes(sym, data_shape):
    """(nodes of the symbol's JSON graph, {argument: shape}, shape_of(entry)) with inferred shapes;
    ``shape_of([node_index, output_index])`` is the shape of that node's output."""
    internals = sym.get_internals()
    _, out_shapes, _ = internals.infer_shape(data=tuple(data_shape))
    shapes = dict(zip(internals.list_outputs(), out_shapes))
    arg_shapes, _, _ = sym.infer_shape(data=tuple(data_shape))
    args = dict(zip(sym.list_arguments(), arg_shapes))
    nodes = json.loads(sym.tojson())["nodes"]

    def shape_of(entry):
        node = nodes[entry[0]]
        if node["op"] == "null":
            return tuple(shapes[node["name"]])
        return tuple(shapes.get(f"{node['name']}_output", shapes.get(f"{node['name']}_output{entry[1]}")))

    return nodes, args, shape_of


def measure_symbol(sym, data_shape, count_bn: bool = True) -> Cost:
    """Count FLOPs and params of an MXNet symbol by walking its graph with inferred shapes.

    ``count_bn=False`` leaves BN gamma/beta out of params: the official PyTorch SPOS release counted
    that way (its block-only model's 3.5M), while the MXNet codebase counted them (3.4M/3.7M/3.5M).
    """
    nodes, args, out_shape = graph_shapes(sym, data_shape)
    flops = 0
    for index, node in enumerate(nodes):
        op, attrs = node["op"], node.get("attrs", {})
        if op in ("Convolution", "FullyConnected"):
            weight = nodes[node["inputs"][1][0]]["name"]
            if _is_frozen_shuffle(weight):
                continue
            out_elems = math.prod(out_shape([index, 0]))
            w_shape = args[weight]
            macs_per_out = math.prod(w_shape[1:])
            has_bias = attrs.get("no_bias", "False") not in ("True", "true", "1")
            flops += out_elems * (macs_per_out + (1 if has_bias else 0))
        elif op == "Pooling":
            in_elems = math.prod(out_shape(node["inputs"][0]))
            if attrs.get("global_pool", "False") in ("True", "true", "1"):
                flops += in_elems
            else:
                kernel = eval(attrs["kernel"])  # noqa: S307 (a tuple literal written by MXNet)
                flops += math.prod(out_shape([index, 0])) * math.prod(kernel)
    params = sum(math.prod(shape) for name, shape in args.items()
                 if name != "data" and not _is_frozen_shuffle(name)
                 and (count_bn or not name.endswith(("_gamma", "_beta"))))
    return Cost(int(flops), int(params))


def subnet_symbol(space: SearchSpace, candidate: Candidate, shuffle_by_conv: bool = False):
    import mxnet as mx

    from ..nn import build_subnet
    net = build_subnet(space, candidate, shuffle_by_conv=shuffle_by_conv)
    net.hybridize()
    return net(mx.sym.var("data"))


def symbol_cost(space: SearchSpace, candidate: Candidate, count_bn: bool = True) -> Cost:
    return measure_symbol(subnet_symbol(space, candidate), (1, 3, space.input_size, space.input_size),
                          count_bn=count_bn)


# ---------------------------------------------------------------------------------------------
# 3. lookup table
# ---------------------------------------------------------------------------------------------
class LookupTable:
    """Stem + tail + per (layer, block gene, channel gene) cost, tied to one search space."""

    FORMAT = 1

    def __init__(self, space: SearchSpace, stem: Cost, tail: Cost, entries, meta: Optional[dict] = None):
        self.space, self.stem, self.tail, self.entries = space, Cost(*stem), Cost(*tail), entries
        self.meta = meta or {}

    @classmethod
    def build(cls, space: SearchSpace, method: str = "formula", progress: bool = False) -> "LookupTable":
        layers = space.layers()
        cells = [(layer, b, c) for layer in layers for b in range(space.num_blocks)
                 for c in range(space.num_scales)]
        if progress:
            from tqdm import tqdm
            cells = tqdm(cells, desc=f"lookup table ({method})", unit="entry")
        entries = [[[None] * space.num_scales for _ in range(space.num_blocks)] for _ in layers]
        measure = _block_symbol_cost if method == "symbol" else lambda s, lay, b, c: block_cost(s, lay, b, c)
        if method not in ("formula", "symbol"):
            raise OneShotError(f"unknown lookup-table method {method!r}; choose formula or symbol")
        for layer, b, c in cells:
            entries[layer.index][b][c] = tuple(measure(space, layer, b, c))
        meta = {"method": method, "created": datetime.datetime.now().isoformat(timespec="seconds")}
        return cls(space, stem_cost(space), tail_cost(space), entries, meta)

    def cost(self, candidate: Candidate) -> Cost:
        self.space.validate(candidate)
        flops, params = self.stem.flops + self.tail.flops, self.stem.params + self.tail.params
        for row, b, c in zip(self.entries, candidate.blocks, candidate.channels):
            f, p = row[b][c]
            flops, params = flops + f, params + p
        return Cost(flops, params)

    def bounds(self, block_genes=None, channel_genes=None) -> Dict[str, Cost]:
        """Cheapest and most expensive candidates' cost, per metric (layers are independent),
        optionally over the allowed block / channel genes only: one list of genes for every layer, or
        one list per layer."""
        blocks = self.space.per_layer(block_genes, self.space.num_blocks)
        channels = self.space.per_layer(channel_genes, self.space.num_scales)
        lo = hi = self.stem + self.tail
        for row, allowed_b, allowed_c in zip(self.entries, blocks, channels):
            cells = [Cost(*row[b][c]) for b in allowed_b for c in allowed_c]
            lo = lo + Cost(min(c.flops for c in cells), min(c.params for c in cells))
            hi = hi + Cost(max(c.flops for c in cells), max(c.params for c in cells))
        return {"min": lo, "max": hi}

    # ---- persistence ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"format": self.FORMAT, "fingerprint": self.space.fingerprint, "space": self.space.to_dict(),
                "meta": self.meta, "stem": list(self.stem), "tail": list(self.tail),
                "entries": [[[list(cell) for cell in blocks] for blocks in row] for row in self.entries]}

    def save(self, path: str, fmt: str = "oneshot-nas") -> None:
        """Write the table; ``fmt`` "original" writes the original codebase's models/lookup_table.json layout."""
        text = json.dumps(self.to_original_dict(), indent=4) if fmt == "original" else json.dumps(self.to_dict())
        atomic_write_text(path, text)

    def to_original_dict(self) -> dict:
        """The original's layout: its config keys, FLOPs and params in millions, input/nas/output blocks. The
        first conv stride and the classes are not in it (its network: stride 2; the classes come back from the
        output block), so only such spaces round-trip."""
        if self.space.stem_stride != 2:
            raise OneShotError(f"the original's lookup table format holds stride-2 stems only, not "
                               f"{self.space.describe()}: add --first-conv-stride 2")
        space = self.space
        config = {"use_se": space.use_se, "last_conv_after_pooling": space.last_conv_after_pooling,
                  "channels_layout": space.channels_layout, "stage_repeats": list(space.stage_repeats),
                  "stage_out_channels": list(CHANNEL_LAYOUTS[space.channels_layout]),
                  "channel_scales": [t / 10 for t in space.scale_tenths],
                  "first_conv_out_channel": FIRST_CONV_CHANNELS, "input_size": space.input_size,
                  "last_conv_out_channel": LAST_CONV_CHANNELS}
        return {"config": config, **{
            metric: {"input_block": getattr(self.stem, metric) / 1e6,
                     "nas_block": [[[cell[i] / 1e6 for cell in block] for block in layer] for layer in self.entries],
                     "output_block": getattr(self.tail, metric) / 1e6}
            for i, metric in enumerate(("flops", "params"))}}

    @classmethod
    def load(cls, path: str, expected_space: Optional[SearchSpace] = None) -> "LookupTable":
        """Our table, or the original codebase's ``models/lookup_table.json`` (recognised by its keys)."""
        build = "`python -m oneshot_nas lookup-table --out FILE [network flags]`"
        original = read_original_table(path)
        if original is not None:
            return from_original_table(original, path, expected_space, build)
        data, space = load_space_table(path, "lookup table", cls.FORMAT, expected_space, build)
        entries = data.get("entries")
        shape = (space.num_layers, space.num_blocks, space.num_scales)
        try:
            ok = (len(entries) == shape[0] and all(len(row) == shape[1] for row in entries)
                  and all(len(blocks) == shape[2] and all(len(cell) == 2 for cell in blocks)
                          for row in entries for blocks in row) and len(data["stem"]) == len(data["tail"]) == 2)
        except (TypeError, KeyError):
            ok = False
        if not ok:
            raise OneShotError(f"lookup table {path} is incomplete: it must hold (FLOPs, params) for {shape[0]} layers x "
                               f"{shape[1]} blocks x {shape[2]} channel choices plus stem and tail; rebuild it with {build}")
        return cls(space, data["stem"], data["tail"],
                   [[[tuple(cell) for cell in blocks] for blocks in row] for row in entries], data.get("meta", {}))


# ---------------------------------------------------------------------------------------------
# the original codebase's models/lookup_table.json: {"config": {...}, "flops": {...}, "params": {...}}, each
# of flops/params holding input_block, nas_block[layer][block gene][channel gene] and output_block, in millions
# ---------------------------------------------------------------------------------------------
def read_original_table(path: str) -> Optional[dict]:
    """The JSON of an original-format lookup table, or None when ``path`` is not one (or not JSON at all:
    our loader then says what is wrong)."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if isinstance(data, dict) and "format" not in data and {"config", "flops", "params"} <= set(data):
        return data
    return None


def original_table_space(config: dict, tail_params: float, path: str) -> SearchSpace:
    """The SearchSpace an original table describes (its stem has stride 2 at every input size, as the original's
    network); the number of classes, which it does not record, is read back from its output block's params."""
    try:
        flags = dict(use_se=bool(config["use_se"]), last_conv_after_pooling=bool(config["last_conv_after_pooling"]),
                     channels_layout=str(config["channels_layout"]), input_size=int(config["input_size"]),
                     first_conv_stride=2)
        two, three = (SearchSpace(**flags, num_classes=k) for k in (2, 3))
    except (KeyError, TypeError, ValueError, OneShotError) as e:
        raise OneShotError(f"{path} looks like the original's lookup table but its config cannot be read ({e}); "
                           "pass a table built by this project or by the original's own code") from None
    per_class = tail_cost(three).params - tail_cost(two).params
    classes = (round(tail_params * 1e6) - tail_cost(two).params) / per_class + 2
    if classes < 2 or abs(classes - round(classes)) > 1e-3:
        raise OneShotError(f"{path}: the original table's output block ({tail_params}M params) fits no number of "
                           f"classes of {two.describe()}; the table is damaged or from another network")
    space = SearchSpace(**flags, num_classes=int(round(classes)))
    fixed = {"stage_repeats": list(space.stage_repeats),
             "stage_out_channels": list(CHANNEL_LAYOUTS[space.channels_layout]),
             "channel_scales": [t / 10 for t in space.scale_tenths],
             "first_conv_out_channel": FIRST_CONV_CHANNELS, "last_conv_out_channel": LAST_CONV_CHANNELS}
    for key, ours in fixed.items():
        if key in config and [float(v) for v in np.atleast_1d(config[key])] != [float(v) for v in np.atleast_1d(ours)]:
            raise OneShotError(f"{path}: the original table's {key} is {config[key]}, where the {space.channels_layout} "
                               f"network has {ours}; a table of a modified network cannot be used here")
    return space


def from_original_table(data: dict, path: str, expected_space: Optional[SearchSpace], build: str) -> LookupTable:
    """A LookupTable from the original's table, refused (naming both configs) where it is not ``expected_space``'s."""
    flops, params = data["flops"], data["params"]
    try:
        tail_params = float(params["output_block"])
    except (KeyError, TypeError, ValueError) as e:
        raise OneShotError(f"{path} looks like the original's lookup table but lacks {e}; it is damaged") from None
    space = original_table_space(data["config"], tail_params, path)
    try:
        shape = (space.num_layers, space.num_blocks, space.num_scales)
        grids = [np.asarray(table["nas_block"], dtype=float) for table in (flops, params)]
        stem = Cost(round(float(flops["input_block"]) * 1e6), round(float(params["input_block"]) * 1e6))
        tail = Cost(round(float(flops["output_block"]) * 1e6), round(float(params["output_block"]) * 1e6))
    except (KeyError, TypeError, ValueError) as e:
        raise OneShotError(f"{path} looks like the original's lookup table but lacks {e}; it is damaged") from None
    if any(grid.shape != shape for grid in grids):
        raise OneShotError(f"{path}: the original table's nas_block is {grids[0].shape}, not {shape} "
                           "(layers x blocks x channel scales); it is damaged")
    if expected_space is not None and space != expected_space:
        raise OneShotError(f"lookup table {path} (the original's format) was built for {space.describe()}, not for "
                           f"{expected_space.describe()}; build one for this config with {build} and the same "
                           "network flags")
    entries = [[[(int(round(f * 1e6)), int(round(p * 1e6))) for f, p in zip(fb, pb)]
                for fb, pb in zip(fl, pl)] for fl, pl in zip(*grids)]
    return LookupTable(space, stem, tail, entries, {"method": "the original codebase's table", "source": path})


def load_space_table(path: str, kind: str, fmt: str, expected_space: Optional[SearchSpace], build: str):
    """(JSON data, its SearchSpace) of a table file tied to one network config, refusing a damaged file,
    another format, or a table built for another config than ``expected_space``."""
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise OneShotError(f"{kind} {path} does not exist; build it with {build}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise OneShotError(f"{kind} {path} is not valid JSON ({e}); rebuild it with {build}") from None
    if not isinstance(data, dict) or data.get("format") != fmt or "space" not in data:
        raise OneShotError(f"{path} is not a oneshot-nas {kind} (format {fmt}); rebuild it with {build}")
    space = SearchSpace.from_dict(data["space"])
    if space.fingerprint != data.get("fingerprint"):
        raise OneShotError(f"{kind} {path} is corrupt: its fingerprint does not match its config")
    if expected_space is not None and space != expected_space:
        raise OneShotError(f"{kind} {path} was built for {space.describe()}, not for {expected_space.describe()}; "
                           f"build one for this config with {build} and the same network flags")
    return data, space


def _block_symbol_cost(space: SearchSpace, layer, block_gene: int, channel_gene: int) -> Cost:
    """Measure one block alone on its own symbol graph (for building a table by measurement)."""
    import mxnet as mx

    from ..nn.blocks import ShuffleBlock
    block = ShuffleBlock(layer, block_gene, space.mid_channels(layer, channel_gene),
                         space.stage_activation(layer.stage), space.stage_uses_se(layer.stage),
                         prefix=f"l{layer.index}b{block_gene}c{channel_gene}_")
    block.hybridize()
    sym = block(mx.sym.var("data"))
    return measure_symbol(sym, (1, layer.in_channels, layer.in_resolution, layer.in_resolution))


def costs(space: SearchSpace, candidates: Iterable[Candidate], method: str = "lut",
          table: Optional[LookupTable] = None):
    """Yield (candidate, Cost) using ``method`` in lut|symbol|formula."""
    if method == "lut":
        table = table or LookupTable.build(space)
        fn = table.cost
    elif method == "symbol":
        fn = lambda c: symbol_cost(space, c)  # noqa: E731
    elif method == "formula":
        fn = lambda c: formula_cost(space, c)  # noqa: E731
    else:
        raise OneShotError(f"unknown counting method {method!r}; choose lut, symbol or formula")
    for cand in candidates:
        yield cand, fn(space.validate(cand))
