"""Latency lookup table (the original's unfinished roadmap item): the measured latency of every
(layer, block choice, channel choice), the stem and the tail, on the machine it runs on, per batch size.

Each entry is the median of ``repeats`` timed calls of that one block, hybridized, after ``warmup`` calls.
Layers with the same shape (the stride-1 layers of a stage) share their measurements. A candidate's
predicted latency = stem + tail + the sum over its 20 blocks - 21 x the per-call overhead (the cost of
calling a trivial hybridized block, measured too: inside one network graph the blocks are not separate calls).
The table stores its network config, batch sizes, device description and date, and refuses to predict for
another config.
"""
from __future__ import annotations

import datetime
import json
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..errors import OneShotError
from ..space import Candidate, SearchSpace
from ..utils import atomic_write_text

FORMAT = "oneshot-nas-latency-1"


def time_block(block, shape, ctx, warmup: int, repeats: int) -> float:
    """Median milliseconds of one call of a hybridized block on an input of ``shape``."""
    from mxnet import nd
    block.hybridize(static_alloc=True, static_shape=True)
    x = nd.random.uniform(-1, 1, shape, ctx=ctx)
    for _ in range(warmup):
        block(x).wait_to_read()
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        block(x).wait_to_read()
        times.append(time.perf_counter() - tic)
    return float(np.median(times)) * 1e3


def _built(block, ctx):
    block.initialize(ctx=ctx)
    return block


# Random subnets timed whole at build time to calibrate the per-block sum (never the --check subnets)
CALIBRATION_SUBNETS = 5
CALIBRATION_SEED = 7919


