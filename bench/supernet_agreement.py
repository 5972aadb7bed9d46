"""Do supernets trained alike (same preset, other seeds) rank the same subnets alike? Reads the per-subnet
pairs of `rank-study --benchmark` on several supernets and prints Kendall tau (with a bootstrap 95% interval)
between every two supernets' scores, of each against the benchmark and against FLOPs, and of the supernets'
mean score against the benchmark. The README's "Ranking" figures come from it:

    python bench/supernet_agreement.py logs/rank_benchmark_seed0-pairs.json logs/rank_benchmark_seed1-pairs.json \
        logs/rank_benchmark_seed2-pairs.json

`--scored` compares the supernets with each other over every subnet they scored (a `rank-study --benchmark` scores
the benchmark's whole plan), which needs no ground truth and so no finished benchmark.

Two supernets that disagree with each other as much as with the benchmark rank by their own training noise:
then the supernet, not the benchmark's ground truth, caps the rank correlation.

`--benchmark FILE` reads the ground truth from another benchmark of the same subnets (for instance
benchmarks/fashion-mnist-4ep.jsonl, the longer recipe) instead of the `standalone_top1` the pairs hold: the
scores stay those the supernets gave, only the truth they are compared with changes. Only subnets that every
seed of that benchmark holds are compared.
"""
import argparse
import itertools
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from oneshot_nas.benchmark import mean_top1, read_benchmark  # noqa: E402
from oneshot_nas.statistics import correlations  # noqa: E402


def read_pairs(path: str) -> dict:
    with open(path) as f:
        return {row["candidate"]: row for row in json.load(f)}


def benchmark_truth(path: str) -> dict:
    """Mean test top-1 per candidate of a benchmark file, for the candidates that all its seeds hold."""
    rows = read_benchmark(path)
    seeds = {r["seed"] for r in rows}
    return {c: e["top1"] for c, e in mean_top1(rows).items() if set(e["top1_by_seed"]) == seeds}


def line(label: str, stats: dict) -> str:
    low, high = stats["kendall_tau_ci95"]
    return f"{label}: Kendall tau {stats['kendall_tau']:.2f} [{low:.2f}, {high:.2f}] over {stats['n']} subnets"


def scored_agreement(paths: list) -> None:
    """Agreement over every subnet all the studies scored (their supernet-scores.jsonl, beside each pairs.json):
    the subnets of a benchmark's whole plan, trained yet or not; agreement needs no ground truth."""
    from oneshot_nas.costs import LookupTable
    from oneshot_nas.rank_study import saved_scores
    from oneshot_nas.space import Candidate, SearchSpace
    studies = [saved_scores(os.path.dirname(os.path.abspath(p))) for p in paths]
    tables = [{c: r["top1"] for c, r in scores.items()} for _, scores in studies]
    common = sorted(set.intersection(*(set(t) for t in tables)))
    cost = LookupTable.build(SearchSpace.from_dict(studies[0][0]["space"]), method="formula").cost
    flops = [cost(Candidate.parse(c)).flops for c in common]
    for a, b in itertools.combinations(range(len(tables)), 2):
        print(line(f"supernet {paths[a]} against {paths[b]}, all scored",
                   correlations([tables[a][c] for c in common], [tables[b][c] for c in common])))
    for a in range(len(tables)):
        print(line(f"supernet {paths[a]} against FLOPs, all scored",
                   correlations([tables[a][c] for c in common], flops)))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pairs", nargs="+", help="pairs.json files of `rank-study --benchmark` (two or more)")
    parser.add_argument("--benchmark", help="a benchmark .jsonl of the same subnets whose mean top-1 is the truth "
                                            "(default: the standalone_top1 of the pairs)")
    parser.add_argument("--scored", action="store_true",
                        help="compare the supernets with each other (and FLOPs) over every subnet they all scored "
                             "(supernet-scores.jsonl beside each pairs.json: a partial benchmark's whole plan)")
    args = parser.parse_args()
    if len(args.pairs) < 2:
        parser.error("give the pairs of at least two supernets")
    if args.scored:
        return scored_agreement(args.pairs)
    tables = [read_pairs(p) for p in args.pairs]
    common = set.intersection(*(set(t) for t in tables))
    if args.benchmark:
        other = benchmark_truth(args.benchmark)
        common &= set(other)
        if len(common) < 3:
            parser.error(f"{args.benchmark} holds all seeds of only {len(common)} of the pairs' subnets: "
                         "too few to rank (wait for more of its runs)")
    common = sorted(common)
    scores = np.array([[t[c]["supernet_top1"] for c in common] for t in tables])
    truth = [other[c] for c in common] if args.benchmark else [tables[0][c]["standalone_top1"] for c in common]
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
