"""Random search: ``search_iters`` qualified candidates drawn uniformly (the original hard-coded 100 and
ignored the flag), evaluated in chunks of ``population_size`` so that state, logs and plots come per chunk
as they do per generation in the genetic search."""
from __future__ import annotations

from typing import Callable, List, Tuple

from ..space import Candidate
from .genetic import Ranked, distinct_fill, rank
from .proposer import Proposer


class RandomSearch:
    def __init__(self, proposer: Proposer, evaluate: Callable[[Candidate], float], search_iters: int,
                 population_size: int = 50):
        self.proposer, self.evaluate = proposer, evaluate
        self.search_iters, self.population_size = search_iters, population_size

    @property
    def num_generations(self) -> int:
        return -(-self.search_iters // self.population_size)

    def initial_population(self) -> List[Candidate]:
        """All draws at once, so the sequence depends only on the seed; later chunks ride in the state."""
        return distinct_fill([], self.search_iters, self.proposer.random)

    def generation(self, population: List[Candidate]) -> Tuple[Ranked, List[Candidate]]:
        chunk, rest = population[:self.population_size], population[self.population_size:]
        return rank(chunk, self.evaluate), rest
