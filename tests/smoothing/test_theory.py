"""The theory helpers agree with the certifier."""

import math

import torch

from msbiqa.smoothing.certify import min_samples
from msbiqa.smoothing.theory import coverage, delta_vs_eps, largest_eps, ranks_vs_n


def test_theory_helpers_match_the_certifier():
    c = coverage(100, 0.12, 0.05, 0.1, trials=20000, seed=1)
    tol = 4 * math.sqrt(0.1 * 0.9 / 20000)
    assert abs(c["lower_miss"] - c["lower_miss_exact"]) < tol and abs(c["upper_miss"] - c["upper_miss_exact"]) < tol
    assert c["lower_miss_exact"] <= 0.1 and c["off_by_one_lower_miss"] > c["lower_miss"]
    r = ranks_vs_n([5, 20, 100, 1000], 0.12, 0.05, 0.001)
    assert r["n"].tolist() == [20, 100, 1000] and (r["k_lo"] <= r["k_hi"]).all()
    scores = torch.randn(200, generator=torch.Generator().manual_seed(0))
    d = delta_vs_eps(scores, 0.12, [0.0, 0.05, 0.1, 10.0], 0.001)
    assert d["eps"].tolist() == [0.0, 0.05, 0.1] and d["delta"].is_monotonic_increasing
    assert (d["lower"] <= d["median"]).all() and (d["median"] <= d["upper"]).all()


def test_largest_eps_is_where_min_samples_reaches_n():
    for n, sigma, alpha in [(40, 0.12, 0.001), (200, 0.25, 0.01), (1000, 0.06, 0.001)]:
        eps = largest_eps(n, sigma, alpha)
        assert min_samples(sigma, eps * (1 - 1e-6), alpha) <= n < min_samples(sigma, eps * (1 + 1e-6), alpha)
    assert largest_eps(9, 0.12, 0.001) is None and largest_eps(10, 0.12, 0.001) >= 0  # 0.5**10 < 0.001 < 0.5**9
