"""Agreement of predicted scores with MOS: SROCC, KROCC and PLCC (raw and after the logistic fit).

PLCC is reported after the usual 4-parameter logistic mapping of predictions to the MOS scale
(VQEG; f(x) = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2) and also raw (linear). The logistic may be
decreasing, so the fitted PLCC is positive for a lower-is-better metric too; SROCC, KROCC and the raw
PLCC keep the sign.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import optimize, special, stats


def _pair(pred, mos) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64).reshape(-1)
    mos = np.asarray(mos, dtype=np.float64).reshape(-1)
    if pred.shape != mos.shape:
        raise ValueError(f"pred has {pred.size} values but mos has {mos.size}")
    if pred.size < 3:
        raise ValueError(f"correlations need at least 3 images, got {pred.size}")
    if not (np.isfinite(pred).all() and np.isfinite(mos).all()):
        raise ValueError("pred and mos must be finite (drop NaN/inf rows first)")
    return pred, mos


def srocc(pred, mos) -> float:
    """Spearman rank-order correlation (scipy.stats.spearmanr)."""
    return float(stats.spearmanr(*_pair(pred, mos)).statistic)


def krocc(pred, mos) -> float:
    """Kendall rank-order correlation, tau-b (scipy.stats.kendalltau)."""
    return float(stats.kendalltau(*_pair(pred, mos)).statistic)


def plcc(pred, mos) -> float:
    """Pearson linear correlation of the raw predictions (scipy.stats.pearsonr)."""
    return float(stats.pearsonr(*_pair(pred, mos)).statistic)


def logistic4(x, b1: float, b2: float, b3: float, b4: float):
    """The 4-parameter logistic: b2 at x -> -inf, b1 at x -> +inf, midpoint b3, slope scale |b4|.

    Written with scipy's expit, 1 / (1 + exp(-z)) evaluated without overflow: the fit tries steep slopes
    (small |b4|), where exp(-z) itself exceeds the float range far from the midpoint.
    """
    return (b1 - b2) * special.expit((x - b3) / np.abs(b4)) + b2


FIT_TOL = 1e-12  # relative change in the sum of squares and in the parameters at which a fit stops
MIDPOINTS = (0.25, 0.5, 0.75)  # quantiles of the predictions the fits start their midpoint at
SLOPES = (0.25, 1.0, 4.0)  # multiples of the predictions' SD the fits start their slope scale at


def fit_logistic(pred, mos) -> np.ndarray:
    """Least-squares parameters (b1, b2, b3, b4) of logistic4 mapping pred to mos: the best of several fits.

    Each fit starts from the MOS extremes as asymptotes (swapped when pred and MOS rank in opposite order), one of
    the MIDPOINTS and one of the SLOPES, and Levenberg-Marquardt (MINPACK) stops at a relative change of FIT_TOL
    (scipy's default is 1.5e-8). The least-squares surface can have several minima and flat valleys: on scores
    with few distinct values (binned RS) a step between two of them is a local minimum, which one start reaches
    or misses depending on last bits of MINPACK's arithmetic (these vary with where the arrays lie in memory),
    and along a valley the stopping point moves with them. The lowest of the fits, each run to the bottom of its
    valley, moves the mapped scores by less than 1e-4 under such last-bit changes, where one fit from the median
    moved them by more than 1e-3 (tests/statistics/test_correlations.py, on committed binned-RS scores).
    """
    pred, mos = _pair(pred, mos)
    hi, lo = mos.max(), mos.min()
    if stats.spearmanr(pred, mos).statistic < 0:
        hi, lo = lo, hi
    spread = np.std(pred) or 1.0
    best, error = None, None
    for midpoint in np.quantile(pred, MIDPOINTS):
        for slope in SLOPES:
            p0 = [hi, lo, float(midpoint), slope * spread]
            try:
                params, _ = optimize.curve_fit(logistic4, pred, mos, p0=p0, maxfev=50000, ftol=FIT_TOL, xtol=FIT_TOL)
            except RuntimeError as err:  # this start did not converge; another may
                error = err
                continue
            loss = float(np.sum((logistic4(pred, *params) - mos) ** 2))
            if best is None or loss < best[0]:
                best = (loss, params)
    if best is None:
        raise error
    return best[1]


def logistic_mapped(pred, mos) -> tuple[np.ndarray, str | None]:
    """(pred through the fitted logistic4, None), or (pred itself, why) when there are too few points for 4
    parameters or the fit fails or is degenerate."""
    pred, mos = _pair(pred, mos)
    if pred.size <= 4:
        return pred, f"{pred.size} points cannot determine 4 logistic parameters"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optimize.OptimizeWarning)  # no covariance: irrelevant here
            fitted = logistic4(pred, *fit_logistic(pred, mos))
    except (RuntimeError, ValueError) as err:
        return pred, str(err)
    if not np.isfinite(fitted).all() or np.ptp(fitted) == 0:
        return pred, "degenerate fit"
    return fitted, None


def plcc_logistic(pred, mos) -> float:
    """PLCC after the 4-parameter logistic fit; falls back to raw PLCC, with a warning, if the fit fails."""
    pred, mos = _pair(pred, mos)
    fitted, failure = logistic_mapped(pred, mos)
    if failure is not None:
        warnings.warn(f"logistic fit failed ({failure}); reporting the raw PLCC instead", RuntimeWarning, stacklevel=2)
        return plcc(pred, mos)
    return float(stats.pearsonr(fitted, mos).statistic)


def correlations(pred, mos) -> dict[str, float]:
    """{"srocc", "plcc" (after the logistic fit), "plcc_raw", "krocc"} of predictions against MOS."""
    return {
        "srocc": srocc(pred, mos),
        "plcc": plcc_logistic(pred, mos),
        "plcc_raw": plcc(pred, mos),
        "krocc": krocc(pred, mos),
    }


def average_ranks(a: np.ndarray) -> np.ndarray:
    """1-based ranks with ties sharing their average rank (as scipy.stats.rankdata), without its overhead."""
    order = np.argsort(a, kind="stable")
    ordered = a[order]
    new = np.empty(len(a), bool)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    starts = np.flatnonzero(np.append(new, True))
    ranks = np.empty(len(a))
    ranks[order] = ((starts[:-1] + starts[1:] + 1) / 2.0)[np.cumsum(new) - 1]
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho with average ranks for ties (as scipy.stats.spearmanr)."""
    return pearson(average_ranks(x), average_ranks(y))


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r; NaN when either input is constant."""
    x, y = x - x.mean(), y - y.mean()
    denom = np.sqrt((x @ x) * (y @ y))
    return float(x @ y / denom) if denom > 0 else float("nan")


def kendall_b(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b (as scipy.stats.kendalltau) by counting pairs: O(n^2) memory, but fast for the few
    hundred images of one table cell, where scipy's overhead dominates."""
    dx, dy = x[:, None] - x[None, :], y[:, None] - y[None, :]
    both = dx * dy
    denom = np.sqrt(np.count_nonzero(dx) * np.count_nonzero(dy))
    return float((np.count_nonzero(both > 0) - np.count_nonzero(both < 0)) / denom) if denom > 0 else float("nan")


def logistic_mapping(pred: np.ndarray, mos: np.ndarray) -> np.ndarray:
    """pred through the 4-parameter logistic fitted to mos (`correlations.logistic_mapped`); pred itself, i.e.
    the raw PLCC, where the fit fails or there are too few (or non-finite) values."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return logistic_mapped(pred, mos)[0]
    except ValueError:
        return pred
