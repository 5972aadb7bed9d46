"""How much of a benchmark's spread is architecture and how much is the training seed? For each benchmark file:
the seed agreement (Spearman rho with its bootstrap interval), the spread of the subnets' two-seed means, the
seed-to-seed noise of one run (std of seed 0 - seed 1 over sqrt 2) and the share of one run's variance that the
architecture explains (the intraclass correlation: (var of means - noise var / 2) / (that + noise var)). For two
files of the same subnets, it also ranks one's means against the other's. The figures of benchmarks/README.md:

    python bench/benchmark_reliability.py benchmarks/fashion-mnist.jsonl benchmarks/fashion-mnist-4ep.jsonl

A longer recipe helps the seeds agree only if it widens the gaps between architectures faster than it quiets
the seed noise; this prints both, so that can be read rather than guessed.
"""
import argparse
import itertools
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from oneshot_nas.benchmark import mean_top1, read_benchmark, seed_agreement  # noqa: E402
from oneshot_nas.statistics import correlations  # noqa: E402


def paired(path: str) -> dict:
    """candidate -> (seed 0 top-1, seed 1 top-1) for the candidates both seeds hold."""
    return {c: (e["top1_by_seed"][0], e["top1_by_seed"][1]) for c, e in mean_top1(read_benchmark(path)).items()
            if {0, 1} <= set(e["top1_by_seed"])}


def components(pairs: dict) -> dict:
    runs = np.array(list(pairs.values()))
    noise_var = np.var(runs[:, 0] - runs[:, 1], ddof=1) / 2  # one run's seed variance
    between = max(np.var(runs.mean(1), ddof=1) - noise_var / 2, 0.0)  # the architectures' own variance
    return {"subnets": len(runs), "std_of_means": float(np.std(runs.mean(1), ddof=1)),
            "seed_noise_std": float(np.sqrt(noise_var)), "architecture_std": float(np.sqrt(between)),
            "icc": float(between / (between + noise_var)) if between + noise_var > 0 else None}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", help="benchmark .jsonl files (seeds 0 and 1)")
    parser.add_argument("--common", action="store_true", help="use only the subnets every file holds with both seeds")
    args = parser.parse_args()
    tables = {path: paired(path) for path in args.files}
    common = set.intersection(*(set(t) for t in tables.values()))
    for path, table in tables.items():
        if args.common:
            table = {c: v for c, v in table.items() if c in common}
        rows = [{"candidate": c, "seed": s, "top1": v[s]} for c, v in table.items() for s in (0, 1)]
        agreement = seed_agreement(rows)
        if agreement is None:
            print(f"{path}: fewer than 3 subnets with both seeds")
            continue
        low, high = agreement["spearman_rho_ci95"]
        parts = components(table)
        print(f"{path}: {parts['subnets']} subnets; seed agreement Spearman rho {agreement['spearman_rho']:.2f} "
              f"[{low:.2f}, {high:.2f}]; std of two-seed means {parts['std_of_means']:.4f}; seed noise of one run "
              f"{parts['seed_noise_std']:.4f}; architecture {parts['architecture_std']:.4f}; ICC {parts['icc']:.2f}")
    for a, b in itertools.combinations(args.files, 2):
        both = sorted(set(tables[a]) & set(tables[b]))
        if len(both) >= 3:
            stats = correlations([np.mean(tables[a][c]) for c in both], [np.mean(tables[b][c]) for c in both])
            low, high = stats["spearman_rho_ci95"]
            print(f"{a} against {b}: two-seed means over {len(both)} common subnets, Spearman rho "
                  f"{stats['spearman_rho']:.2f} [{low:.2f}, {high:.2f}], Kendall tau {stats['kendall_tau']:.2f}")


if __name__ == "__main__":
    main()
