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
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from .errors import OneShotError
from .search.config import SearchConfig
from .search.run import Search
from .run_folder import RunFolder
from .statistics import correlations, paired_tau_difference
from .utils import atomic_write_text, changed_settings

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
    return 1.0 - RunFolder(run_dir).last_record()["val_err_top1"]


def compare_rankers(rows: List[dict], truth: str = "standalone_top1", bootstrap: int = 2000, seed: int = 0) -> dict:
    """The supernet's ranking beside the trivial ones (FLOPs alone, params alone) against ``truth``, each with
    its interval, and the paired-bootstrap interval of tau(supernet) - tau(FLOPs) (same resamples)."""
    y = np.asarray([r[truth] for r in rows], float)
    out = {}
    for name, key in (("supernet", "supernet_top1"), ("flops", "flops"), ("params", "params")):
        out[name] = correlations([r[key] for r in rows], list(y), bootstrap, seed)
    diff = paired_tau_difference([r["supernet_top1"] for r in rows], [r["flops"] for r in rows], list(y), bootstrap,
                                 seed)
    if diff is not None:
        out["supernet_minus_flops_tau"] = diff
    return out


def rank_study(cfg: SearchConfig, num_subnets: int, train: Callable[[str, str], None], resume: bool = False) -> dict:
    """``train(candidate, run_dir)`` trains one subnet from scratch (resuming in ``run_dir``)."""
    from .utils import FolderLock
    with FolderLock(cfg.out_dir, "another rank study"):
        return _rank_study(cfg, num_subnets, train, resume)


def _rank_study(cfg: SearchConfig, num_subnets: int, train: Callable[[str, str], None], resume: bool) -> dict:
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
              "truth": "one `train` run per subnet", "subnets": rows}
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
        lines.append(f"Kendall tau {result['kendall_tau']:.3f} (p {result['kendall_p']:.3f}, 95% CI "
                     f"{_interval(result['kendall_tau_ci95'])}), Spearman rho {result['spearman_rho']:.3f} "
                     f"(p {result['spearman_p']:.3f}, 95% CI {_interval(result['spearman_rho_ci95'])}), "
                     f"{result['n']} subnets")
    return "\n".join(lines)


def _interval(ci: Optional[List[float]]) -> str:
    return f"[{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "undefined"


# ---------------------------------------------------------------------------------------------
# against a stand-alone benchmark (no training here: the benchmark file is the ground truth)
# ---------------------------------------------------------------------------------------------
# What a supernet score depends on: a resumed study may reuse its memo only when all of these are the same.
SCORING_FIELDS = ("supernet_params", "ensemble_params", "few_shot_params", "dataset", "data_dir", "use_rec",
                  "rec_train", "rec_val", "holdout", "holdout_seed", "val_split", "val_images", "update_bn_images",
                  "shuffle_train", "seed", "space")


def check_scoring(cfg: SearchConfig) -> None:
    """Refuse to mix supernet scores made with other settings (another supernet, split or image count) into the
    memo of OUT_DIR; the first call writes the settings to OUT_DIR/scoring.json."""
    now = {k: getattr(cfg, k) for k in SCORING_FIELDS}
    now["supernet_params"] = os.path.abspath(cfg.supernet_params)
    for name in ("ensemble_params", "few_shot_params"):
        now[name] = [os.path.abspath(p) for p in getattr(cfg, name)] if getattr(cfg, name) else None
    now = json.loads(json.dumps(now))
    path = os.path.join(cfg.out_dir, "scoring.json")
    if os.path.exists(path):
        with open(path) as f:
            saved = json.load(f)
        differ = changed_settings(saved, now, list(now))
        if differ:
            raise OneShotError(f"{cfg.out_dir} holds supernet scores made with other settings ({'; '.join(differ)}); "
                               "give the same options, or another --out-dir")
    else:
        atomic_write_text(path, json.dumps(now, indent=1))


