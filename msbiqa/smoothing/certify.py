"""Median smoothing certificates (Chiang et al., NeurIPS 2020) with exact order-statistic bounds.

For every ||delta||_2 <= eps the smoothed median at x + delta lies between the p_lo and p_hi
percentiles of f(x + xi) at x, p_lo = Phi(-eps/sigma), p_hi = Phi(eps/sigma). From n sorted samples
y_(1) <= ... <= y_(n) (1-based ranks) each bound holds with probability >= 1 - alpha:

* upper = y_(k_hi), k_hi the smallest k with BinomCDF(k - 1; n, p_hi) >= 1 - alpha
  (P[y_(k) < q_hi] = P[Bin(n, p_hi) >= k] <= alpha);
* lower = y_(k_lo), k_lo the largest k with 1 - BinomCDF(k - 1; n, p_lo) >= 1 - alpha
  (P[y_(k) > q_lo] = P[Bin(n, p_lo) <= k - 1] <= alpha).

In 0-based code the bounds are sorted[k - 1]. Indexing sorted[k] with the 1-based rank makes the lower bound one
rank too optimistic on samples sorted ascending; on samples sorted descending (ranks counted from the top) both
bounds come out one rank lower, and the upper bound is one rank too optimistic.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
import torch
from scipy.stats import binom, norm

from msbiqa.settings import setting
from msbiqa.smoothing.sampler import ScoreFn, resolve_seed, sample_scores
from msbiqa.smoothing.validate import check_alpha, check_eps, check_image, check_n, check_sigma


@dataclass
class Bounds:
    """How a certificate is computed: the l2 radius eps it holds for, the n noise samples it is read from and the
    failure probability alpha of each of its two bounds (the settings every certifying command shares)."""

    eps: float = setting(0.05, "certified l2 radius on [0, 1] images")
    n: int = setting(100, "noise samples per certificate")
    alpha: float = setting(0.001, "failure probability of each bound")

    def check(self, sigma: float) -> tuple[int, int]:
        """The certificate's ranks at `sigma`; raises before any sampling when n is too small for eps/sigma."""
        return order_statistic_ranks(self.n, sigma, self.eps, self.alpha)


def min_samples(sigma: float, eps: float, alpha: float) -> int | None:
    """Smallest n for which both ranks exist: p_hi**n <= alpha; None when no n works (p_hi rounds to 1)."""
    p_hi = norm.cdf(eps / sigma)
    if p_hi >= 1.0:
        return None
    return max(1, math.ceil(math.log(alpha) / math.log(p_hi) - 1e-12))


def _boundary(ok, guess: int, lo: int, hi: int, *, first: bool) -> int | None:
    """The first (or last) k in [lo, hi] with ok(k), for a criterion that switches once (False then True for
    first, True then False for last); `guess` (from a binomial quantile) is walked to the exact switch."""
    step = -1 if first else 1
    k = min(max(guess, lo), hi)
    while lo <= k + step <= hi and ok(k + step):
        k += step
    while lo <= k <= hi and not ok(k):
        k -= step
    return k if lo <= k <= hi else None


@lru_cache(maxsize=256)
def order_statistic_ranks(n: int, sigma: float, eps: float, alpha: float) -> tuple[int, int]:
    """1-based ranks (k_lo, k_hi) of the certified lower and upper bounds among n sorted samples.

    The binomial quantile functions give each rank in O(1) memory; the exact criteria (module docstring) then
    settle the last unit of rounding. Raises ValueError naming the fix when n is too small for eps/sigma.
    """
    n, sigma, eps, alpha = check_n(n), check_sigma(sigma), check_eps(eps), check_alpha(alpha)
    p_hi, p_lo = norm.cdf(eps / sigma), norm.cdf(-eps / sigma)

    def upper_ok(k: int) -> bool:
        return bool(binom.cdf(k - 1, n, p_hi) >= 1 - alpha)

    def lower_ok(k: int) -> bool:
        return bool(binom.sf(k - 1, n, p_lo) >= 1 - alpha)

    k_hi = _boundary(upper_ok, int(binom.ppf(1 - alpha, n, p_hi)) + 1, 1, n, first=True)
    k_lo = _boundary(lower_ok, int(binom.ppf(alpha, n, p_lo)), 1, n, first=False)
    if k_hi is None or k_lo is None:
        need = min_samples(sigma, eps, alpha)
        hint = (
            f"raise n to at least {need}, raise sigma, or lower eps"
            if need is not None
            else "no n is enough: lower eps or raise sigma"
        )
        raise ValueError(
            f"n={n} samples cannot certify eps={eps} at sigma={sigma} (eps/sigma={eps / sigma:.3g}) "
            f"with alpha={alpha}: no order statistic is a valid bound; {hint}"
        )
    return k_lo, k_hi


@dataclass(frozen=True)
class Certificate:
    """A certified defended score: every perturbation with ||delta||_2 <= eps keeps the smoothed median
    in [lower, upper] (each side with probability >= 1 - alpha over the n noise draws).

    delta = max(upper - median, median - lower) is how far the defended score can move; width = upper - lower.
    """

    median: float
    lower: float
    upper: float
    delta: float
    width: float
    n: int
    sigma: float
    eps: float
    alpha: float
    k_lo: int
    k_hi: int
    seed: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def certificate_from_scores(
    scores: torch.Tensor | np.ndarray, *, sigma: float, eps: float, alpha: float, seed: int | None = None
) -> Certificate:
    """Certificate from the scores of n noisy copies (any order)."""
    y = np.sort(np.asarray(torch.as_tensor(scores).detach().cpu(), dtype=np.float64).reshape(-1))
    if not np.isfinite(y).all():
        raise ValueError("scores contain NaN or inf; a certificate needs finite scores")
    k_lo, k_hi = order_statistic_ranks(y.size, float(sigma), float(eps), float(alpha))
    median, lower, upper = float(np.median(y)), float(y[k_lo - 1]), float(y[k_hi - 1])
    return Certificate(
        median=median,
        lower=lower,
        upper=upper,
        delta=max(upper - median, median - lower),
        width=upper - lower,
        n=int(y.size),
        sigma=float(sigma),
        eps=float(eps),
        alpha=float(alpha),
        k_lo=k_lo,
        k_hi=k_hi,
        seed=seed,
    )


def certify(
    score_fn: ScoreFn,
    image: torch.Tensor,
    *,
    sigma: float,
    eps: float,
    n: int = 1000,
    alpha: float = 0.001,
    batch_size: int | None = None,
    seed: int | None = None,
    progress: bool = False,
    device: str | torch.device | None = None,
) -> Certificate:
    """Certify the median-smoothed score of `image` (3xHxW or 1x3xHxW in [0, 1]) against l2 attacks of radius eps.

    `score_fn` is any callable scoring a batch of clamped noisy images (a metric; `DefendedMetric.certify`
    passes its denoise-then-score function). All inputs are checked (and the ranks computed) before any
    sampling starts.
    """
    image = check_image(image)
    sigma, eps, alpha, n = check_sigma(sigma), check_eps(eps), check_alpha(alpha), check_n(n)
    order_statistic_ranks(n, sigma, eps, alpha)
    seed = resolve_seed(seed)
    scores = sample_scores(
        score_fn,
        image,
        sigma=sigma,
        n=n,
        batch_size=batch_size,
        seed=seed,
        progress=progress,
        device=device,
        desc="certify",
    )
    return certificate_from_scores(scores, sigma=sigma, eps=eps, alpha=alpha, seed=seed)
