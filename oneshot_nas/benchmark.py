"""A stand-alone benchmark: ground truth for the supernet's ranking.

Subnets drawn uniformly (seeded) under the search's constraint, plus published architectures with the same
network flags, are each trained from scratch with one recipe for every seed, on the training part only,
and tested on the whole test split. One JSON line per (subnet, seed) goes to the benchmark file as soon as
its run ends; the plan (recipe, network, split, subnets) sits beside it in ``FILE.meta.json``.

Resume: a (subnet, seed) already in the file is not trained again, and a run killed half-way continues
from its own last checkpoint (``work_dir/<subnet>-seed<N>``), so a benchmark of hours survives kills. Several
processes may build one file side by side: each skips the runs another is training; shards (``--shard K/N``)
split the subnets between them beforehand.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .costs import LookupTable, formula_cost
from .errors import FolderInUse, OneShotError
from .search.constraints import Constraints, upgraded
from .search.proposer import Proposer
from .search.stages import StagePlan
from .space import Candidate, SearchSpace
from .utils import FolderLock, atomic_write_text, changed_settings, exclusive, read_json_lines

LOG = logging.getLogger("oneshot_nas")
# Options of the recipe that name one run or one invocation, not the recipe.
PER_RUN_FIELDS = ("candidate", "seed", "save_dir", "overwrite", "deterministic", "log_interval")


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a benchmark file holds: the subnets (name -> compact string), the seeds and the recipe."""

    subnets: Dict[str, str]
    seeds: List[int]
    recipe: dict            # a TrainConfig as a dict, without the per-run fields
    constraints: dict
    sample_seed: int
    # None: the subnets were drawn over all genes; else the drawn genes and the ones kept fixed (a StagePlan as a
    # dict), e.g. SPOS's block search: blocks drawn, every channel at scale 1.0 (a plan without it is joint)
    genes: Optional[dict] = None

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))


def draw_subnets(space: SearchSpace, constraints: Constraints, num: int, seed: int,
                 genes: Optional[StagePlan] = None) -> List[Candidate]:
    """``num`` distinct candidates drawn uniformly from the space (over ``genes.searched`` only, the others
    fixed, when given), kept when they meet the constraints (rejection sampling: uniform over the constrained
    set)."""
    genes = genes or StagePlan("joint", None, None)
    check = constraints.check(LookupTable.build(space, method="formula"))
    check.require_reachable(*genes.allowed_genes())
    proposer = Proposer(space, check, np.random.default_rng(seed), genes.searched, fixed_blocks=genes.fixed_blocks,
                        fixed_channels=genes.fixed_channels)
    drawn: List[Candidate] = []
    for _ in range(100 * num):
        cand = proposer.random()
        if cand not in drawn:
            drawn.append(cand)
        if len(drawn) == num:
            return drawn
    raise OneShotError(f"only {len(drawn)} distinct subnets meet {constraints.describe()}; ask for fewer")


def recipe_of(template) -> dict:
    """A TrainConfig as the plan's recipe: every option but those that name one run (:data:`PER_RUN_FIELDS`)."""
    return {k: v for k, v in dataclasses.asdict(template).items() if k not in PER_RUN_FIELDS}


def make_plan(template, constraints: Constraints, num_subnets: int, seeds: Sequence[int], sample_seed: int,
              zoo_names: Sequence[str], genes: Optional[StagePlan] = None) -> Plan:
    """The plan of a benchmark for ``template`` (a TrainConfig whose space, recipe and split all runs share);
    ``genes``: draw only these genes (None: all)."""
    from . import zoo
    space = template.search_space
    drawn = draw_subnets(space, constraints, num_subnets, sample_seed, genes)
    subnets = {f"random-{i:02d}": str(c) for i, c in enumerate(drawn)}
    for name in zoo_names:
        subnets[name] = str(zoo.get(name).candidate)
    joint = genes is None or genes.searched == "joint"
    return Plan(subnets=subnets, seeds=list(seeds), recipe=recipe_of(template),
                constraints=dataclasses.asdict(constraints), sample_seed=sample_seed,
                genes=None if joint else dataclasses.asdict(genes))


def recipe_differences(old: dict, new: dict) -> List[str]:
    """'name: old -> new' for every recipe option that differs; an option that only one side has (a newer
    or older version of this project) counts only when its value is not the option's default."""
    from .train_config import with_defaults
    old, new = with_defaults(old), with_defaults(new)
    return changed_settings(old, new, [key for key in sorted(old) if key not in PER_RUN_FIELDS])


def read_benchmark(path: str) -> List[dict]:
    """The lines of a benchmark file (a torn last line, from a kill mid-write, is left out)."""
    if not os.path.exists(path):
        raise OneShotError(f"benchmark file {path} does not exist; build one with `python -m oneshot_nas benchmark`")
    rows = []
    for number, (_, row) in enumerate(read_json_lines(path, "the benchmark file is damaged"), 1):
        if not isinstance(row, dict) or not {"candidate", "seed", "top1"} <= set(row):
            raise OneShotError(f"{path}: line {number} lacks candidate, seed or top1: not a benchmark line")
        rows.append(row)
    return rows


