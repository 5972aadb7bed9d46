"""The genetic search of the original (population 50, keep the best 10, keep each other member with
probability 0.1, fill up with children of two distinct parents by uniform crossover and per-gene mutation).
It sees only ``evaluate(candidate) -> fitness`` and the proposer (which holds ``constraint``)."""
from __future__ import annotations

from typing import Callable, List, Tuple

from ..space import Candidate
from .proposer import Proposer

Ranked = List[Tuple[float, Candidate]]


def rank(population: List[Candidate], evaluate: Callable[[Candidate], float]) -> Ranked:
    """Distinct members, best fitness first (ties broken by the candidate string: reproducible)."""
    unique = {str(c): c for c in population}
    return sorted(((evaluate(c), c) for c in unique.values()), key=lambda t: (-t[0], str(t[1])))


class GeneticSearch:
    def __init__(self, proposer: Proposer, evaluate: Callable[[Candidate], float], population_size: int = 50,
                 retain_length: int = 10, random_select: float = 0.1, mutate_chance: float = 0.1):
        self.proposer, self.evaluate = proposer, evaluate
        self.population_size, self.retain_length = population_size, retain_length
        self.random_select, self.mutate_chance = random_select, mutate_chance

    def initial_population(self) -> List[Candidate]:
        return distinct_fill([], self.population_size, self.proposer.random)

    def generation(self, population: List[Candidate]) -> Tuple[Ranked, List[Candidate]]:
        """Evaluate ``population``; return it ranked and the next population."""
        ranked = rank(population, self.evaluate)
        rng = self.proposer.rng
        members = [c for _, c in ranked]
        parents = members[:self.retain_length] + [c for c in members[self.retain_length:]
                                                  if rng.random() < self.random_select]

        def breed() -> Candidate:
            if len(parents) < 2:
                return self.proposer.random()
            i, j = rng.choice(len(parents), 2, replace=False)
            return self.proposer.child(parents[i], parents[j], self.mutate_chance)

        return ranked, distinct_fill(parents, self.population_size, breed)


def distinct_fill(members: List[Candidate], size: int, make: Callable[[], Candidate], tries: int = 20) -> List[Candidate]:
    """``members`` plus new ones from ``make`` up to ``size``; a duplicate is redrawn up to ``tries`` times
    (a small or tightly constrained space may hold fewer distinct candidates: then duplicates stay)."""
    out, seen = list(members), {str(c) for c in members}
    while len(out) < size:
        for _ in range(tries):
            candidate = make()
            if str(candidate) not in seen:
                break
        out.append(candidate)
        seen.add(str(candidate))
    return out
