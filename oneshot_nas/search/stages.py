"""A search's stages: which genes each one searches and which it keeps fixed, and the searcher that runs it.

One stage searches ``--search-space`` (joint, block or channel genes); ``--two-stage`` searches the blocks,
then the channels on the best blocks found.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, List, Optional

from ..errors import OneShotError
from ..space import Candidate, SearchSpace
from .genetic import GeneticSearch
from .proposer import Proposer
from .random_search import RandomSearch


@dataclasses.dataclass(frozen=True)
class StagePlan:
    """The genes a stage searches (joint | block | channel) and the ones it keeps fixed (None: searched)."""

    searched: str
    fixed_blocks: Optional[List[int]]
    fixed_channels: Optional[List[int]]

    def allowed_genes(self):
        """(allowed block genes per layer, allowed channel genes per layer), None where all are allowed: what
        a reachability check needs."""
        return ([[b] for b in self.fixed_blocks] if self.fixed_blocks else None,
                [[c] for c in self.fixed_channels] if self.fixed_channels else None)


def validate_fixed_genes(space: SearchSpace, fixed_blocks, fixed_channels) -> None:
    n = space.num_layers
    for flag, genes, kind in (("--fixed-block-choices", fixed_blocks, "block"),
                              ("--fixed-channel-choices", fixed_channels, "channel")):
        if genes is None:
            continue
        try:
            space.validate(Candidate(tuple(genes), (0,) * n) if kind == "block" else Candidate((0,) * n, tuple(genes)))
        except OneShotError as e:
            raise OneShotError(f"{flag}: {e}") from None


def plan_stage(cfg, space: SearchSpace, searched: str, best_blocks: Optional[List[int]]) -> StagePlan:
    """The plan of a stage searching ``searched`` genes, given the options of ``cfg`` (a SearchConfig) and, in a
    two-stage search's channel stage, the best blocks of the block stage."""
    blocks, channels = best_blocks or cfg.fixed_block_choices, cfg.fixed_channel_choices
    if searched == "joint":
        if blocks and channels:
            raise OneShotError("both --fixed-block-choices and --fixed-channel-choices are given: nothing is "
                               "left to search")
        # a fixed half leaves the other half to search
        return StagePlan("channel" if blocks else "block" if channels else "joint", blocks, channels)
    if searched == "block":
        if cfg.fixed_block_choices and not best_blocks:
            raise OneShotError("a block search searches the blocks: drop --fixed-block-choices")
        # SPOS's block-only search: unless told otherwise, every block at its standard width (scale 1.0)
        return StagePlan("block", None, channels or [space.scale_gene(1.0)] * space.num_layers)
    if not blocks:
        raise OneShotError("a channel search needs the blocks: pass --fixed-block-choices")
    if channels and not best_blocks:
        raise OneShotError("a channel search searches the channels: drop --fixed-channel-choices")
    return StagePlan("channel", blocks, None)


def block_search_advice(space: SearchSpace, scale: float) -> str:
    """How to search a block-only supernet trained at ``scale``: a block search (at scale 1.0 by default)."""
    gene = space.scale_gene(scale)
    return "search it with --search-space block" + (
        "" if gene == space.scale_gene(1.0) else
        f" --fixed-channel-choices {','.join([str(gene)] * space.num_layers)}")


def check_block_only_supernet(cfg, space: SearchSpace) -> None:
    """A supernet trained with --fixed-channel-scale scores only candidates with every channel at that scale: its
    search must be a block search over exactly those channels (refused before the search starts)."""
    if cfg.supernet_channel_scale is None:
        return
    gene, fix = space.scale_gene(cfg.supernet_channel_scale), block_search_advice(space, cfg.supernet_channel_scale)
    if cfg.two_stage or cfg.searched_genes != "block":
        raise OneShotError(f"the supernet {cfg.supernet_params} is block-only (trained with --fixed-channel-scale "
                           f"{cfg.supernet_channel_scale:g}): it cannot score other channels, so a "
                           f"{'two-stage' if cfg.two_stage else cfg.searched_genes} search is meaningless; {fix}")
    channels = plan_stage(cfg, space, "block", None).fixed_channels
    if list(channels) != [gene] * space.num_layers:
        raise OneShotError(f"--fixed-channel-choices {','.join(map(str, channels))}: the supernet "
                           f"{cfg.supernet_params} is block-only, trained with every channel gene {gene} (scale "
                           f"{cfg.supernet_channel_scale:g}); {fix}")


def make_searcher(cfg, proposer: Proposer, fitness: Callable[[Candidate], float]):
    """(searcher, generations) for ``cfg.search_mode``."""
    if cfg.search_mode == "random":
        searcher = RandomSearch(proposer, fitness, cfg.search_iters, cfg.population_size)
        return searcher, searcher.num_generations
    return GeneticSearch(proposer, fitness, cfg.population_size, cfg.retain_length, cfg.random_select,
                         cfg.mutate_chance), cfg.search_iters
