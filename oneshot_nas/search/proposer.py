"""Candidates for the searchers: random, or bred from two parents, restricted to the searched genes and
always meeting the constraint. Every loop is bounded; an unreachable constraint is a clear error."""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from ..costs import first_meeting
from ..errors import OneShotError
from ..space import Candidate, SearchSpace
from .config import SEARCHED_GENES



class Proposer:
    """``searched``: which genes are searched (joint | block | channel); the others are fixed to
    ``fixed_blocks`` / ``fixed_channels``."""

    def __init__(self, space: SearchSpace, constraint: Callable[[Candidate], bool], rng: np.random.Generator,
                 searched: str = "joint", fixed_blocks: Optional[Sequence[int]] = None,
                 fixed_channels: Optional[Sequence[int]] = None, max_tries: int = 50000):
        if searched not in SEARCHED_GENES:
            raise OneShotError(f"unknown searched genes {searched!r}; choose one of {', '.join(SEARCHED_GENES)}")
        self.space, self.constraint, self.rng, self.searched = space, constraint, rng, searched
        self.fixed_blocks = tuple(fixed_blocks) if searched == "channel" else None
        self.fixed_channels = tuple(fixed_channels) if searched == "block" else None
        if searched == "channel" and self.fixed_blocks is None:
            raise OneShotError("a channel search needs the blocks: pass --fixed-block-choices")
        if searched == "block" and self.fixed_channels is None:
            raise OneShotError("a block search needs the channels: pass --fixed-channel-choices")
        self.max_tries = max_tries

    def _fix(self, candidate: Candidate) -> Candidate:
        return Candidate(self.fixed_blocks or candidate.blocks, self.fixed_channels or candidate.channels)

    def random(self) -> Candidate:
        found = first_meeting(self.constraint, lambda: self._fix(self.space.sample(self.rng)), self.max_tries)
        if found is not None:
            return found
        raise OneShotError(f"no {self.searched} candidate meeting the constraints in {self.max_tries} random draws; "
                           "relax the constraints (or fix other genes)")

    def child(self, mother: Candidate, father: Candidate, mutate_chance: float, tries: int = 1000) -> Candidate:
        """Uniform crossover, then per-gene mutation of the searched genes; a child that violates the
        constraint is bred again (at most ``tries`` times, then a random qualified candidate)."""
        def breed() -> Candidate:
            return self.space.mutate(self.space.crossover(mother, father, self.rng), self.rng, mutate_chance,
                                     mutable=self.searched)
        return first_meeting(self.constraint, breed, tries) or self.random()
