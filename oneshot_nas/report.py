"""The final table of trained-from-scratch runs: one row per architecture, its seeds pooled; optionally where
each architecture falls against a stand-alone benchmark trained with the same recipe, and the paired difference
of two architectures over the seeds they share (a pipeline seed trains its picks with its own seed)."""
from __future__ import annotations

import dataclasses
import os
import re
from typing import Dict, List, Optional

import numpy as np

from .costs.tables import formula_cost, normalized_score
from .errors import OneShotError
from .run_folder import finished_run
from .space import Candidate, SearchSpace


@dataclasses.dataclass(frozen=True, order=True)
class Run:
    """One finished from-scratch run, as the table needs it."""

    seed: int
    top1: float
    epochs: int
    candidate: str
    run_dir: str
    config: dict = dataclasses.field(compare=False, repr=False)  # as saved: `--benchmark` checks its recipe


def group_runs(run_dirs: List[str], pool_architectures: bool = False) -> Dict[str, dict]:
    """Runs grouped by label: the folder name without its ``-seedN`` suffix. One architecture per label, unless
    ``pool_architectures`` (a role such as "searched" whose every seed picked its own architecture)."""
    groups: Dict[str, dict] = {}
    for run_dir in run_dirs:
        config, last = finished_run(run_dir)
        if not config.get("candidate"):
            raise OneShotError(f"{run_dir} trained a supernet; `report` compares fixed architectures")
        label = re.sub(r"-seed\d+$", "", os.path.basename(os.path.normpath(run_dir)))
        group = groups.setdefault(label, {"space": config["space"], "runs": [], "splits": set()})
        if any(r.candidate != config["candidate"] for r in group["runs"]) and not pool_architectures:
            raise OneShotError(f"runs labelled {label} trained different architectures; name their folders apart, "
                               "or pass --pool-architectures when each seed picked its own (the pick study)")
        group["runs"].append(Run(config["seed"], 1.0 - last["val_err_top1"], last["epoch"] + 1, config["candidate"],
                                 run_dir, config))
        group["splits"].add(last.get("val_split", config.get("val_split", "test")))
    return groups


def markdown(groups: Dict[str, dict], comparison_model: str) -> str:
    splits = set().union(*(g["splits"] for g in groups.values()))
    split = splits.pop() if len(splits) == 1 else "mixed: " + ", ".join(sorted(splits))
    lines = ["| architecture | candidate | FLOPs | params | norm. score | seeds | "
             f"top-1 on the {split} split (mean ± std) | per seed |",
             "| :-- | :-- | --: | --: | --: | --: | --: | :-- |"]
    for label, group in groups.items():
        space = SearchSpace.from_dict(group["space"])
        runs = sorted(group["runs"])
        costs = [formula_cost(space, Candidate.parse(r.candidate)) for r in runs]
        distinct = sorted({r.candidate for r in runs})
        top1 = np.array([r.top1 for r in runs])
        spread = f" ± {top1.std(ddof=1):.4f}" if len(top1) > 1 else ""
        # a role pooled over its seeds' own picks shows the mean cost and names each seed's pick
        name = f"`{distinct[0]}`" if len(distinct) == 1 else f"one per seed ({len(distinct)} distinct; costs: mean)"
        flops, params = np.mean([c.flops for c in costs]), np.mean([c.params for c in costs])
        score = np.mean([normalized_score(c, comparison_model) for c in costs])
        lines.append(f"| {label} | {name} | {flops / 1e6:.2f}M | {params / 1e6:.3f}M | {score:.4f} | {len(top1)} | "
                     f"{top1.mean():.4f}{spread} | "
                     + ", ".join(f"{r.top1:.4f} (seed {r.seed}, {r.epochs} ep."
                                 + (f", `{r.candidate}`)" if len(distinct) > 1 else ")") for r in runs) + " |")
    return "\n".join(lines) + "\n"


