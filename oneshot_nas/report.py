"""The final table of trained-from-scratch runs: one row per architecture, its seeds pooled."""
from __future__ import annotations

import os
import re
from typing import Dict, List

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
                                          "splits": set()})
        if group["candidate"] != config["candidate"]:
            raise OneShotError(f"runs labelled {label} trained different architectures; name their folders apart")
        group["runs"].append((config["seed"], 1.0 - last["val_err_top1"], last["epoch"] + 1))
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