def run_keys(rows: List[dict]) -> set:
    """The (candidate, seed) pairs that benchmark lines record."""
    return {(r["candidate"], r["seed"]) for r in rows}


def saved_plan(path: str) -> Optional[dict]:
    """The plan saved beside a benchmark file (``FILE.meta.json``), or None before its first run."""
    if not os.path.exists(path + ".meta.json"):
        return None
    with open(path + ".meta.json") as f:
        return json.load(f).get("plan", {})


def mean_top1(rows: List[dict]) -> Dict[str, dict]:
    """Per candidate: mean test top-1 over its seeds, the seeds' values, its name and costs."""
    out: Dict[str, dict] = {}
    for row in rows:
        entry = out.setdefault(row["candidate"], {"name": row.get("name"), "flops": row.get("flops"),
                                                  "params": row.get("params"), "top1_by_seed": {}})
        entry["top1_by_seed"][row["seed"]] = row["top1"]
    for entry in out.values():
        entry["top1"] = float(np.mean(list(entry["top1_by_seed"].values())))
    return out


def parse_shard(text: str) -> Tuple[int, int]:
    """``"K/N"`` -> (K, N): the K-th of N processes sharing one benchmark."""
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        k = n = 0
    if not 1 <= k <= n:
        raise OneShotError(f"--shard takes K/N with 1 <= K <= N (this process's part of N), e.g. 1/2, not {text!r}")
    return k, n


class Benchmark:
    """Trains the plan's (subnet, seed) runs in order, subnet by subnet (both seeds of a subnet before the
    next), so a partial file already pairs seeds for the subnets it holds.

    Any number of processes may work on one file at once: each append holds ``FILE.lock``, and a run whose folder
    another process holds (it is training that run) is skipped and left to it, so processes started side by side
    share the runs as they come. ``shard=(K, N)``: this process trains only every N-th subnet from the K-th on."""

    def __init__(self, path: str, work_dir: str, plan: Plan, command: str, shard: Tuple[int, int] = (1, 1)):
        self.path, self.work_dir, self.plan, self.command, self.shard = path, work_dir, plan, command, shard
        self.meta_path = path + ".meta.json"
        self.runs = [(name, cand, seed) for name, cand in plan.subnets.items() for seed in plan.seeds]

    def _check_meta(self) -> None:
        meta = {"plan": self.plan.to_dict()}
        old = saved_plan(self.path)
        if old is not None:
            new = meta["plan"]
            old["constraints"] = upgraded(old.get("constraints", {}))
            detail = recipe_differences(old.get("recipe", {}), new["recipe"])
            changed = sorted(k for k in set(old) | set(new) if k != "recipe" and old.get(k) != new.get(k))
            changed += ["recipe"] if detail else []
            if changed:
                raise OneShotError(f"{self.path} was built with another plan ({', '.join(changed)} differ"
                                   + (f": {'; '.join(detail[:5])}" if detail else "")
                                   + "); continue it with the same options, or write another benchmark file")
        else:
            atomic_write_text(self.meta_path, json.dumps({**meta, "command": self.command,
                                                          "started": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=1))

    def _recorded(self) -> List[dict]:
        return read_benchmark(self.path) if os.path.exists(self.path) else []

    def pending(self, done: List[dict]) -> List[tuple]:
        """This shard's runs not in ``done``, in plan order."""
        k, n = self.shard
        mine = set(list(self.plan.subnets)[k - 1::n])
        have = run_keys(done)
        return [(name, cand, seed) for name, cand, seed in self.runs if name in mine and (cand, seed) not in have]

    def run(self, train) -> List[dict]:
        """``train(config) -> last epoch's record``: one from-scratch run, resuming in ``config.save_dir``.
        Returns every line of the file (all shards')."""
        os.makedirs(self.work_dir, exist_ok=True)
        k, n = self.shard
        with exclusive(self.path + ".lock"):
            self._check_meta()
            done = self._recorded()
            if done:  # rewritten whole: a line torn by a kill must not run into the next one appended
                atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in done))
        todo = self.pending(done)
        LOG.info("benchmark %s%s: %d of %d runs done, %d to go here", self.path,
                 f" (shard {k}/{n})" if n > 1 else "", len(done), len(self.runs), len(todo))
        left = [f"{name} seed {seed}" for name, cand, seed in todo if not self._one(name, cand, seed, train)]
        if left:
            LOG.info("benchmark: %d run(s) left to the processes training them (%s); run again after they stop if "
                     "any of them was killed", len(left), ", ".join(left))
        return read_benchmark(self.path)

    def _one(self, name: str, cand: str, seed: int, train) -> bool:
        """Train and record one run; False when another process is training it (left to that process)."""
        from .train_config import TrainConfig
        run_dir = os.path.join(self.work_dir, f"{name}-seed{seed}")
        cfg = TrainConfig(**self.plan.recipe, candidate=cand, seed=seed, save_dir=run_dir)
        number, total = self.runs.index((name, cand, seed)) + 1, len(self.runs)
        holder = FolderLock.holder(run_dir)
        if holder is None:
            LOG.info("benchmark run %d/%d: %s (%s), seed %d, in %s", number, total, name, cand, seed, run_dir)
            tic = time.time()
            try:
                return self._record(name, number, cfg, train(cfg), time.time() - tic)
            except FolderInUse as e:  # taken by another process between the look and the start
                if os.path.realpath(e.folder) != os.path.realpath(run_dir):
                    raise
                holder = "another process"
        LOG.info("benchmark run %d/%d: %s seed %d is being trained by PID %s; left to it", number, total, name, seed,
                 holder)
        return False

    def _record(self, name: str, number: int, cfg, record: dict, seconds: float) -> bool:
        """Append the line of finished run ``number`` (1-based, plan order), once whoever finishes it."""
        cand, seed, run_dir, total = cfg.candidate, cfg.seed, cfg.save_dir, len(self.runs)
        cost = formula_cost(cfg.search_space, Candidate.parse(cand))
        row = {"candidate": cand, "name": name, "seed": seed, "top1": 1.0 - record["val_err_top1"],
               "top5": 1.0 - record["val_err_top5"], "split": record["val_split"],
               "test_images": record["val_images"], "flops": cost.flops, "params": cost.params,
               "epochs": cfg.num_epochs, "seconds": round(seconds, 1), **_training_time(run_dir), "run_dir": run_dir}
        with exclusive(self.path + ".lock"):
            if (cand, seed) in run_keys(self._recorded()):
                LOG.warning("benchmark run %d/%d: %s seed %d was recorded meanwhile by another process; not written "
                            "twice", number, total, name, seed)
                return True
            with open(self.path, "a") as f:
                f.write(json.dumps(row) + "\n")
                f.flush()
                os.fsync(f.fileno())
        LOG.info("benchmark run %d/%d: %s seed %d: test top-1 %.4f (%d images), %.0f s", number, total, name, seed,
                 row["top1"], row["test_images"], row["seconds"])
        return True


