"""Order-statistic ranks vs an exact brute-force computation, and the too-small-n error."""

import math
from fractions import Fraction
from functools import lru_cache

import pytest
from scipy.stats import norm

from msbiqa.certify import min_samples, order_statistic_ranks


@lru_cache(maxsize=None)
def exact_binom_cdfs(n: int, p: float) -> list[Fraction]:
    """[P[Bin(n, p) <= k] for k = 0..n] in exact rational arithmetic (p taken as the exact float value)."""
    q = Fraction(p)
    cdf, total = [], Fraction(0)
    for j in range(n + 1):
        total += math.comb(n, j) * q**j * (1 - q) ** (n - j)
        cdf.append(total)
    return cdf


def brute_force_ranks(n, sigma, eps, alpha):
    p_hi, p_lo = norm.cdf(eps / sigma), norm.cdf(-eps / sigma)
    a = Fraction(alpha)
    cdf_hi, cdf_lo = exact_binom_cdfs(n, p_hi), exact_binom_cdfs(n, p_lo)
    uppers = [k for k in range(1, n + 1) if cdf_hi[k - 1] >= 1 - a]
    lowers = [k for k in range(1, n + 1) if 1 - cdf_lo[k - 1] >= 1 - a]
    return (max(lowers) if lowers else None, min(uppers) if uppers else None)


@pytest.mark.parametrize("n", [10, 25, 60, 101])
@pytest.mark.parametrize("sigma,eps", [(0.12, 0.0), (0.12, 0.05), (0.25, 0.12), (0.06, 0.06), (0.1, 0.2)])
@pytest.mark.parametrize("alpha", [0.001, 0.01, 0.1])
def test_ranks_match_brute_force(n, sigma, eps, alpha):
    k_lo, k_hi = brute_force_ranks(n, sigma, eps, alpha)
    if k_lo is None or k_hi is None:
        with pytest.raises(ValueError, match="raise n"):
            order_statistic_ranks(n, sigma, eps, alpha)
    else:
        assert order_statistic_ranks(n, sigma, eps, alpha) == (k_lo, k_hi)
        assert 1 <= k_lo <= n // 2 + 1 <= k_hi <= n


def test_paper_setting_ranks_are_symmetric_and_inside():
    k_lo, k_hi = order_statistic_ranks(1000, 0.12, 0.05, 0.001)
    assert k_lo + k_hi == 1001  # p_lo = 1 - p_hi: the two ranks mirror each other
    assert 500 < k_hi < 1000


def test_min_samples_is_exactly_the_threshold():
    sigma, eps, alpha = 0.12, 0.12, 0.001
    need = min_samples(sigma, eps, alpha)
    order_statistic_ranks(need, sigma, eps, alpha)
    with pytest.raises(ValueError, match=f"at least {need}"):
        order_statistic_ranks(need - 1, sigma, eps, alpha)


def test_hopeless_ratio_says_no_n_is_enough():
    with pytest.raises(ValueError, match="no n is enough"):
        order_statistic_ranks(10_000, 0.01, 1.0, 0.001)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(n=100, sigma=0.0, eps=0.1, alpha=0.01), "sigma"),
        (dict(n=100, sigma=-1, eps=0.1, alpha=0.01), "sigma"),
        (dict(n=100, sigma=float("nan"), eps=0.1, alpha=0.01), "sigma"),
        (dict(n=100, sigma=0.1, eps=-0.1, alpha=0.01), "eps"),
        (dict(n=100, sigma=0.1, eps=0.1, alpha=0.5), "alpha"),
        (dict(n=100, sigma=0.1, eps=0.1, alpha=0.0), "alpha"),
        (dict(n=0, sigma=0.1, eps=0.1, alpha=0.01), "n must be"),
        (dict(n=10.5, sigma=0.1, eps=0.1, alpha=0.01), "n must be"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        order_statistic_ranks(**kwargs)
