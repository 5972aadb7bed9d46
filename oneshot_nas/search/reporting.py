"""What a search tells its user: a log line per generation, a scatter plot per generation, and at the end the
top-k table, the progress plot, the animation and ``best.json`` (with the command that trains the winner)."""
from __future__ import annotations

import json
import logging
import os
from typing import List

import numpy as np

from .. import plots
from ..space import Candidate, SearchSpace
from ..utils import atomic_write_text
from .config import SearchConfig
from .state import SearchState

LOG = logging.getLogger("oneshot_nas")
# the original's per-candidate lines: to the log file only (setup_logging keeps them off the console)
CANDIDATES = logging.getLogger("oneshot_nas.candidates")


def log_candidate(record: dict) -> None:
    """The original's block of lines per evaluated candidate (its utils/plot.py --mode subnet reads them); its
    normalised score is 0.5 F/F_ref + 0.5 P/P_ref, half of ours."""
    cand = Candidate.parse(record["candidate"])
    CANDIDATES.info("Acc/computation balanced score: %f\nVal accuracy: %f\nModel normalized score: %f\n"
                    "Flops: %.2f MFLOPS\n# parameters: %.4f M\nBlock choices: %s\nChannel choices: %s",
                    record["fitness"], record["top1"], record["normalized_score"] / 2, record["flops"] / 1e6,
                    record["params"] / 1e6, list(cand.blocks), list(cand.channels))


def log_skipped(candidate: Candidate, violations: List[str]) -> None:
    CANDIDATES.info("[SKIPPED] %s: outside %s", candidate, ", ".join(violations))


def report_generation(state: SearchState, search_mode: str, stage: str, label: str, progress: str,
                      records: List[dict], seconds: float, comparison: str) -> None:
    """Log a generation's best and mean (``records`` ranked, best first) and save its population and plot."""
    best = records[0]
    LOG.info("[%s search, %s] generation %s: %d candidates, best %s fitness %.4f top-1 %.4f "
             "(%.2fM FLOPs, %.3fM params, score %.4f), mean top-1 %.4f, %.1f s",
             search_mode, stage, progress, len(records), best["candidate"], best["fitness"], best["top1"],
             best["flops"] / 1e6, best["params"] / 1e6, best["normalized_score"],
             float(np.mean([r["top1"] for r in records])), seconds)
    state.save_generation(label, records)
    plots.search_scatter(records, state.generation_path(label, "png"), title=f"generation {label}",
                         comparison=comparison)


def finish(state: SearchState, cfg, space: SearchSpace, by_generation: List[tuple], comparison: str) -> dict:
    """The final table, plots and best.json of a search (``cfg``: its SearchConfig)."""
    top = state.records.ranked()[:cfg.topk]
    LOG.info(topk_table(top, cfg.topk, comparison))
    plots.search_progress(by_generation, os.path.join(cfg.out_dir, "progress.png"))
    plots.search_gif(by_generation, os.path.join(cfg.out_dir, "search.gif"), comparison=comparison)
    best = best_json(top, space, cfg)
    atomic_write_text(os.path.join(cfg.out_dir, "best.json"), json.dumps(best, indent=1))
    LOG.info("wrote %s/best.json, records.jsonl, progress.png, search.gif and %s/generation-*.png; train the "
             "winner from scratch with: %s", cfg.out_dir, state.plot_dir, best["train_command"])
    return best


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
            "search": {"supernet_params": cfg.supernet_params, "ensemble_params": cfg.ensemble_params,
                       "few_shot_params": cfg.few_shot_params,
                       "search_mode": cfg.search_mode,
                       "search_space": "two-stage" if cfg.two_stage else cfg.searched_genes,
                       "constraints": cfg.constraints, "seed": cfg.seed}}
