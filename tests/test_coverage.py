"""Monte-Carlo coverage of certified bounds through the full sampler, against closed-form percentiles.

Score = a monotone function of one pixel: f(x + xi) = 3 + 10 * clamp01(x0 + xi0), so the q-percentile of
f(x + xi) is 3 + 10 * clamp01(x0 + sigma * Phi^-1(q)) exactly. Each bound may fail with probability
<= alpha; the exact failure probability of the chosen ranks is known from the binomial law, and the
buggy variants from public code (sorted[k] with 1-based k; swapped names) must be caught.
"""

import numpy as np
import pytest
import torch
from scipy.stats import binom, norm

from msbiqa.certify import certificate_from_scores, certify, order_statistic_ranks
from msbiqa.sampler import sample_scores

SIGMA, EPS, ALPHA, N, TRIALS, X0 = 0.12, 0.12, 0.05, 20, 3000, 0.5


def one_pixel_score(batch: torch.Tensor) -> torch.Tensor:
    return 3.0 + 10.0 * batch[:, 0, 0, 0]


def true_percentile(q: float) -> float:
    return 3.0 + 10.0 * float(np.clip(X0 + SIGMA * norm.ppf(q), 0.0, 1.0))


@pytest.fixture(scope="module")
def trials():
    """TRIALS independent score sets of N samples each, drawn by the real sampler (seeds 0..TRIALS-1)."""
    image = torch.full((3, 2, 2), X0)
    return np.stack([
        sample_scores(one_pixel_score, image, sigma=SIGMA, n=N, seed=s).double().numpy() for s in range(TRIALS)
    ])


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
    predicted_hi = binom.sf(k_hi - 1, N, norm.cdf(EPS / SIGMA))    # P[y_(k_hi) < q_hi]
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


def test_certify_end_to_end_matches_scores_path():
    image = torch.full((3, 2, 2), X0)
    cert = certify(one_pixel_score, image, sigma=SIGMA, eps=EPS, n=200, alpha=0.01, seed=7)
    scores = sample_scores(one_pixel_score, image, sigma=SIGMA, n=200, seed=7)
    assert cert == certificate_from_scores(scores, sigma=SIGMA, eps=EPS, alpha=0.01, seed=7)
    assert cert.lower <= cert.median <= cert.upper
    assert cert.delta == max(cert.upper - cert.median, cert.median - cert.lower)
    assert cert.width == pytest.approx(cert.upper - cert.lower)
