"""Costs of a candidate, in one package: FLOPs and params (formula, symbol-graph count and lookup table:
``tables``), predicted latency (the latency lookup table: ``latency``), and the one interface that supernet
training and search both check their limits with (``limits``: :class:`CostModel`, :class:`Limit`).

The per-block formulas stay beside the blocks they count (``nn/blocks.py``); this package only imports them.
"""
from ..nn.blocks import Cost
from .limits import CostModel, Limit, LimitCheck, describe, first_meeting
from .latency import LatencyTable
from .tables import (COMPARISON_MODELS, DEFAULT_COMPARISON, LookupTable, comparison_reference, formula_cost,
                     normalized_score)

__all__ = ["COMPARISON_MODELS", "DEFAULT_COMPARISON", "Cost", "CostModel", "LatencyTable", "Limit", "LimitCheck", "LookupTable",
           "comparison_reference", "describe", "first_meeting", "formula_cost", "normalized_score"]
