"""Does the supernet rank subnets correctly? K subnets drawn under a constraint are scored twice: by the
supernet (a random search of K candidates: BN recalibration + validation) and by training each from
scratch; the two rankings are compared with Kendall's tau and Spearman's rho.

Everything resumes: the supernet scores are the random search's records, and each stand-alone training
is a `train` run with its own checkpoints in OUT_DIR/subnet-NN.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Callable, List

from .errors import OneShotError
from .search.run import Search, SearchConfig
from .training import read_history
from .utils import atomic_write_text

LOG = logging.getLogger("oneshot_nas")


def supernet_scores(cfg: SearchConfig, num_subnets: int, resume: bool) -> List[dict]:
    """The K candidates and their supernet top-1: a random search of exactly K qualified candidates."""
    cfg = dataclasses.replace(cfg, search_mode="random", search_iters=num_subnets, population_size=num_subnets,
                              retain_length=0,
                              two_stage=False, topk=min(cfg.topk, num_subnets))
    search = Search(cfg, resume=resume)
    search.run()
    return sorted(search.records.by_candidate.values(), key=lambda r: r["candidate"])


def standalone_top1(run_dir: str) -> float:
    """Validation top-1 of a finished `train` run's last epoch."""
    path = os.path.join(run_dir, "history.jsonl")
    lines = read_history(path)
    if not lines:
        raise OneShotError(f"{path} holds no finished epoch")
    return 1.0 - lines[-1]["val_err_top1"]


def correlations(x: List[float], y: List[float]) -> dict:
    from scipy import stats
    if len(x) < 3:
        raise OneShotError(f"a rank correlation needs at least 3 subnets, not {len(x)}")
    if len(set(x)) < 2 or len(set(y)) < 2:  # a constant ranking: the coefficients are undefined
        LOG.warning("one of the rankings is constant: no rank correlation is defined")
        return {"kendall_tau": None, "kendall_p": None, "spearman_rho": None, "spearman_p": None, "n": len(x)}
    tau, tau_p = stats.kendalltau(x, y)
    rho, rho_p = stats.spearmanr(x, y)
    return {"kendall_tau": float(tau), "kendall_p": float(tau_p), "spearman_rho": float(rho),
            "spearman_p": float(rho_p), "n": len(x)}


def rank_study(cfg: SearchConfig, num_subnets: int, train: Callable[[str, str], None], resume: bool = False) -> dict:
    """``train(candidate, run_dir)`` trains one subnet from scratch (resuming in ``run_dir``)."""
    scored = supernet_scores(dataclasses.replace(cfg, out_dir=os.path.join(cfg.out_dir, "supernet-scores")),
                             num_subnets, resume)
    rows = []
    for i, record in enumerate(scored):
        run_dir = os.path.join(cfg.out_dir, f"subnet-{i:02d}")
        LOG.info("rank study: training subnet %d/%d (%s) from scratch in %s", i + 1, len(scored),
                 record["candidate"], run_dir)
        train(record["candidate"], run_dir)
        rows.append({"candidate": record["candidate"], "flops": record["flops"], "params": record["params"],
                     "supernet_top1": record["top1"], "standalone_top1": standalone_top1(run_dir),
                     "run_dir": run_dir})
    result = {**correlations([r["supernet_top1"] for r in rows], [r["standalone_top1"] for r in rows]),
              "subnets": rows}
    atomic_write_text(os.path.join(cfg.out_dir, "rank_study.json"), json.dumps(result, indent=1))
    from . import plots
    plots.rank_scatter(rows, result, os.path.join(cfg.out_dir, "rank_study.png"))
    LOG.info(table(result))
    return result


def table(result: dict) -> str:
    lines = [f"{'candidate':<42} {'FLOPs':>8} {'params':>8} {'supernet':>9} {'scratch':>8}"]
    for r in sorted(result["subnets"], key=lambda r: -r["standalone_top1"]):
        lines.append(f"{r['candidate']:<42} {r['flops'] / 1e6:>7.2f}M {r['params'] / 1e6:>7.3f}M "
                     f"{r['supernet_top1']:>9.4f} {r['standalone_top1']:>8.4f}")
    if result["kendall_tau"] is None:
        lines.append(f"no rank correlation: one ranking is constant ({result['n']} subnets)")
    else:
        lines.append(f"Kendall tau {result['kendall_tau']:.3f} (p {result['kendall_p']:.3f}), Spearman rho "
                     f"{result['spearman_rho']:.3f} (p {result['spearman_p']:.3f}), {result['n']} subnets")
    return "\n".join(lines)