def score_candidates(cfg: SearchConfig, candidates: List[str]) -> Dict[str, dict]:
    """Supernet top-1 (BN recalibrated, on ``cfg.val_split``) of each candidate, one record per line in
    OUT_DIR/supernet-scores.jsonl, which is also the memo of a resumed study (made with the same settings:
    :func:`check_scoring`)."""
    from .search.evaluator import build_evaluator
    from .search.state import Records
    from .space import Candidate
    os.makedirs(cfg.out_dir, exist_ok=True)
    check_scoring(cfg)
    records = Records(os.path.join(cfg.out_dir, "supernet-scores.jsonl"))
    records.load()
    space, ctx = cfg.search_space, cfg.contexts()
    evaluator = None
    for i, cand in enumerate(candidates):
        if cand in records.by_candidate:
            continue
        if evaluator is None:
            evaluator = build_evaluator(cfg, space, ctx)
        result = evaluator(space.validate(Candidate.parse(cand)))
        records.add({"candidate": cand, "top1": result.top1, "top5": result.top5, "split": cfg.val_split,
                     "val_images": result.val_images, "bn_images": result.bn_images,
                     "seconds": round(result.recal_seconds + result.val_seconds, 3),
                     **({"top1_by_supernet": list(result.top1_by_supernet)} if result.top1_by_supernet else {})})
        LOG.info("supernet score %d/%d: %s top-1 %.4f on %d %s images", i + 1, len(candidates), cand, result.top1,
                 result.val_images, cfg.val_split)
    return records.by_candidate


def benchmark_rank_study(cfg: SearchConfig, benchmark_path: str, bootstrap: int = 2000) -> dict:
    """Kendall tau / Spearman rho of the supernet's scores against the benchmark's mean stand-alone top-1,
    with intervals, beside ranking by FLOPs and by params alone. Every subnet of the benchmark's plan is scored,
    also those it has not trained yet, so a study of a partial benchmark can be finished from its saved scores
    (:func:`rank_from_saved_scores`) once the benchmark is, without the supernet. Writes rank_study.json (the
    statistics), pairs.json (one object per subnet) and rank_study.png in OUT_DIR."""
    from .benchmark import mean_top1, read_benchmark, saved_plan
    from .utils import FolderLock
    truth = mean_top1(read_benchmark(benchmark_path))
    planned = set(((saved_plan(benchmark_path) or {}).get("subnets") or {}).values())
    with FolderLock(cfg.out_dir, "another rank study"):
        scores = score_candidates(cfg, sorted(planned | set(truth)))
        scoring = {"supernet_split": cfg.val_split, "supernet_params": cfg.supernet_params,
                   "ensemble_params": cfg.ensemble_params, "few_shot_params": cfg.few_shot_params}
        result = rank_against_benchmark(truth, scores, cfg.search_space, benchmark_path, scoring, bootstrap, cfg.seed)
        write_rank_study(cfg.out_dir, result)
    return result


def rank_from_saved_scores(scores_dir: str, benchmark_path: str, out_dir: str, bootstrap: int = 2000) -> dict:
    """The benchmark study again from the supernet scores an earlier one saved in ``scores_dir`` (its
    supernet-scores.jsonl and scoring.json), no supernet needed: e.g. once a benchmark that was partial then is
    complete. Refused when a subnet of the benchmark was not scored."""
    from .benchmark import mean_top1, read_benchmark
    from .space import SearchSpace
    from .utils import FolderLock
    settings, scores = saved_scores(scores_dir)
    scores_path = os.path.join(scores_dir, "supernet-scores.jsonl")
    truth = mean_top1(read_benchmark(benchmark_path))
    missing = sorted(set(truth) - set(scores))
    if missing:
        raise OneShotError(f"{len(missing)} subnet(s) of {benchmark_path} have no score in {scores_path} (e.g. "
                           f"{missing[0]}): run `rank-study --benchmark` with the supernet "
                           f"{settings.get('supernet_params')} and --out-dir {scores_dir} to score them")
    scoring = {"supernet_split": settings.get("val_split"), "supernet_params": settings.get("supernet_params"),
               "ensemble_params": settings.get("ensemble_params"), "few_shot_params": settings.get("few_shot_params"),
               "scores_from": scores_path}
    with FolderLock(out_dir, "another rank study"):
        result = rank_against_benchmark(truth, scores, SearchSpace.from_dict(settings["space"]), benchmark_path,
                                        scoring, bootstrap, settings.get("seed", 0))
        write_rank_study(out_dir, result)
    return result


