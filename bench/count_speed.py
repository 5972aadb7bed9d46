"""Time per candidate of the FLOPs/params lookup table against counting on the exported symbol.

    python bench/count_speed.py [--candidates 2000] [--symbol-candidates 50] [network flags]
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from oneshot_nas.cli.common import add_network_args, space_from_args  # noqa: E402
from oneshot_nas.costs.tables import LookupTable, formula_cost, symbol_cost  # noqa: E402


def per_candidate(fn, cands):
    start = time.perf_counter()
    for c in cands:
        fn(c)
    return (time.perf_counter() - start) / len(cands)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=int, default=2000, help="candidates timed with the table")
    parser.add_argument("--symbol-candidates", type=int, default=50, help="candidates timed on the symbol")
    parser.add_argument("--seed", type=int, default=0)
    add_network_args(parser)
    args = parser.parse_args()
    space = space_from_args(args)
    rng = np.random.default_rng(args.seed)
    cands = [space.sample(rng) for _ in range(args.candidates)]

    start = time.perf_counter()
    table = LookupTable.build(space, method="symbol")
    build = time.perf_counter() - start
    t_lut = per_candidate(table.cost, cands)
    t_formula = per_candidate(lambda c: formula_cost(space, c), cands[:500])
    t_symbol = per_candidate(lambda c: symbol_cost(space, c), cands[:args.symbol_candidates])
    print(f"space: {space.describe()}")
    print(f"lookup table build (measured, 800 blocks): {build:.2f} s")
    print(f"lookup table : {t_lut * 1e6:10.1f} us / candidate  ({args.candidates} candidates)")
    print(f"formula      : {t_formula * 1e6:10.1f} us / candidate  (500 candidates)")
    print(f"symbol       : {t_symbol * 1e6:10.1f} us / candidate  ({args.symbol_candidates} candidates)")
    print(f"speed-up of the table over the symbol count: {t_symbol / t_lut:.0f}x")


if __name__ == "__main__":
    main()
