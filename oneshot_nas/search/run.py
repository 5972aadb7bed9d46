"""A search run, the engine: the supernet's evaluator, the constraints from the lookup table, a searcher per
stage, and the loop over generations, saving its state after every one.

Its pieces live beside it: the options (``config.py``), what is kept on disk and how it resumes (``state.py``),
the stages (``stages.py``) and what is logged, plotted and written at the end (``reporting.py``). A resumed run
continues with exactly the draws an uninterrupted run would make and ends with the same best candidates.
"""
from __future__ import annotations

import logging
import time
from typing import List, Optional

import numpy as np

from ..checkpoints import preflight
from ..costs import LatencyTable, LookupTable
from ..errors import OneShotError
from ..space import Candidate
from ..utils import FolderLock
from . import reporting
from .config import SearchConfig
from .constraints import Constraints
from .evaluator import Evaluator, build_evaluator
from .genetic import Ranked
from .proposer import Proposer
from .stages import check_block_only_supernet, make_searcher, plan_stage, validate_fixed_genes
from .state import SearchState

LOG = logging.getLogger("oneshot_nas")


class Search:
    def __init__(self, cfg: SearchConfig, resume: bool = False):
        cfg.validate()
        self.cfg, self.space, self.ctx = cfg, cfg.search_space, cfg.contexts()
        check_block_only_supernet(cfg, self.space)
        preflight(cfg.out_dir, 64 << 20, "the search's --out-dir")
        self.lock = FolderLock(cfg.out_dir, "another search").acquire()
        self.state = SearchState(cfg.out_dir, cfg)
        self.records = self.state.records
        self.state.start(resume)
        table = (LookupTable.load(cfg.lookup_table, expected_space=self.space) if cfg.lookup_table
                 else LookupTable.build(self.space, method="formula"))
        latency = LatencyTable.load(cfg.latency_table, expected_space=self.space) if cfg.latency_table else None
        self.check = Constraints(**cfg.constraints).check(table, latency, cfg.latency_batch_size)
        self.costs = self.check.model
        validate_fixed_genes(self.space, cfg.fixed_block_choices, cfg.fixed_channel_choices)
        self.check.require_reachable(*plan_stage(cfg, self.space, cfg.stages()[0], None).allowed_genes())
        self.rng = np.random.default_rng(cfg.seed)
        self.evaluator: Optional[Evaluator] = None  # built on first use: a finished search needs no supernet
        self.generation_label = ""

    def _proposer(self, searched: str, best_blocks) -> Proposer:
        plan = plan_stage(self.cfg, self.space, searched, best_blocks)
        self.check.require_reachable(*plan.allowed_genes())
        return Proposer(self.space, self._logged_check, self.rng, plan.searched, fixed_blocks=plan.fixed_blocks,
                        fixed_channels=plan.fixed_channels)

    def _logged_check(self, candidate: Candidate) -> bool:
        """The constraint check, writing the original's [SKIPPED] line for a candidate it turns away."""
        if self.check(candidate):
            return True
        reporting.log_skipped(candidate, self.costs.violations(self.check.limits, candidate))
        return False

    def _build_evaluator(self) -> Evaluator:
        return build_evaluator(self.cfg, self.space, self.ctx)

    # ---- evaluation as the searchers see it -------------------------------------------------
    def fitness(self, candidate: Candidate) -> float:
        key = str(candidate)
        if key not in self.records.by_candidate:
            if not self.check(candidate):  # searchers only propose qualified candidates; this is the guard
                raise AssertionError(f"{key} violates the constraints and must not be evaluated")
            if self.evaluator is None:
                self.evaluator = self._build_evaluator()
            self.records.add(self._record(candidate, self.evaluator(candidate)))
            reporting.log_candidate(self.records.by_candidate[key])
        return self.records.by_candidate[key]["fitness"]

    def _record(self, candidate: Candidate, result) -> dict:
        cost, score = self.costs.cost(candidate), self.costs.score(candidate)
        return {
            "candidate": str(candidate), "top1": result.top1, "top5": result.top5, "flops": cost.flops,
            "params": cost.params, "normalized_score": score,
            **({"latency_ms": self.costs.latency_ms(candidate)} if self.costs.latency is not None else {}),
            "fitness": self._target(result.top1, score), "generation": self.generation_label,
            "recal_seconds": round(result.recal_seconds, 3), "val_seconds": round(result.val_seconds, 3),
            "seconds": round(result.recal_seconds + result.val_seconds, 3), "bn_images": result.bn_images,
            "val_images": result.val_images, "split": self.cfg.val_split,
            **({"top1_by_supernet": list(result.top1_by_supernet)} if result.top1_by_supernet else {})}

    def _target(self, top1: float, score: float) -> float:
        if self.cfg.search_target == "balanced_flop_acc":
            return top1 - self.cfg.score_acc_ratio * score / 2  # the original's 0.5 F/F_ref + 0.5 P/P_ref
        return top1

    # ---- the loop ----------------------------------------------------------------------------
    def run(self) -> dict:
        try:
            return self._run()
        finally:
            self.lock.release()  # a finished search leaves its folder to the next command

    def _run(self) -> dict:
        c = self.cfg
        self.started = time.time()
        state = self.state.load()
        if state and state.get("finished"):
            LOG.info("the search in %s has finished; its results stand", c.out_dir)
            return self._finish()
        if state:
            self.rng.bit_generator.state = state["rng"]
        stages = c.stages()
        for stage in range(state["stage"] if state else 0, len(stages)):
            self._run_stage(stage, stages[stage], state if state and state["stage"] == stage else None)
            state = None
        self._save(len(stages), 0, [], finished=True)
        LOG.info("search finished in %.0f s; %d candidates evaluated in all", time.time() - self.started,
                 len(self.records.by_candidate))
        return self._finish()

    def _run_stage(self, stage: int, searched: str, resumed: Optional[dict]) -> None:
        best_blocks = self._best_blocks() if searched == "channel" and self.cfg.two_stage else None
        searcher, generations = make_searcher(self.cfg, self._proposer(searched, best_blocks), self.fitness)
        if resumed:
            population, start = [Candidate.parse(s) for s in resumed["population"]], resumed["generation"]
        else:
            population, start = searcher.initial_population(), 0
            self._save(stage, 0, population)
        for generation in range(start, generations):
            self.generation_label = self._label(searched, generation)
            tic = time.time()
            ranked, population = searcher.generation(population)
            self._report(searched, generation, generations, ranked, time.time() - tic)
            self._save(stage, generation + 1, population)

    def _save(self, stage: int, generation: int, population: List[Candidate], finished: bool = False) -> None:
        self.state.save(stage, generation, population, self.rng.bit_generator.state, finished)

    def _label(self, stage: str, generation: int) -> str:
        return f"{stage}-{generation}" if self.cfg.two_stage else str(generation)

    def _best_blocks(self) -> List[int]:
        block_records = [r for r in self.records.ranked() if r["generation"].startswith("block-")]
        return list(Candidate.parse(block_records[0]["candidate"]).blocks)

    def _report(self, stage: str, generation: int, generations: int, ranked: Ranked, seconds: float) -> None:
        records = [self.records.by_candidate[str(cand)] for _, cand in ranked]
        reporting.report_generation(self.state, self.cfg.search_mode, stage, self._label(stage, generation),
                                    f"{generation + 1}/{generations}", records, seconds, self.costs.comparison_model)

    # ---- results -----------------------------------------------------------------------------
    def generations(self) -> List[tuple]:
        """(label, records of that generation's population) in order, from the saved population lists."""
        return self.state.generations(self.cfg.stages(), self._label)

    def _finish(self) -> dict:
        if not self.records.by_candidate:
            raise OneShotError("the search evaluated no candidate")
        return reporting.finish(self.state, self.cfg, self.space, self.generations(), self.costs.comparison_model)