def saved_scores(scores_dir: str) -> Tuple[dict, Dict[str, dict]]:
    """(settings, candidate -> score record) of the scores a `rank-study --benchmark` saved in ``scores_dir``
    (its scoring.json and supernet-scores.jsonl)."""
    from .utils import read_json_lines
    settings_path, scores_path = (os.path.join(scores_dir, name) for name in ("scoring.json", "supernet-scores.jsonl"))
    if not (os.path.exists(settings_path) and os.path.exists(scores_path)):
        raise OneShotError(f"--scores {scores_dir}: not the out-dir of a `rank-study --benchmark` (it needs "
                           "scoring.json and supernet-scores.jsonl)")
    with open(settings_path) as f:
        settings = json.load(f)
    records = read_json_lines(scores_path, "the saved supernet scores are damaged")
    return settings, {r["candidate"]: r for _, r in records}


def rank_against_benchmark(truth: Dict[str, dict], scores: Dict[str, dict], space, benchmark_path: str,
                           scoring: dict, bootstrap: int, seed: int) -> dict:
    """The statistics and per-subnet pairs of the benchmark's subnets (``truth``: :func:`benchmark.mean_top1`),
    scored as ``scores`` (candidate -> record with ``top1``); ``scoring`` says how."""
    from .costs.tables import LookupTable
    from .space import Candidate
    table = LookupTable.build(space, method="formula")
    rows = []
    for cand, entry in sorted(truth.items()):
        cost = table.cost(Candidate.parse(cand))
        rows.append({"candidate": cand, "name": entry["name"], "flops": cost.flops, "params": cost.params,
                     "supernet_top1": scores[cand]["top1"], "standalone_top1": entry["top1"],
                     "standalone_top1_by_seed": entry["top1_by_seed"]})
    rankers = compare_rankers(rows, bootstrap=bootstrap, seed=seed)
    return {**rankers["supernet"], "truth": f"mean test top-1 over seeds in {benchmark_path}", **scoring,
            "baselines": {k: v for k, v in rankers.items() if k != "supernet"}, "subnets": rows}


def write_rank_study(out_dir: str, result: dict) -> None:
    """rank_study.json, pairs.json and rank_study.png of a benchmark study."""
    from . import plots
    os.makedirs(out_dir, exist_ok=True)
    atomic_write_text(os.path.join(out_dir, "rank_study.json"), json.dumps(result, indent=1))
    atomic_write_text(os.path.join(out_dir, "pairs.json"), json.dumps(result["subnets"], indent=1))
    plots.rank_scatter(result["subnets"], result, os.path.join(out_dir, "rank_study.png"))
    LOG.info(table_text(result))


def table_text(result: dict) -> str:
    lines = [table(result)]
    for name, stats in result.get("baselines", {}).items():
        if name == "supernet_minus_flops_tau":
            lines.append(f"tau(supernet) - tau(FLOPs) = {stats['value']:+.3f}, paired 95% CI {_interval(stats['ci95'])}")
        elif stats["kendall_tau"] is not None:
            lines.append(f"ranking by {name} alone: Kendall tau {stats['kendall_tau']:.3f} (95% CI "
                         f"{_interval(stats['kendall_tau_ci95'])}), Spearman rho {stats['spearman_rho']:.3f} "
                         f"(95% CI {_interval(stats['spearman_rho_ci95'])})")
    return "\n".join(lines)