class LatencyTable:
    def __init__(self, space: SearchSpace, batch_sizes: Sequence[int], stem: Dict, tail: Dict, overhead: Dict,
                 entries: Dict, meta: dict, scale: Optional[Dict] = None):
        self.space, self.batch_sizes = space, list(batch_sizes)
        self.stem, self.tail, self.entries, self.meta = stem, tail, entries, meta
        # Every timed call includes the call overhead, so it cannot exceed the cheapest call; measured while other
        # work loads the cores it can, and subtracting it once per call drove predictions to zero or below.
        self.overhead = {b: min(ms, stem[b], tail[b], min(min(min(row) for row in layer) for layer in entries[b]))
                         for b, ms in overhead.items()}
        self.scale = scale or {str(b): 1.0 for b in self.batch_sizes}

    # ---- measuring -----------------------------------------------------------------------------
    @classmethod
    def build(cls, space: SearchSpace, batch_sizes: Sequence[int] = (1,), warmup: int = 3, repeats: int = 10,
              ctx=None, progress: bool = False) -> "LatencyTable":
        import mxnet as mx
        from mxnet.gluon import nn

        from ..nn.blocks import ShuffleBlock, Stem, Tail, default_dropout
        ctx = ctx or mx.cpu()
        size = space.input_size
        stem, tail, overhead, entries = {}, {}, {}, {}
        layers = space.layers()
        jobs = [(b, layer, g, c) for b in batch_sizes for layer in layers
                for g in range(space.num_blocks) for c in range(space.num_scales)]
        if progress:
            from tqdm import tqdm
            jobs = tqdm(jobs, desc="latency table")
        shared: Dict[tuple, float] = {}
        for b, layer, g, c in jobs:
            key = (b, layer.stage, layer.in_channels, layer.out_channels, layer.stride, layer.in_resolution, g, c)
            if key not in shared:
                mid = space.mid_channels(layer, c)
                block = _built(ShuffleBlock(layer, g, mid, space.stage_activation(layer.stage),
                                            space.stage_uses_se(layer.stage), prefix="b_"), ctx)
                shared[key] = time_block(block, (b, layer.in_channels, layer.in_resolution, layer.in_resolution),
                                         ctx, warmup, repeats)
            entries.setdefault(str(b), [[[0.0] * space.num_scales for _ in range(space.num_blocks)]
                                        for _ in layers])[layer.index][g][c] = shared[key]
        last = layers[-1]
        for b in batch_sizes:
            stem[str(b)] = time_block(_built(Stem(space, prefix="stem_"), ctx), (b, 3, size, size), ctx, warmup,
                                      repeats)
            tail_block = _built(Tail(space, default_dropout(space), prefix="tail_"), ctx)
            tail[str(b)] = time_block(tail_block, (b, last.out_channels, last.out_resolution, last.out_resolution),
                                      ctx, warmup, repeats)
            identity = _built(nn.HybridLambda(lambda F, x: F.identity(x)), ctx)
            overhead[str(b)] = time_block(identity, (b, 3, size, size), ctx, warmup, repeats)
        from ..devices import device_description
        meta = {"created": datetime.datetime.now().isoformat(timespec="seconds"), "warmup": warmup,
                "repeats": repeats, "device": device_description(ctx)}
        table = cls(space, batch_sizes, stem, tail, overhead, entries, meta)
        table.calibrate(warmup, repeats, ctx)
        return table

    def calibrate(self, warmup: int, repeats: int, ctx=None) -> None:
        """Scale each batch size's predictions by median(measured / summed) over a few whole random subnets.

        Blocks timed alone on fresh inputs miss part of what a whole network costs between them (layout
        conversions, memory traffic): with ReLU as a oneDNN `Activation` the plain sum ran 6-27% low at
        batch 1 and 32 (measured on 20 subnets twice); with the factor, 2-4% median error.
        """
        rng = np.random.default_rng(CALIBRATION_SEED)
        cands = [self.space.sample(rng) for _ in range(CALIBRATION_SUBNETS)]
        self.scale = {str(b): 1.0 for b in self.batch_sizes}
        for b in self.batch_sizes:
            ratios = [measured_latency(self.space, c, b, ctx, warmup, repeats) / self.predict(c, b) for c in cands]
            self.scale[str(b)] = float(np.median(ratios))

    # ---- predicting ------------------------------------------------------------------------------
    def predict(self, candidate: Candidate, batch_size: Optional[int] = None) -> float:
        """Predicted milliseconds of one forward of ``candidate`` at ``batch_size`` (default: the first)."""
        b = str(batch_size or self.batch_sizes[0])
        if b not in self.entries:
            raise OneShotError(f"the latency table holds batch sizes {self.batch_sizes}, not {b}; build one with "
                               f"--batch-size {b}")
        self.space.validate(candidate)
        blocks = sum(self.entries[b][i][g][c] for i, (g, c) in enumerate(zip(candidate.blocks, candidate.channels)))
        calls = self.space.num_layers + 2
        return (self.stem[b] + self.tail[b] + blocks - (calls - 1) * self.overhead[b]) * self.scale[b]

    def extreme(self, kind: str, batch_size: Optional[int] = None, blocks=None, channels=None) -> float:
        """The smallest (``kind`` "min") or largest ("max") predicted latency over the allowed genes (None: all;
        one list for every layer or one per layer): each layer's extreme cell, as the prediction is a sum."""
        b = str(batch_size or self.batch_sizes[0])
        pick = min if kind == "min" else max
        per_layer = [self.space.per_layer(blocks, self.space.num_blocks),
                     self.space.per_layer(channels, self.space.num_scales)]
        cells = [pick(((g, c) for g in allowed_b for c in allowed_c), key=lambda gc, i=i: self.entries[b][i][gc[0]][gc[1]])
                 for i, (allowed_b, allowed_c) in enumerate(zip(*per_layer))]
        return self.predict(Candidate(tuple(g for g, _ in cells), tuple(c for _, c in cells)), batch_size)

    # ---- persistence -----------------------------------------------------------------------------
    def save(self, path: str) -> None:
        atomic_write_text(path, json.dumps({
            "format": FORMAT, "fingerprint": self.space.fingerprint, "space": self.space.to_dict(),
            "batch_sizes": self.batch_sizes, "meta": self.meta, "stem_ms": self.stem, "tail_ms": self.tail,
            "call_overhead_ms": self.overhead, "scale": self.scale, "entries_ms": self.entries}))

    @classmethod
    def load(cls, path: str, expected_space: Optional[SearchSpace] = None) -> "LatencyTable":
        from .tables import load_space_table
        data, space = load_space_table(path, "latency table", FORMAT, expected_space,
                                       "`python -m oneshot_nas latency-table --out FILE [network flags]`")
        return cls(space, data["batch_sizes"], data["stem_ms"], data["tail_ms"], data["call_overhead_ms"],
                   data["entries_ms"], data["meta"], data.get("scale"))  # tables before calibration: 1.0


def measured_latency(space: SearchSpace, candidate: Candidate, batch_size: int, ctx=None, warmup: int = 3,
                     repeats: int = 10) -> float:
    """Median milliseconds of one forward of the whole hybridized subnet."""
    import mxnet as mx

    from ..nn import build_subnet
    ctx = ctx or mx.cpu()
    net = _built(build_subnet(space, candidate), ctx)
    size = space.input_size
    return time_block(net, (batch_size, 3, size, size), ctx, warmup, repeats)


def prediction_errors(table: LatencyTable, candidates: List[Candidate], batch_size: Optional[int] = None,
                      warmup: int = 3, repeats: int = 10) -> List[dict]:
    b = batch_size or table.batch_sizes[0]
    rows = []
    for cand in candidates:
        measured = measured_latency(table.space, cand, b, warmup=warmup, repeats=repeats)
        predicted = table.predict(cand, b)
        rows.append({"candidate": str(cand), "batch_size": b, "predicted_ms": predicted, "measured_ms": measured,
                     "error": (predicted - measured) / measured})
    return rows
