"""A search run: the supernet, the evaluator, constraints from the lookup table, a searcher per stage,
one JSON line per evaluation, the state after every generation, plots, the top-k table and best.json.

Resume: ``records.jsonl`` is the memo (a candidate evaluated before a kill is not evaluated again) and
``state.json`` holds the stage, the generation, its population and the RNG state, so a resumed run
continues with exactly the draws an uninterrupted run would make and ends with the same best candidates.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from typing import Dict, List, Optional

import mxnet as mx
import numpy as np

from .. import data, plots
from ..costs import LatencyTable, LookupTable
from ..errors import OneShotError
from ..options import option
from ..nn import Supernet
from ..space import Candidate, SearchSpace
from ..devices import Devices
from ..run_folder import RunFolder
from ..checkpoints import preflight
from ..utils import FolderLock, atomic_write_text, read_json_lines
from .constraints import GROUP, Constraints
from .evaluator import Evaluator
from .genetic import GeneticSearch, Ranked
from .proposer import Proposer
from .random_search import RandomSearch

LOG = logging.getLogger("oneshot_nas")
SEARCH_MODES = ("genetic", "random")
SEARCH_TARGETS = ("acc", "balanced_flop_acc")
SEARCHED_GENES = ("joint", "block", "channel")
SUPERNET, EVALUATION, SEARCH = "supernet and outputs", "evaluation", "search"


@dataclasses.dataclass
class SearchConfig(data.DataSource, Devices):
    """Everything a search depends on; resolved once by the CLI and written to OUT_DIR/config.json."""

    space: dict
    supernet_params: str = option("runs/supernet", "supernet .params file, or a `train` save dir (its last.params); "
                                  "the network flags default to the config.json beside it", group=SUPERNET)
    out_dir: str = option("runs/search", "where records, state, plots and results go", group=SUPERNET)
    lookup_table: Optional[str] = option(None, "FLOPs/params table of this network config (default: built in "
                                               "memory from the formulas)", type=str, metavar="FILE",
                                         group=SUPERNET)
    seed: int = option(0, "", group=SUPERNET)
    batch_size: int = option(128, "per device", group=EVALUATION)
    update_bn_images: int = option(20000, "training images (fixed, seeded subset, validation transform) for BN "
                                          "recalibration", group=EVALUATION)
    val_images: Optional[int] = option(None, "validate on the first N validation images (default all)", type=int,
                                       group=EVALUATION)
    search_mode: str = option("genetic", "", choices=SEARCH_MODES, group=SEARCH)
    search_space: str = option("joint", "which genes are searched; block search keeps channels at "
                                        "--fixed-channel-choices (default: scale 1.0), channel search needs "
                                        "--fixed-block-choices", choices=SEARCHED_GENES, group=SEARCH)
    two_stage: bool = option(False, "genetic block search, then channel search on the best blocks (each "
                                    "--search-iters generations)", group=SEARCH)
    # comma lists on the command line, gene lists here (the CLI parses them)
    fixed_block_choices: Optional[List[int]] = option(None, "comma list of 20 block genes kept fixed", type=str,
                                                      group=SEARCH)
    fixed_channel_choices: Optional[List[int]] = option(None, "comma list of 20 channel genes kept fixed",
                                                        type=str, group=SEARCH)
    population_size: int = option(50, "genetic: population per generation; random: candidates per logged chunk",
                                  group=SEARCH)
    retain_length: int = option(10, "genetic: best members kept as parents", group=SEARCH)
    random_select: float = option(0.1, "genetic: chance to keep any other member", group=SEARCH)
    mutate_chance: float = option(0.1, "genetic: per-gene mutation probability", group=SEARCH)
    search_iters: int = option(20, "genetic: generations (per stage); random: candidates evaluated", group=SEARCH)
    topk: int = option(3, "candidates in the final table and best.json", group=SEARCH)
    search_target: str = option("acc", "fitness: top-1, or top-1 - score-acc-ratio x normalised score",
                                choices=SEARCH_TARGETS, group=SEARCH)
    score_acc_ratio: float = option(0.1, "balanced_flop_acc: weight of the score", group=SEARCH)
    constraints: dict = dataclasses.field(default_factory=dict)  # Constraints options
    latency_table: Optional[str] = option(None, "latency table of this network config (`python -m oneshot_nas "
                                                "latency-table`)", type=str, metavar="FILE", group=GROUP)
    latency_batch_size: Optional[int] = option(None, "which of the table's batch sizes the latency limit is for "
                                                     "(default: its first)", type=int, group=GROUP)

    @property
    def search_space_obj(self) -> SearchSpace:
        return SearchSpace.from_dict(self.space)

    def stages(self) -> List[str]:
        """Searched genes per stage: two-stage = blocks first, then channels on the best blocks."""
        return ["block", "channel"] if self.two_stage else [self.search_space]

    def validate(self) -> None:
        if self.search_mode not in SEARCH_MODES:
            raise OneShotError(f"unknown --search-mode {self.search_mode!r}; choose one of {', '.join(SEARCH_MODES)}")
        if self.search_target not in SEARCH_TARGETS:
            raise OneShotError(f"unknown --search-target {self.search_target!r}; choose one of {', '.join(SEARCH_TARGETS)}")
        for name in ("population_size", "search_iters", "topk", "update_bn_images", "batch_size"):
            if getattr(self, name) < 1:
                raise OneShotError(f"--{name.replace('_', '-')} must be at least 1, not {getattr(self, name)}")
        if self.val_images is not None and self.val_images < 1:
            raise OneShotError(f"--val-images must be at least 1 (or left out for all), not {self.val_images}")
        if not 0 <= self.retain_length <= self.population_size:
            raise OneShotError(f"--retain-length {self.retain_length} must be between 0 and --population-size "
                               f"{self.population_size}")
        for name in ("random_select", "mutate_chance"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise OneShotError(f"--{name.replace('_', '-')} is a probability in [0, 1], not {getattr(self, name)}")
        if self.two_stage and self.search_mode != "genetic":
            raise OneShotError("--two-stage is a genetic search mode; drop it or use --search-mode genetic")


class Records:
    """``records.jsonl``: one line per evaluation, appended and flushed as it happens."""

    def __init__(self, path: str):
        self.path = path
        self.by_candidate: Dict[str, dict] = {}

    def load(self) -> None:
        if not os.path.exists(self.path):
            return
        good = []
        for line, record in read_json_lines(self.path, "the search records are damaged - start afresh in another "
                                                       "--out-dir"):
            good.append(line)
            self.by_candidate[record["candidate"]] = record
        atomic_write_text(self.path, "".join(line + "\n" for line in good))

    def add(self, record: dict) -> None:
        self.by_candidate[record["candidate"]] = record
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()

    def ranked(self) -> List[dict]:
        return sorted(self.by_candidate.values(), key=lambda r: (-r["fitness"], r["candidate"]))


class Search:
    def __init__(self, cfg: SearchConfig, resume: bool = False):
        cfg.validate()
        self.cfg, self.space, self.ctx = cfg, cfg.search_space_obj, cfg.contexts()
        preflight(cfg.out_dir, 64 << 20, "the search's --out-dir")
        self.lock = FolderLock(cfg.out_dir, "another search").acquire()
        self.state_path = os.path.join(cfg.out_dir, "state.json")
        self.records = Records(os.path.join(cfg.out_dir, "records.jsonl"))
        self._start(resume)
        table = (LookupTable.load(cfg.lookup_table, expected_space=self.space) if cfg.lookup_table
                 else LookupTable.build(self.space, method="formula"))
        latency = LatencyTable.load(cfg.latency_table, expected_space=self.space) if cfg.latency_table else None
        self.check = Constraints(**cfg.constraints).check(table, latency, cfg.latency_batch_size)
        self.costs = self.check.model
        self._validate_fixed_genes()
        self.check.require_reachable(*self._stage_genes(cfg.stages()[0], None))
        self.rng = np.random.default_rng(cfg.seed)
        self.evaluator: Optional[Evaluator] = None  # built on first use: a finished search needs no supernet
        self.generation_label = ""

    def _validate_fixed_genes(self) -> None:
        n = self.space.num_layers
        for flag, genes, kind in (("--fixed-block-choices", self.cfg.fixed_block_choices, "block"),
                                  ("--fixed-channel-choices", self.cfg.fixed_channel_choices, "channel")):
            if genes is None:
                continue
            try:
                self.space.validate(Candidate(tuple(genes), (0,) * n) if kind == "block"
                                    else Candidate((0,) * n, tuple(genes)))
            except OneShotError as e:
                raise OneShotError(f"{flag}: {e}") from None

    # ---- start / resume ----------------------------------------------------------------------
    def _start(self, resume: bool) -> None:
        config = json.loads(json.dumps(dataclasses.asdict(self.cfg)))
        config_path = os.path.join(self.cfg.out_dir, "config.json")
        if resume:
            if not os.path.exists(self.state_path):
                raise OneShotError(f"no search state in {self.cfg.out_dir} to resume; run without --resume")
            with open(config_path) as f:
                saved = json.load(f)
            if saved != config:
                changed = sorted(k for k in set(saved) | set(config) if saved.get(k) != config.get(k))
                raise OneShotError(f"the search in {self.cfg.out_dir} was started with other options "
                                   f"({', '.join(changed)} differ); resume with the same options or use another --out-dir")
            self.records.load()
        elif os.path.exists(self.state_path) or os.path.exists(self.records.path):
            raise OneShotError(f"{self.cfg.out_dir} already holds a search; pass --resume to continue it, or choose "
                               "another --out-dir")
        atomic_write_text(config_path, json.dumps(config, indent=1))

    def _load_state(self) -> Optional[dict]:
        if not os.path.exists(self.state_path):
            return None
        try:
            with open(self.state_path) as f:
                return json.load(f)
        except ValueError:
            raise OneShotError(f"{self.state_path} is damaged; start afresh in another --out-dir") from None

    def _save_state(self, stage: int, generation: int, population: List[Candidate], finished: bool = False) -> None:
        atomic_write_text(self.state_path, json.dumps({
            "stage": stage, "generation": generation, "population": [str(c) for c in population],
            "rng": self.rng.bit_generator.state, "finished": finished}))

    # ---- the pieces --------------------------------------------------------------------------
    def _stage_genes(self, mode: str, best_blocks):
        """(allowed block genes per layer, allowed channel genes per layer) of a stage, for reachability."""
        _, blocks, channels = self._fixed(mode, best_blocks)
        return ([[b] for b in blocks] if blocks else None, [[c] for c in channels] if channels else None)

    def _fixed(self, mode: str, best_blocks):
        """(searched genes, fixed blocks or None, fixed channels or None) of a stage."""
        c = self.cfg
        blocks, channels = best_blocks or c.fixed_block_choices, c.fixed_channel_choices
        if mode == "joint":
            if blocks and channels:
                raise OneShotError("both --fixed-block-choices and --fixed-channel-choices are given: nothing is "
                                   "left to search")
            # a fixed half leaves the other half to search
            return ("channel" if blocks else "block" if channels else "joint"), blocks, channels
        if mode == "block":
            if c.fixed_block_choices and not best_blocks:
                raise OneShotError("a block search searches the blocks: drop --fixed-block-choices")
            # SPOS's block-only search: unless told otherwise, every block at its standard width (scale 1.0)
            return "block", None, channels or [self.space.scale_tenths.index(10)] * self.space.num_layers
        if not blocks:
            raise OneShotError("a channel search needs the blocks: pass --fixed-block-choices")
        if channels and not best_blocks:
            raise OneShotError("a channel search searches the channels: drop --fixed-channel-choices")
        return "channel", blocks, None

    def _proposer(self, mode: str, best_blocks) -> Proposer:
        mode, blocks, channels = self._fixed(mode, best_blocks)
        self.check.require_reachable(*self._stage_genes(mode, best_blocks))
        return Proposer(self.space, self.check, self.rng, mode, fixed_blocks=blocks, fixed_channels=channels)

    def _searcher(self, proposer: Proposer):
        c = self.cfg
        if c.search_mode == "random":
            return RandomSearch(proposer, self.fitness, c.search_iters, c.population_size), None
        return GeneticSearch(proposer, self.fitness, c.population_size, c.retain_length, c.random_select,
                             c.mutate_chance), c.search_iters

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
            result = self.evaluator(candidate)
            cost, score = self.costs.cost(candidate), self.costs.score(candidate)
            self.records.add({
                "candidate": key, "top1": result.top1, "top5": result.top5, "flops": cost.flops,
                "params": cost.params, "normalized_score": score,
                **({"latency_ms": self.costs.latency_ms(candidate)} if self.costs.latency is not None else {}),
                "fitness": self._target(result.top1, score), "generation": self.generation_label,
                "recal_seconds": round(result.recal_seconds, 3), "val_seconds": round(result.val_seconds, 3),
                "seconds": round(result.recal_seconds + result.val_seconds, 3), "bn_images": result.bn_images,
                "val_images": result.val_images, "split": self.cfg.val_split})
        return self.records.by_candidate[key]["fitness"]

    def _target(self, top1: float, score: float) -> float:
        if self.cfg.search_target == "balanced_flop_acc":
            return top1 - self.cfg.score_acc_ratio * score
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
        state = self._load_state()
        if state and state.get("finished"):
            LOG.info("the search in %s has finished; its results stand", c.out_dir)
            return self._finish()
        if state:
            self.rng.bit_generator.state = state["rng"]
        stages = c.stages()
        first_stage = state["stage"] if state else 0
        for stage in range(first_stage, len(stages)):
            best_blocks = self._best_blocks() if stages[stage] == "channel" and c.two_stage else None
            proposer = self._proposer(stages[stage], best_blocks)
            searcher, generations = self._searcher(proposer)
            generations = generations or searcher.num_generations
            resuming = state and state["stage"] == stage
            population = ([Candidate.parse(s) for s in state["population"]] if resuming
                          else searcher.initial_population())
            start = state["generation"] if resuming else 0
            if not resuming:
                self._save_state(stage, 0, population)
            for generation in range(start, generations):
                self.generation_label = self._label(stages[stage], generation)
                tic = time.time()
                ranked, population = searcher.generation(population)
                self._report_generation(stages[stage], generation, generations, ranked, time.time() - tic)
                self._save_state(stage, generation + 1, population)
            state = None
        self._save_state(len(stages), 0, [], finished=True)
        LOG.info("search finished in %.0f s; %d candidates evaluated in all", time.time() - self.started,
                 len(self.records.by_candidate))
        return self._finish()

    def _label(self, stage: str, generation: int) -> str:
        return f"{stage}-{generation}" if self.cfg.two_stage else str(generation)

    def _best_blocks(self) -> List[int]:
        block_records = [r for r in self.records.ranked() if r["generation"].startswith("block-")]
        return list(Candidate.parse(block_records[0]["candidate"]).blocks)

    def _report_generation(self, stage: str, generation: int, generations: int, ranked: Ranked, seconds: float):
        records = [self.records.by_candidate[str(cand)] for _, cand in ranked]
        best = records[0]
        top1 = [r["top1"] for r in records]
        LOG.info("[%s search, %s] generation %d/%d: %d candidates, best %s fitness %.4f top-1 %.4f "
                 "(%.2fM FLOPs, %.3fM params, score %.4f), mean top-1 %.4f, %.1f s",
                 self.cfg.search_mode, stage, generation + 1, generations, len(records), best["candidate"],
                 best["fitness"], best["top1"], best["flops"] / 1e6, best["params"] / 1e6,
                 best["normalized_score"], float(np.mean(top1)), seconds)
        self._write_generation_files(self._label(stage, generation), records)

    def _write_generation_files(self, label: str, records: List[dict]) -> None:
        plot_dir = os.path.join(self.cfg.out_dir, "plots")
        os.makedirs(plot_dir, exist_ok=True)
        atomic_write_text(os.path.join(plot_dir, f"generation-{label}.json"),
                          json.dumps([r["candidate"] for r in records]))
        plots.search_scatter(records, os.path.join(plot_dir, f"generation-{label}.png"),
                             title=f"generation {label}", comparison=self.costs.comparison_model)

    # ---- results -----------------------------------------------------------------------------
    def generations(self) -> List[tuple]:
        """(label, records of that generation's population) in order, from the saved population lists."""
        plot_dir = os.path.join(self.cfg.out_dir, "plots")
        out = []
        for stage in self.cfg.stages():
            generation = 0
            while True:
                path = os.path.join(plot_dir, f"generation-{self._label(stage, generation)}.json")
                if not os.path.exists(path):
                    break
                with open(path) as f:
                    out.append((self._label(stage, generation),
                                [self.records.by_candidate[k] for k in json.load(f)]))
                generation += 1
        return out

    def _finish(self) -> dict:
        c = self.cfg
        ranked = self.records.ranked()
        if not ranked:
            raise OneShotError("the search evaluated no candidate")
        top = ranked[:c.topk]
        LOG.info(topk_table(top, c.topk, self.costs.comparison_model))
        by_generation = self.generations()
        plot_dir = os.path.join(c.out_dir, "plots")
        plots.search_progress(by_generation, os.path.join(c.out_dir, "progress.png"))
        plots.search_gif(by_generation, os.path.join(c.out_dir, "search.gif"),
                         comparison=self.costs.comparison_model)
        best = best_json(top, self.space, c)
        atomic_write_text(os.path.join(c.out_dir, "best.json"), json.dumps(best, indent=1))
        LOG.info("wrote %s/best.json, records.jsonl, progress.png, search.gif and %s/generation-*.png; train the "
                 "winner from scratch with: %s", c.out_dir, plot_dir, best["train_command"])
        return best


def build_evaluator(c: SearchConfig, space: SearchSpace, ctx) -> Evaluator:
    """The supernet of ``c`` loaded, BN recalibration batches from the training part, validation batches
    from ``c.val_split`` (the hold-out, unless told otherwise)."""
    supernet = Supernet(space)
    supernet.initialize(ctx=ctx)
    load_supernet(supernet, c.supernet_params, ctx)
    batch = c.batch_size * len(ctx)
    train, val = data.make_pipelines(c, space, batch, c.seed, val_limit=c.val_images)
    size = space.input_size
    bn = data.ReplayableBatches(lambda: train.iter_fixed_subset(c.update_bn_images, c.seed + 1, c.batch_size),
                                c.update_bn_images, size)
    validation = data.ReplayableBatches(lambda: val.epoch_batches(0), val.num_examples, size)
    LOG.info("evaluation: BN recalibration on %d training images, validation on %d images of the %s split, "
             "%d device(s); %s", min(c.update_bn_images, train.num_examples), val.num_examples, c.val_split,
             len(ctx), train.split.describe())
    if c.val_split == "test":
        LOG.warning("candidates are scored on the test split: a result reported on that split is then biased by "
                    "the selection; hold training images out instead (--holdout N --val-split holdout)")
    RunFolder(c.out_dir).write_split(train.split)
    return Evaluator(supernet, bn, validation, ctx)


def load_supernet(supernet: Supernet, path: str, ctx) -> None:
    if not os.path.exists(path):
        raise OneShotError(f"supernet params {path} do not exist; train one with scripts/train_supernet.sh "
                           "(runs/supernet/last.params) or pass --supernet-params")
    from ..original import load_into
    if load_into(supernet, path):  # a supernet trained by the original codebase (its structural names)
        LOG.info("loaded %s: a supernet saved by the original codebase, mapped onto ours", path)
        return
    try:
        supernet.load_parameters(path, ctx=ctx)
    except (AssertionError, mx.base.MXNetError, ValueError, OSError) as e:
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise OneShotError(f"cannot load {path} into a supernet of {supernet.space.describe()} ({first}); the params "
                           "come from another network config (check --use-se, --last-conv-after-pooling, "
                           "--channels-layout, --input-size, --first-conv-stride, --num-classes) or the file is damaged") from None


def topk_table(top: List[dict], k: int, comparison: str) -> str:
    lines = [f"Top {k} candidates (by fitness):",
             f"{'rank':<5} {'candidate':<42} {'top-1':>7} {'top-5':>7} {'FLOPs':>9} {'params':>8} {'score':>7}"]
    for i, r in enumerate(top, 1):
        lines.append(f"{i:<5} {r['candidate']:<42} {r['top1']:>7.4f} {r['top5']:>7.4f} {r['flops'] / 1e6:>8.2f}M "
                     f"{r['params'] / 1e6:>7.3f}M {r['normalized_score']:>7.4f}")
    for i, r in enumerate(top, 1):
        cand = Candidate.parse(r["candidate"])
        lines.append(f"[{i}] Block choices:   {','.join(map(str, cand.blocks))}")
        lines.append(f"[{i}] Channel choices: {','.join(map(str, cand.channels))}")
    lines.append(f"(score = FLOPs/F_ref + params/P_ref against {comparison})")
    return "\n".join(lines)


def best_json(top: List[dict], space: SearchSpace, cfg: SearchConfig) -> dict:
    best = top[0]
    cand = Candidate.parse(best["candidate"])
    # the `train` options that rebuild the space, spelled as on the command line
    flags = {k.replace("_", "-"): v for k, v in space.to_flags().items() if v or k != "first_conv_stride"}
    command = ["python -m oneshot_nas train --model ShuffleNas_fixArch",
               f"--candidate-file {os.path.join(cfg.out_dir, 'best.json')}"]
    return {"candidate": best["candidate"], "block_choices": ",".join(map(str, cand.blocks)),
            "channel_choices": ",".join(map(str, cand.channels)),
            **{k: best[k] for k in ("top1", "top5", "flops", "params", "normalized_score", "fitness")},
            "flags": flags, "train_command": " ".join(command), "topk": top,
            "search": {"supernet_params": cfg.supernet_params, "search_mode": cfg.search_mode,
                       "search_space": "two-stage" if cfg.two_stage else cfg.search_space,
                       "constraints": cfg.constraints, "seed": cfg.seed}}
