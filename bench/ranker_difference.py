"""Does one way of making supernets rank the benchmark's subnets better than another? Reads the per-subnet pairs
of `rank-study --benchmark` for two kinds of supernet made from the same parents (e.g. few-shot sub-supernets and
the parent trained as long without a split), one file per parent in the same order for both, and prints, per
parent, each kind's Kendall tau against the benchmark and the paired-bootstrap 95% interval of their difference
(the same resamples of subnets for both), then the mean difference over the parents with a t-interval. The
README's few-shot figures come from it:

    python bench/ranker_difference.py --a logs/rank_benchmark_fewshot-seed{0,1,2}-pairs.json \
        --b logs/rank_benchmark_fewshot-control-seed{0,1,2}-pairs.json

`--benchmark FILE` takes the truth from another benchmark of the same subnets (as bench/supernet_agreement.py).
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from supernet_agreement import benchmark_truth, read_pairs  # noqa: E402
from oneshot_nas.statistics import correlations, paired_tau_difference  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--a", nargs="+", required=True, help="pairs.json of the first kind, one per parent")
    parser.add_argument("--b", nargs="+", required=True, help="pairs.json of the second kind, the same parents")
    parser.add_argument("--benchmark", help="a benchmark .jsonl whose mean top-1 is the truth (default: the pairs')")
    args = parser.parse_args()
    if len(args.a) != len(args.b):
        parser.error(f"--a names {len(args.a)} files and --b {len(args.b)}: give one of each per parent")
    other = benchmark_truth(args.benchmark) if args.benchmark else None
    diffs = []
    for path_a, path_b in zip(args.a, args.b):
        a, b = read_pairs(path_a), read_pairs(path_b)
        common = sorted(set(a) & set(b) & (set(other) if other is not None else set(a)))
        truth = [other[c] for c in common] if other is not None else [a[c]["standalone_top1"] for c in common]
        sa, sb = [a[c]["supernet_top1"] for c in common], [b[c]["supernet_top1"] for c in common]
        ta, tb = correlations(sa, truth), correlations(sb, truth)
        d = paired_tau_difference(sa, sb, truth)
        diffs.append(d["value"])
        print(f"{path_a}: tau {ta['kendall_tau']:.2f} {fmt(ta['kendall_tau_ci95'])}; {path_b}: tau "
              f"{tb['kendall_tau']:.2f} {fmt(tb['kendall_tau_ci95'])}; difference {d['value']:+.2f} {fmt(d['ci95'])}"
              f" over {len(common)} subnets")
    mean = float(np.mean(diffs))
    if len(diffs) > 1:
        from scipy import stats
        half = stats.t.ppf(0.975, len(diffs) - 1) * np.std(diffs, ddof=1) / np.sqrt(len(diffs))
        print(f"mean difference over {len(diffs)} parents: {mean:+.2f} [{mean - half:+.2f}, {mean + half:+.2f}] "
              "(95% t-interval)")
    else:
        print(f"difference: {mean:+.2f} (one parent: no interval over parents)")


def fmt(ci) -> str:
    return f"[{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "[undefined]"


if __name__ == "__main__":
    main()
