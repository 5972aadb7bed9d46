"""Do supernets trained alike (same preset, other seeds) rank the same subnets alike? Reads the per-subnet
pairs of `rank-study --benchmark` on several supernets and prints Kendall tau (with a bootstrap 95% interval)
between every two supernets' scores, of each against the benchmark and against FLOPs, and of the supernets'
mean score against the benchmark. The README's "Ranking" figures come from it:

    python bench/supernet_agreement.py logs/rank_benchmark_seed0-pairs.json logs/rank_benchmark_seed1-pairs.json \
        logs/rank_benchmark_seed2-pairs.json

Two supernets that disagree with each other as much as with the benchmark rank by their own training noise:
then the supernet, not the benchmark's ground truth, caps the rank correlation.
"""
import argparse
import itertools
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from oneshot_nas.rank_study import correlations  # noqa: E402


def read_pairs(path: str) -> dict:
    with open(path) as f:
        return {row["candidate"]: row for row in json.load(f)}


def line(label: str, stats: dict) -> str:
    low, high = stats["kendall_tau_ci95"]
    return f"{label}: Kendall tau {stats['kendall_tau']:.2f} [{low:.2f}, {high:.2f}] over {stats['n']} subnets"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pairs", nargs="+", help="pairs.json files of `rank-study --benchmark` (two or more)")
    args = parser.parse_args()
    if len(args.pairs) < 2:
        parser.error("give the pairs of at least two supernets")
    tables = [read_pairs(p) for p in args.pairs]
    common = sorted(set.intersection(*(set(t) for t in tables)))
    scores = np.array([[t[c]["supernet_top1"] for c in common] for t in tables])
    truth = [tables[0][c]["standalone_top1"] for c in common]
    for a, b in itertools.combinations(range(len(tables)), 2):
        print(line(f"supernet {args.pairs[a]} against {args.pairs[b]}", correlations(scores[a], scores[b])))
    flops = [tables[0][c]["flops"] for c in common]
    for a in range(len(tables)):
        print(line(f"supernet {args.pairs[a]} against the benchmark", correlations(scores[a], truth)))
        print(line(f"supernet {args.pairs[a]} against FLOPs", correlations(scores[a], flops)))
    print(line("the benchmark against FLOPs", correlations(truth, flops)))
    print(line("mean score of the supernets against the benchmark", correlations(scores.mean(0), truth)))


if __name__ == "__main__":
    main()
