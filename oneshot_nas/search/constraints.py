"""Search constraints and the search target, all decided from the lookup table before any evaluation.

Units follow the original's flags: ``--flop-max``/``--param-max`` are ratios of the comparison model's
FLOPs/params (-1 = off); ``--max-flops/--min-flops`` are absolute MFLOPs and ``--max-params/--min-params``
absolute millions of params (-1 = off); ``--max-normalized-score`` bounds F/F_ref + P/P_ref (the original
accepted a candidate when 0.5 F/F_ref + 0.5 P/P_ref <= 1, i.e. this score <= 2; -1 = off).
"""
from __future__ import annotations

import dataclasses
from typing import List, Optional

from ..costs import (COMPARISON_MODELS, DEFAULT_COMPARISON, CostModel, Limit, LimitCheck, LookupTable,
                     comparison_reference, describe)
from ..errors import OneShotError
from ..options import flag, option, spelling

OFF = -1
# fields renamed since a search or benchmark could have saved them: old name -> new name
RENAMED = {"flop_max": "flops_ratio_max", "param_max": "params_ratio_max"}
GROUP = "constraints (checked on the lookup table before any evaluation; -1 = off)"


@dataclasses.dataclass(frozen=True)
class Constraints:
    comparison_model: str = option(DEFAULT_COMPARISON, f"reference of ratios and scores: "
                                   f"{', '.join(COMPARISON_MODELS)}", group=GROUP)
    # ratios of the comparison model's costs, under the original's flag names; the absolute limits follow
    flops_ratio_max: float = option(1.0, "FLOPs <= this x the comparison model's (default 1, as the original's: "
                                         "328M for SinglePathOneShot)", flags=("--flop-max",), metavar="RATIO",
                                    group=GROUP, show_default=False)
    params_ratio_max: float = option(OFF, "params <= this x the comparison model's", flags=("--param-max",),
                                     metavar="RATIO", group=GROUP, show_default=False)
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
        for name in ("flops_ratio_max", "params_ratio_max", "max_flops", "min_flops", "max_params", "min_params",
                     "max_normalized_score", "max_latency"):
            value = getattr(self, name)
            if value != OFF and value <= 0 and not (name.startswith("min_") and value == 0):
                raise OneShotError(f"{spelling(Constraints, name)} must be positive (or -1 for off), not {value:g}")

    def limits(self) -> List[Limit]:
        """Every active limit, in the one vocabulary of :mod:`oneshot_nas.costs` (FLOPs and params as counts)."""
        ref_flops, ref_params = comparison_reference(self.comparison_model)
        out = []
        if self.flops_ratio_max != OFF:
            out.append(Limit(f"FLOPs <= {self.flops_ratio_max:g} x {self.comparison_model}", "flops", "max",
                             self.flops_ratio_max * ref_flops))
        if self.params_ratio_max != OFF:
            out.append(Limit(f"params <= {self.params_ratio_max:g} x {self.comparison_model}", "params", "max",
                             self.params_ratio_max * ref_params))
        for name in ("max_flops", "min_flops", "max_params", "min_params"):
            value = getattr(self, name)
            if value != OFF:
                out.append(Limit(f"{flag(name)} {value:g}", name[4:], name[:3], value * 1e6))
        if self.max_normalized_score != OFF:
            out.append(Limit(f"normalised score (vs {self.comparison_model}) <= {self.max_normalized_score:g}",
                             "score", "max", self.max_normalized_score))
        if self.max_latency != OFF:
            out.append(Limit(f"--max-latency {self.max_latency:g} ms", "latency", "max", self.max_latency))
        return out

    def describe(self) -> str:
        return describe(self.limits())

    def check(self, table: LookupTable, latency=None, latency_batch: Optional[int] = None) -> LimitCheck:
        """``check(candidate) -> bool`` on the lookup table (and the latency table for --max-latency)."""
        if self.max_latency != OFF and latency is None:
            raise OneShotError("--max-latency needs a latency table: pass --latency-table FILE (build one with "
                               "`python -m oneshot_nas latency-table`)")
        return LimitCheck(CostModel(table, self.comparison_model, latency, latency_batch), self.limits())


def upgraded(saved: dict) -> dict:
    """Saved Constraints options with the fields renamed since under their new names."""
    return {RENAMED.get(k, k): v for k, v in saved.items()}
