"""Search constraints and the search target, all decided from the lookup table before any evaluation.

Units follow the original's flags: ``--flop-max``/``--param-max`` are ratios of the comparison model's
FLOPs/params (-1 = off); ``--max-flops/--min-flops`` are absolute MFLOPs and ``--max-params/--min-params``
absolute millions of params (-1 = off); ``--max-normalized-score`` bounds F/F_ref + P/P_ref (the original
accepted a candidate when 0.5 F/F_ref + 0.5 P/P_ref <= 1, i.e. this score <= 2; -1 = off).
"""
from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence

from ..complexity import COMPARISON_MODELS, DEFAULT_COMPARISON, LookupTable, comparison_reference, normalized_score
from ..errors import OneShotError
from ..options import option
from ..nn.blocks import Cost
from ..space import Candidate

OFF = -1
GROUP = "constraints (checked on the lookup table before any evaluation; -1 = off)"


@dataclasses.dataclass(frozen=True)
class Constraints:
    comparison_model: str = option(DEFAULT_COMPARISON, f"reference of ratios and scores: "
                                   f"{', '.join(COMPARISON_MODELS)}", group=GROUP)
    flop_max: float = option(OFF, "FLOPs <= this x the comparison model's", group=GROUP, show_default=False)
    param_max: float = option(OFF, "params <= this x the comparison model's", group=GROUP, show_default=False)
    max_flops: float = option(OFF, "FLOPs <= this many millions", group=GROUP, show_default=False)
    min_flops: float = option(OFF, "FLOPs >= this many millions", group=GROUP, show_default=False)
    max_params: float = option(OFF, "params <= this many millions", group=GROUP, show_default=False)
    min_params: float = option(OFF, "params >= this many millions", group=GROUP, show_default=False)
    max_normalized_score: float = option(2.0, "F/F_ref + P/P_ref <= this (the original's 0.5 F/F_ref + 0.5 P/P_ref "
                                              "<= 1; default 2)", group=GROUP)
    max_latency: float = option(OFF, "predicted latency <= this many ms (needs --latency-table)", group=GROUP,
                                show_default=False)

    def __post_init__(self):
        for low, high, unit in (("min_flops", "max_flops", "MFLOPs"), ("min_params", "max_params", "M params")):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo != OFF and hi != OFF and lo > hi:
                raise OneShotError(f"--{low.replace('_', '-')} {lo:g} is above --{high.replace('_', '-')} {hi:g} "
                                   f"({unit}): no candidate can meet both; swap or correct them")
        for name in ("flop_max", "param_max", "max_flops", "min_flops", "max_params", "min_params",
                     "max_normalized_score", "max_latency"):
            value = getattr(self, name)
            if value != OFF and value <= 0 and not (name.startswith("min_") and value == 0):
                raise OneShotError(f"--{name.replace('_', '-')} must be positive (or -1 for off), not {value:g}")

    def limits(self) -> List[tuple]:
        """(name, value of a cost, bound, 'max'|'min') for every active limit."""
        ref_flops, ref_params = comparison_reference(self.comparison_model)
        out = []
        if self.flop_max != OFF:
            out.append((f"FLOPs <= {self.flop_max:g} x {self.comparison_model}", "flops", self.flop_max * ref_flops, "max"))
        if self.param_max != OFF:
            out.append((f"params <= {self.param_max:g} x {self.comparison_model}", "params", self.param_max * ref_params, "max"))
        for flag, field, scale, kind in (("max_flops", "flops", 1e6, "max"), ("min_flops", "flops", 1e6, "min"),
                                         ("max_params", "params", 1e6, "max"), ("min_params", "params", 1e6, "min")):
            value = getattr(self, flag)
            if value != OFF:
                out.append((f"--{flag.replace('_', '-')} {value:g}", field, value * scale, kind))
        if self.max_normalized_score != OFF:
            out.append((f"normalised score (vs {self.comparison_model}) <= {self.max_normalized_score:g}", "score",
                        self.max_normalized_score, "max"))
        return out

    def violations(self, cost: Cost) -> List[str]:
        values = {"flops": cost.flops, "params": cost.params,
                  "score": normalized_score(cost, self.comparison_model)}
        return [name for name, field, bound, kind in self.limits()
                if (values[field] > bound if kind == "max" else values[field] < bound)]

    def describe(self) -> str:
        return ", ".join(name for name, *_ in self.limits()) or "none"


