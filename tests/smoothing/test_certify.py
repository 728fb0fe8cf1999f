"""Exact order-statistic ranks against brute-force binomial arithmetic, and Monte-Carlo coverage of the bounds:
they hold at the predicted rate, are not looser than needed, and the off-by-one and swapped bounds of public
code are caught."""

import math
from fractions import Fraction
from functools import cache

import numpy as np
import pytest
import torch
from scipy.stats import binom, norm

from msbiqa.smoothing.certify import certificate_from_scores, certify, min_samples, order_statistic_ranks
from msbiqa.smoothing.sampler import sample_scores


@cache
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


SIGMA, EPS, ALPHA, N, TRIALS, X0 = 0.12, 0.12, 0.05, 20, 3000, 0.5


def one_pixel_score(batch: torch.Tensor) -> torch.Tensor:
    return 3.0 + 10.0 * batch[:, 0, 0, 0]


def true_percentile(q: float) -> float:
    return 3.0 + 10.0 * float(np.clip(X0 + SIGMA * norm.ppf(q), 0.0, 1.0))


@pytest.fixture(scope="module")
def trials():
    """TRIALS independent score sets of N samples each, drawn by the real sampler (seeds 0..TRIALS-1)."""
    image = torch.full((3, 2, 2), X0)
    return np.stack(
        [sample_scores(one_pixel_score, image, sigma=SIGMA, n=N, seed=s).double().numpy() for s in range(TRIALS)]
    )


def violation_rates(lowers, uppers):
    q_lo, q_hi = true_percentile(norm.cdf(-EPS / SIGMA)), true_percentile(norm.cdf(EPS / SIGMA))
    return float(np.mean(lowers > q_lo)), float(np.mean(uppers < q_hi))


def slack(rate):
    return 3.5 * np.sqrt(rate * (1 - rate) / TRIALS)


def test_certified_bounds_cover_at_the_predicted_rate(trials):
    certs = [certificate_from_scores(y, sigma=SIGMA, eps=EPS, alpha=ALPHA) for y in trials]
    lowers = np.array([c.lower for c in certs])
    uppers = np.array([c.upper for c in certs])
    medians = np.array([c.median for c in certs])
    assert np.all(lowers <= medians) and np.all(medians <= uppers)
    lo_rate, hi_rate = violation_rates(lowers, uppers)
    k_lo, k_hi = order_statistic_ranks(N, SIGMA, EPS, ALPHA)
    predicted_lo = binom.cdf(k_lo - 1, N, norm.cdf(-EPS / SIGMA))  # P[y_(k_lo) > q_lo]
    predicted_hi = binom.sf(k_hi - 1, N, norm.cdf(EPS / SIGMA))  # P[y_(k_hi) < q_hi]
    assert predicted_lo <= ALPHA and predicted_hi <= ALPHA
    assert abs(lo_rate - predicted_lo) <= slack(ALPHA)
    assert abs(hi_rate - predicted_hi) <= slack(ALPHA)
    assert lo_rate <= ALPHA + slack(ALPHA) and hi_rate <= ALPHA + slack(ALPHA)


def test_bounds_are_the_expected_order_statistics_not_looser(trials):
    """Mean bounds sit where the k-th order statistic of N(x0, sigma^2) is expected (Blom's approximation)."""
    k_lo, k_hi = order_statistic_ranks(N, SIGMA, EPS, ALPHA)
    certs = [certificate_from_scores(y, sigma=SIGMA, eps=EPS, alpha=ALPHA) for y in trials]
    for k, got in ((k_lo, np.mean([c.lower for c in certs])), (k_hi, np.mean([c.upper for c in certs]))):
        expected = true_percentile((k - 0.375) / (N + 0.25))
        assert abs(got - expected) < 0.1 * 10 * SIGMA


def test_off_by_one_and_swapped_bounds_are_caught(trials):
    """The public-code mistakes fail these checks: sorted[k] (1-based k) breaks lower coverage, a swap breaks order."""
    k_lo, k_hi = order_statistic_ranks(N, SIGMA, EPS, ALPHA)
    ys = np.sort(trials, axis=1)
    lo_rate, _ = violation_rates(ys[:, k_lo], ys[:, k_hi - 1])  # lower: 0-based index with a 1-based rank
    assert lo_rate > ALPHA + slack(ALPHA)
    swapped_lower, swapped_upper = ys[:, k_hi - 1], ys[:, k_lo - 1]
    assert np.all(swapped_lower >= np.median(ys, axis=1)) and np.any(swapped_lower > swapped_upper)


def test_descending_order_with_one_based_ranks_makes_the_upper_bound_too_optimistic(trials):
    """Samples sorted in descending order, our ranks counted from the top (r = n - k + 1) and used as 0-based
    indices: each bound comes out one rank lower (the lower one is then more conservative, where it exists), and
    the upper bound breaks its coverage."""
    _, k_hi = order_statistic_ranks(N, SIGMA, EPS, ALPHA)
    upper = -np.sort(-trials, axis=1)[:, N - k_hi + 1]
    np.testing.assert_array_equal(upper, np.sort(trials, axis=1)[:, k_hi - 2])  # y_(k_hi - 1), one rank low
    _, hi_rate = violation_rates(np.full(len(upper), -np.inf), upper)
    assert hi_rate > ALPHA + slack(ALPHA)


def test_certify_end_to_end_matches_scores_path():
    image = torch.full((3, 2, 2), X0)
    cert = certify(one_pixel_score, image, sigma=SIGMA, eps=EPS, n=200, alpha=0.01, seed=7)
    scores = sample_scores(one_pixel_score, image, sigma=SIGMA, n=200, seed=7)
    assert cert == certificate_from_scores(scores, sigma=SIGMA, eps=EPS, alpha=0.01, seed=7)
    assert cert.lower <= cert.median <= cert.upper
    assert cert.delta == max(cert.upper - cert.median, cert.median - cert.lower)
    assert cert.width == pytest.approx(cert.upper - cert.lower)