def paired_difference(groups: Dict[str, dict], first: str, second: str, level: float = 0.95) -> Optional[dict]:
    """``first`` minus ``second`` top-1 over the seeds both hold: mean, sample std and the Student-t interval
    of the mean difference (None below 2 shared seeds: no spread to build an interval from)."""
    from scipy import stats
    for label in (first, second):
        if label not in groups:
            raise OneShotError(f"no runs labelled {label!r} to compare; labels here: {', '.join(sorted(groups))}")
    a, b = ({r.seed: r.top1 for r in groups[label]["runs"]} for label in (first, second))
    seeds = sorted(set(a) & set(b))
    if len(seeds) < 2:
        return None
    diffs = np.array([a[s] - b[s] for s in seeds])
    half = stats.t.ppf(0.5 + level / 2, len(diffs) - 1) * diffs.std(ddof=1) / np.sqrt(len(diffs))
    return {"first": first, "second": second, "seeds": seeds, "differences": diffs.tolist(),
            "mean": float(diffs.mean()), "std": float(diffs.std(ddof=1)),
            "ci": [float(diffs.mean() - half), float(diffs.mean() + half)], "level": level}


def benchmark_standing(groups: Dict[str, dict], benchmark_path: str) -> Dict[str, dict]:
    """Per label: the share of the benchmark's random subnets whose mean top-1 lies below the label's mean, and
    the label's own benchmark entry when its architecture is in the benchmark. The runs must have been trained
    with the benchmark's recipe (else the comparison means nothing: refused, naming what differs)."""
    from .benchmark import mean_top1, read_benchmark, recipe_differences, saved_plan
    truth = mean_top1(read_benchmark(benchmark_path))
    random_means = np.array([e["top1"] for e in truth.values() if str(e.get("name", "")).startswith("random-")])
    if not len(random_means):
        raise OneShotError(f"{benchmark_path} holds no random-NN subnets yet: nothing to stand against")
    recipe = (saved_plan(benchmark_path) or {}).get("recipe")
    out = {}
    for label, group in groups.items():
        for run in group["runs"]:
            differ = recipe_differences(recipe, run.config) if recipe else []
            if differ:
                raise OneShotError(f"{run.run_dir} was not trained with the recipe of {benchmark_path} "
                                   f"({'; '.join(differ[:4])}); train the picks with it (pipeline.sh: FINAL_ARGS=\"\")")
        mean = float(np.mean([r.top1 for r in group["runs"]]))
        distinct = sorted({r.candidate for r in group["runs"]})
        found = [truth[c]["top1"] for c in distinct if c in truth]
        out[label] = {"share_of_random_below": float((random_means < mean).mean()),
                      "benchmark_top1": float(np.mean(found)) if found else None,
                      "in_benchmark": [len(found), len(distinct)]}
    return {"random_subnets": len(random_means), "random_median": float(np.median(random_means)),
            "random_range": [float(random_means.min()), float(random_means.max())], "labels": out}


def comparison_text(standing: Optional[dict], difference: Optional[dict], benchmark_path: str = "") -> str:
    lines = []
    if standing:
        low, high = standing["random_range"]
        lines.append(f"\nAgainst the {standing['random_subnets']} random subnets of {benchmark_path} (mean test "
                     f"top-1 over their seeds: median {standing['random_median']:.4f}, range {low:.4f}-{high:.4f}):\n")
        lines.append("| architecture | share of the benchmark's random subnets below it | its own benchmark top-1 |")
        lines.append("| :-- | --: | --: |")
        for label, s in standing["labels"].items():
            found, distinct = s["in_benchmark"]
            own = ("not in the benchmark" if not found else f"{s['benchmark_top1']:.4f}" if distinct == 1
                   else f"{s['benchmark_top1']:.4f} (mean of the {found} of {distinct} picks in it)")
            lines.append(f"| {label} | {s['share_of_random_below']:.2f} | {own} |")
    if difference:
        d = difference
        lines.append(f"\n{d['first']} minus {d['second']}, paired by seed ({', '.join(map(str, d['seeds']))}): "
                     f"{d['mean']:+.4f} ± {d['std']:.4f} (sample std), {d['level']:.0%} t-interval "
                     f"[{d['ci'][0]:+.4f}, {d['ci'][1]:+.4f}]; per seed "
                     + ", ".join(f"{x:+.4f}" for x in d["differences"]))
    return "\n".join(lines) + ("\n" if lines else "")