class ConstraintCheck:
    """``constraint(candidate) -> bool`` from the lookup table (and the latency table for --max-latency),
    with the costs kept for the records."""

    def __init__(self, table: LookupTable, constraints: Constraints, latency=None, latency_batch: Optional[int] = None):
        self.table, self.constraints = table, constraints
        self.latency, self.latency_batch = latency, latency_batch
        comparison_reference(constraints.comparison_model)  # unknown names fail here, before any work
        if constraints.max_latency != OFF and latency is None:
            raise OneShotError("--max-latency needs a latency table: pass --latency-table FILE (build one with "
                               "`python -m oneshot_nas latency-table`)")

    def __call__(self, candidate: Candidate) -> bool:
        if self.constraints.violations(self.table.cost(candidate)):
            return False
        return self.constraints.max_latency == OFF or self.latency_ms(candidate) <= self.constraints.max_latency

    def latency_ms(self, candidate: Candidate) -> Optional[float]:
        return self.latency.predict(candidate, self.latency_batch) if self.latency is not None else None

    def cost(self, candidate: Candidate) -> Cost:
        return self.table.cost(candidate)

    def score(self, candidate: Candidate) -> float:
        return normalized_score(self.table.cost(candidate), self.constraints.comparison_model)

    def check_reachable(self, blocks: Optional[Sequence] = None, channels: Optional[Sequence] = None) -> None:
        """Fail before any evaluation when no candidate with these genes can meet the limits.
        ``blocks``/``channels``: the allowed genes per layer (None = all)."""
        bounds = self.table.bounds(blocks, channels)
        low, high = bounds["min"], bounds["max"]
        unreachable = []
        for name, field, bound, kind in self.constraints.limits():
            if field == "flops" and (low.flops > bound if kind == "max" else high.flops < bound):
                unreachable.append(name)
            if field == "params" and (low.params > bound if kind == "max" else high.params < bound):
                unreachable.append(name)
            if field == "score" and normalized_score(low, self.constraints.comparison_model) > bound:
                unreachable.append(name)
        if self.constraints.max_latency != OFF:
            fastest = self._fastest_latency(blocks, channels)
            if fastest > self.constraints.max_latency:
                unreachable.append(f"--max-latency {self.constraints.max_latency:g} ms (the fastest candidate is "
                                   f"predicted at {fastest:.2f} ms)")
        if unreachable:
            raise OneShotError(
                f"no candidate can meet {', '.join(unreachable)}: in this search space the candidates range over "
                f"FLOPs {low.flops / 1e6:.2f}M..{high.flops / 1e6:.2f}M and params "
                f"{low.params / 1e6:.3f}M..{high.params / 1e6:.3f}M (normalised score from "
                f"{normalized_score(low, self.constraints.comparison_model):.3f}); relax the constraint")

    def _fastest_latency(self, blocks, channels) -> float:
        """The smallest predicted latency over the allowed genes (each layer's fastest cell: the sum is
        separable)."""
        space = self.table.space
        b = str(self.latency_batch or self.latency.batch_sizes[0])
        cells = []
        for i in range(space.num_layers):
            allowed = [(g, c) for g in (blocks[i] if blocks else range(space.num_blocks))
                       for c in (channels[i] if channels else range(space.num_scales))]
            cells.append(min(allowed, key=lambda gc, i=i: self.latency.entries[b][i][gc[0]][gc[1]]))
        return self.latency.predict(Candidate(tuple(g for g, _ in cells), tuple(c for _, c in cells)),
                                    self.latency_batch)