def _training_time(run_dir: str) -> dict:
    """``train_seconds``: the run's training time summed over its epochs, whichever invocations trained them
    (``seconds`` is only the wall time of the invocation that finished the run); empty without a history."""
    from .run_folder import RunFolder
    folder = RunFolder(run_dir)
    if not os.path.exists(folder.history_path):
        return {}
    return {"train_seconds": round(sum(r.get("train_seconds", 0.0) for r in folder.history()), 1)}


def train_one(cfg) -> dict:
    """One benchmark run: train ``cfg`` to its end (resuming a killed run) and check it tested on the whole test
    split."""
    from .training import train_to_end
    record = train_to_end(cfg)
    if record.get("val_split") != "test" or cfg.val_limit:
        raise OneShotError("a benchmark tests on the whole test split: its recipe needs --val-split test and no "
                           "--val-limit")
    return record


def seed_agreement(rows: List[dict], bootstrap: int = 2000) -> Optional[dict]:
    """Spearman rho between the first two seeds' top-1 across the subnets both seeds hold, with a bootstrap 95%
    interval over the subnets, the seed-to-seed spread (mean and largest |difference|), and the reliability of
    the two seeds' mean that rho implies (Spearman-Brown, 2 rho / (1 + rho)): read as a test-retest correlation,
    it bounds how well any ranking can correlate with the benchmark's mean top-1."""
    from .statistics import correlations
    seeds = sorted({r["seed"] for r in rows})
    if len(seeds) < 2:
        return None
    a = {r["candidate"]: r["top1"] for r in rows if r["seed"] == seeds[0]}
    b = {r["candidate"]: r["top1"] for r in rows if r["seed"] == seeds[1]}
    both = sorted(set(a) & set(b))
    if len(both) < 3:
        return None
    x, y = [a[c] for c in both], [b[c] for c in both]
    stats = correlations(x, y, bootstrap)
    rho = stats["spearman_rho"]
    diffs = np.abs(np.subtract(x, y))
    return {"seeds": seeds[:2], "subnets": len(both), "spearman_rho": rho,
            "spearman_rho_ci95": stats["spearman_rho_ci95"],
            "two_seed_mean_reliability": None if rho is None or 1 + rho < 1e-9 else 2 * rho / (1 + rho),
            "mean_abs_diff": float(diffs.mean()), "max_abs_diff": float(diffs.max()),
            "top1_range": [float(min(x + y)), float(max(x + y))]}
