"""The one cost interface: what a candidate costs (FLOPs, params, normalised score, predicted latency), the
limits put on those costs, whether any candidate can meet them, and the one bounded draw of candidates that do.

Supernet training (the original's ``--train-upper/bottom-constraints`` box) and search (``--flop-max``,
``--max-flops``, ``--max-latency`` ...) both state their limits as :class:`Limit` values and check them with
:class:`CostModel`, so one reachability check and one rejection loop serve both.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, List, Optional, Sequence

from ..errors import OneShotError
from ..nn.blocks import Cost
from ..space import Candidate
from .tables import DEFAULT_COMPARISON, LookupTable, comparison_reference, normalized_score

METRICS = ("flops", "params", "score", "latency")


@dataclasses.dataclass(frozen=True)
class Limit:
    """``metric`` (one of METRICS) at most (``kind`` "max") or at least ("min") ``bound``, in the metric's own
    unit: FLOPs and params as counts, the score as F/F_ref + P/P_ref, latency in milliseconds. ``name`` is the
    limit as the user wrote it, for messages."""

    name: str
    metric: str
    kind: str
    bound: float

    def __post_init__(self):
        if self.metric not in METRICS or self.kind not in ("max", "min"):
            raise ValueError(f"bad limit {self}")

    def met_by(self, value: float) -> bool:
        return value <= self.bound if self.kind == "max" else value >= self.bound


def describe(limits: Sequence[Limit]) -> str:
    return ", ".join(limit.name for limit in limits) or "none"


def first_meeting(constraint: Callable[[Candidate], bool], propose: Callable[[], Candidate],
                  tries: int) -> Optional[Candidate]:
    """The first of up to ``tries`` proposals that meets ``constraint``, or None: the one rejection loop
    (callers say what failed in their own terms)."""
    for _ in range(tries):
        candidate = propose()
        if constraint(candidate):
            return candidate
    return None


class CostModel:
    """A candidate's costs from the FLOPs/params lookup table and, when given, a latency table
    (``latency_batch``: which of its batch sizes; default its first)."""

    def __init__(self, table: LookupTable, comparison_model: str = DEFAULT_COMPARISON, latency=None,
                 latency_batch: Optional[int] = None):
        comparison_reference(comparison_model)  # an unknown name fails here, before any work
        self.table, self.space, self.comparison_model = table, table.space, comparison_model
        self.latency, self.latency_batch = latency, latency_batch

    def cost(self, candidate: Candidate) -> Cost:
        return self.table.cost(candidate)

    def score(self, candidate: Candidate) -> float:
        return normalized_score(self.table.cost(candidate), self.comparison_model)

    def latency_ms(self, candidate: Candidate) -> Optional[float]:
        return self.latency.predict(candidate, self.latency_batch) if self.latency is not None else None

    def value(self, metric: str, candidate: Candidate, cost: Optional[Cost] = None) -> float:
        if metric == "latency":
            return self.latency_ms(candidate)
        cost = cost or self.table.cost(candidate)
        return normalized_score(cost, self.comparison_model) if metric == "score" else getattr(cost, metric)

    def violations(self, limits: Sequence[Limit], candidate: Candidate) -> List[str]:
        cost = self.table.cost(candidate)  # the latency table is read only when a latency limit asks
        return [limit.name for limit in limits if not limit.met_by(self.value(limit.metric, candidate, cost))]

    def meets(self, limits: Sequence[Limit], candidate: Candidate) -> bool:
        return not self.violations(limits, candidate)

    # ---- over a whole (restricted) space ---------------------------------------------------------
    def extreme(self, metric: str, kind: str, blocks=None, channels=None) -> float:
        """The lowest (``kind`` "min") or highest ("max") value of ``metric`` over the candidates with the
        allowed genes (None: all; one list for every layer or one per layer). Exact for FLOPs, params and
        latency (sums over independent layers); for the score, a bound (the cheapest FLOPs and the fewest
        params need not be one candidate), which is what a reachability check needs."""
        if metric == "latency":
            return self.latency.extreme(kind, self.latency_batch, blocks, channels)
        cost = self.table.bounds(blocks, channels)[kind]
        return normalized_score(cost, self.comparison_model) if metric == "score" else getattr(cost, metric)

    def ranges(self, blocks=None, channels=None) -> str:
        low, high = (self.table.bounds(blocks, channels)[k] for k in ("min", "max"))
        text = (f"the candidates range over FLOPs {low.flops / 1e6:.2f}M..{high.flops / 1e6:.2f}M and params "
                f"{low.params / 1e6:.3f}M..{high.params / 1e6:.3f}M (normalised score from "
                f"{normalized_score(low, self.comparison_model):.3f})")
        if self.latency is not None:
            text += (f", predicted latency {self.extreme('latency', 'min', blocks, channels):.2f}.."
                     f"{self.extreme('latency', 'max', blocks, channels):.2f} ms")
        return text


class LimitCheck:
    """``check(candidate) -> bool``: the candidate meets ``limits`` under ``model``; plus the reachability check
    and the bounded draw for those limits."""

    def __init__(self, model: CostModel, limits: Sequence[Limit]):
        self.model, self.limits = model, list(limits)

    def __call__(self, candidate: Candidate) -> bool:
        return self.model.meets(self.limits, candidate)

    def describe(self) -> str:
        return describe(self.limits)

    def unreachable(self, blocks=None, channels=None) -> List[str]:
        """The limits that no candidate with the allowed genes can meet."""
        out = []
        for limit in self.limits:
            best = self.model.extreme(limit.metric, "min" if limit.kind == "max" else "max", blocks, channels)
            if not limit.met_by(best):
                out.append(limit.name)
        return out

    def require_reachable(self, blocks=None, channels=None, fix: str = "relax the constraint") -> None:
        """Fail before any work when no candidate with the allowed genes can meet the limits."""
        unreachable = self.unreachable(blocks, channels)
        if unreachable:
            raise OneShotError(f"no candidate can meet {', '.join(unreachable)}: "
                               f"{self.model.ranges(blocks, channels)}; {fix}")

    def draw(self, propose: Callable[[], Candidate], tries: int, fix: str) -> Candidate:
        """A proposal meeting the limits (at most ``tries`` proposals, then a clear error ending in ``fix``)."""
        found = first_meeting(self, propose, tries)
        if found is None:
            raise OneShotError(f"no candidate within {self.describe()} after {tries} random tries; {fix}")
        return found
