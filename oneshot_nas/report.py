"""The final table of trained-from-scratch runs: one row per architecture, its seeds pooled; optionally where
each architecture falls against a stand-alone benchmark trained with the same recipe, and the paired difference
of two architectures over the seeds they share (a pipeline seed trains its picks with its own seed)."""
from __future__ import annotations

import os
import re
from typing import Dict, List, Optional

import numpy as np

from .costs.tables import formula_cost, normalized_score
from .errors import OneShotError
from .run_folder import finished_run
from .space import Candidate, SearchSpace


def group_runs(run_dirs: List[str]) -> Dict[str, dict]:
    """Runs grouped by label: the folder name without its ``-seedN`` suffix (one architecture per label)."""
    groups: Dict[str, dict] = {}
    for run_dir in run_dirs:
        config, last = finished_run(run_dir)
        if not config.get("candidate"):
            raise OneShotError(f"{run_dir} trained a supernet; `report` compares fixed architectures")
        label = re.sub(r"-seed\d+$", "", os.path.basename(os.path.normpath(run_dir)))
        group = groups.setdefault(label, {"candidate": config["candidate"], "space": config["space"], "runs": [],
                                          "dirs": [], "splits": set()})
        if group["candidate"] != config["candidate"]:
            raise OneShotError(f"runs labelled {label} trained different architectures; name their folders apart")
        group["runs"].append((config["seed"], 1.0 - last["val_err_top1"], last["epoch"] + 1))
        group["dirs"].append(run_dir)
        group["splits"].add(last.get("val_split", config.get("val_split", "test")))
    return groups


def markdown(groups: Dict[str, dict], comparison_model: str) -> str:
    splits = set().union(*(g["splits"] for g in groups.values()))
    split = splits.pop() if len(splits) == 1 else "mixed: " + ", ".join(sorted(splits))
    lines = ["| architecture | candidate | FLOPs | params | norm. score | seeds | "
             f"top-1 on the {split} split (mean ± std) | per seed |",
             "| :-- | :-- | --: | --: | --: | --: | --: | :-- |"]
    for label, group in groups.items():
        cost = formula_cost(SearchSpace.from_dict(group["space"]), Candidate.parse(group["candidate"]))
        top1 = np.array([t for _, t, _ in sorted(group["runs"])])
        spread = f" ± {top1.std(ddof=1):.4f}" if len(top1) > 1 else ""
        lines.append(f"| {label} | `{group['candidate']}` | {cost.flops / 1e6:.2f}M | {cost.params / 1e6:.3f}M | "
                     f"{normalized_score(cost, comparison_model):.4f} | {len(top1)} | "
                     f"{top1.mean():.4f}{spread} | "
                     + ", ".join(f"{t:.4f} (seed {s}, {e} ep.)" for s, t, e in sorted(group["runs"])) + " |")
    return "\n".join(lines) + "\n"


def paired_difference(groups: Dict[str, dict], first: str, second: str, level: float = 0.95) -> Optional[dict]:
    """``first`` minus ``second`` top-1 over the seeds both hold: mean, sample std and the Student-t interval
    of the mean difference (None below 2 shared seeds: no spread to build an interval from)."""
    from scipy import stats
    for label in (first, second):
        if label not in groups:
            raise OneShotError(f"no runs labelled {label!r} to compare; labels here: {', '.join(sorted(groups))}")
    a, b = ({seed: top1 for seed, top1, _ in groups[label]["runs"]} for label in (first, second))
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
    from .run_folder import RunFolder
    truth = mean_top1(read_benchmark(benchmark_path))
    random_means = np.array([e["top1"] for e in truth.values() if str(e.get("name", "")).startswith("random-")])
    if not len(random_means):
        raise OneShotError(f"{benchmark_path} holds no random-NN subnets yet: nothing to stand against")
    recipe = (saved_plan(benchmark_path) or {}).get("recipe")
    out = {}
    for label, group in groups.items():
        for run_dir in group["dirs"]:
            differ = recipe_differences(recipe, RunFolder(run_dir).config()) if recipe else []
            if differ:
                raise OneShotError(f"{run_dir} was not trained with the recipe of {benchmark_path} "
                                   f"({'; '.join(differ[:4])}); train the picks with it (pipeline.sh: FINAL_ARGS=\"\")")
        mean = float(np.mean([t for _, t, _ in group["runs"]]))
        entry = truth.get(group["candidate"])
        out[label] = {"share_of_random_below": float((random_means < mean).mean()),
                      "benchmark_top1": entry["top1"] if entry else None}
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
            own = f"{s['benchmark_top1']:.4f}" if s["benchmark_top1"] is not None else "not in the benchmark"
            lines.append(f"| {label} | {s['share_of_random_below']:.2f} | {own} |")
    if difference:
        d = difference
        lines.append(f"\n{d['first']} minus {d['second']}, paired by seed ({', '.join(map(str, d['seeds']))}): "
                     f"{d['mean']:+.4f} ± {d['std']:.4f} (sample std), {d['level']:.0%} t-interval "
                     f"[{d['ci'][0]:+.4f}, {d['ci'][1]:+.4f}]; per seed "
                     + ", ".join(f"{x:+.4f}" for x in d["differences"]))
    return "\n".join(lines) + ("\n" if lines else "")
