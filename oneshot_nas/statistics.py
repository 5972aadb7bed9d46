"""Rank correlations with bootstrap intervals: how the rank study compares rankers with the benchmark, and how
the benchmark's seeds agree with each other."""
from __future__ import annotations

import logging
from typing import List, Optional

import numpy as np

from .errors import OneShotError

LOG = logging.getLogger("oneshot_nas")


def correlations(x: List[float], y: List[float], bootstrap: int = 2000, seed: int = 0) -> dict:
    """Kendall tau and Spearman rho of ``x`` against ``y``, with p-values and paired-bootstrap 95% intervals."""
    from scipy import stats
    if len(x) < 3:
        raise OneShotError(f"a rank correlation needs at least 3 subnets, not {len(x)}")
    if len(set(x)) < 2 or len(set(y)) < 2:  # a constant ranking: the coefficients are undefined
        LOG.warning("one of the rankings is constant: no rank correlation is defined")
        return {"kendall_tau": None, "kendall_p": None, "spearman_rho": None, "spearman_p": None, "n": len(x),
                "kendall_tau_ci95": None, "spearman_rho_ci95": None}
    tau, tau_p = stats.kendalltau(x, y)
    rho, rho_p = stats.spearmanr(x, y)
    taus, rhos = bootstrap_correlations(np.asarray(x, float), np.asarray(y, float), bootstrap, seed)
    return {"kendall_tau": float(tau), "kendall_p": float(tau_p), "spearman_rho": float(rho),
            "spearman_p": float(rho_p), "n": len(x), "kendall_tau_ci95": percentile_interval(taus),
            "spearman_rho_ci95": percentile_interval(rhos), "bootstrap": bootstrap}


def bootstrap_correlations(x: np.ndarray, y: np.ndarray, num: int, seed: int, index_sets=None):
    """Kendall tau and Spearman rho over ``num`` resamples of the (x, y) pairs with replacement (resamples
    with a constant side are left out: no correlation is defined there)."""
    from scipy import stats
    rng = np.random.default_rng(seed)
    taus, rhos = [], []
    for idx in (index_sets if index_sets is not None else (rng.integers(0, len(x), len(x)) for _ in range(num))):
        xs, ys = x[idx], y[idx]
        if np.ptp(xs) == 0 or np.ptp(ys) == 0:
            taus.append(np.nan)
            rhos.append(np.nan)
            continue
        taus.append(stats.kendalltau(xs, ys)[0])
        rhos.append(stats.spearmanr(xs, ys)[0])
    return np.asarray(taus), np.asarray(rhos)


def paired_tau_difference(x1, x2, y, bootstrap: int = 2000, seed: int = 0) -> Optional[dict]:
    """Kendall tau(x1, y) - tau(x2, y), two rankings of the same subnets against one truth, with the 95% interval of
    the same bootstrap resamples of the subnets for both; None where a ranking is constant."""
    from scipy import stats
    if min(len(set(x1)), len(set(x2)), len(set(y))) < 2:
        return None
    rng = np.random.default_rng(seed)
    idx = [rng.integers(0, len(y), len(y)) for _ in range(bootstrap)]
    truth = np.asarray(y, float)
    taus = [bootstrap_correlations(np.asarray(x, float), truth, bootstrap, seed, idx)[0] for x in (x1, x2)]
    return {"value": float(stats.kendalltau(x1, y)[0]) - float(stats.kendalltau(x2, y)[0]),
            "ci95": percentile_interval(taus[0] - taus[1])}


def percentile_interval(values: np.ndarray, level: float = 0.95) -> Optional[List[float]]:
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    tail = (1 - level) / 2 * 100
    return [float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))]
