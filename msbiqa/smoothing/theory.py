"""The median-smoothing bounds as numbers to plot: percentiles, ranks vs n, and Monte-Carlo coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import binom, norm

from msbiqa.smoothing.certify import certificate_from_scores, min_samples, order_statistic_ranks


def percentiles(ratios) -> pd.DataFrame:
    """p_lo = Phi(-eps/sigma) and p_hi = Phi(eps/sigma) for each eps/sigma in `ratios`."""
    r = np.asarray(ratios, dtype=float)
    return pd.DataFrame({"eps_over_sigma": r, "p_lo": norm.cdf(-r), "p_hi": norm.cdf(r)})


def largest_eps(n: int, sigma: float, alpha: float) -> float | None:
    """The largest l2 radius n samples can certify at sigma and alpha, sigma * Phi^-1(alpha^(1/n)) (where
    p_hi**n = alpha, see `min_samples`); None when n cannot certify even eps = 0 (alpha < 0.5**n)."""
    p_hi = alpha ** (1.0 / n)
    return None if p_hi < 0.5 else float(sigma * norm.ppf(p_hi))


def ranks_vs_n(ns, sigma: float, eps: float, alpha: float) -> pd.DataFrame:
    """1-based ranks k_lo, k_hi and their quantile positions k/n for each n (rows only where ranks exist)."""
    rows = []
    need = min_samples(sigma, eps, alpha) or np.inf
    for n in ns:
        if n >= need:
            k_lo, k_hi = order_statistic_ranks(int(n), float(sigma), float(eps), float(alpha))
            rows.append(
                {
                    "n": int(n),
                    "sigma": sigma,
                    "eps": eps,
                    "alpha": alpha,
                    "k_lo": k_lo,
                    "k_hi": k_hi,
                    "q_lo": k_lo / n,
                    "q_hi": k_hi / n,
                }
            )
    return pd.DataFrame(rows)


def delta_vs_eps(scores, sigma: float, eps_grid, alpha: float) -> pd.DataFrame:
    """Certified delta and bounds of one set of noisy scores for each eps that n samples can certify."""
    n = len(scores)
    rows = []
    for eps in eps_grid:
        m = min_samples(sigma, float(eps), alpha)
        if m is None or m > n:
            continue
        c = certificate_from_scores(scores, sigma=sigma, eps=float(eps), alpha=alpha)
        rows.append(
            {
                "sigma": sigma,
                "eps": float(eps),
                "median": c.median,
                "lower": c.lower,
                "upper": c.upper,
                "delta": c.delta,
                "width": c.width,
            }
        )
    return pd.DataFrame(rows)


def coverage(n: int, sigma: float, eps: float, alpha: float, trials: int, seed: int = 0) -> dict:
    """Monte-Carlo miss rates of the bounds on N(0, 1) scores, whose true percentiles are known exactly.

    A bound misses when lower > q_lo or upper < q_hi (q = the Phi(-+eps/sigma) quantiles); the exact miss
    probabilities of the chosen ranks come from the binomial law. Also reported: the miss rate of the
    off-by-one lower bound sorted[k_lo] (a 1-based rank used as a 0-based index, as in some public code).
    """
    k_lo, k_hi = order_statistic_ranks(n, sigma, eps, alpha)
    p_lo, p_hi = norm.cdf(-eps / sigma), norm.cdf(eps / sigma)
    y = np.sort(np.random.default_rng(seed).standard_normal((trials, n)), axis=1)
    q_lo, q_hi = -eps / sigma, eps / sigma  # N(0,1) quantiles at Phi(-+eps/sigma)
    return {
        "n": n,
        "sigma": sigma,
        "eps": eps,
        "alpha": alpha,
        "trials": trials,
        "k_lo": k_lo,
        "k_hi": k_hi,
        "lower_miss": float(np.mean(y[:, k_lo - 1] > q_lo)),
        "lower_miss_exact": float(binom.cdf(k_lo - 1, n, p_lo)),
        "upper_miss": float(np.mean(y[:, k_hi - 1] < q_hi)),
        "upper_miss_exact": float(binom.sf(k_hi - 1, n, p_hi)),
        "off_by_one_lower_miss": float(np.mean(y[:, k_lo] > q_lo)) if k_lo < n else float("nan"),
    }
