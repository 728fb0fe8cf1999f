"""Binned randomized-smoothing baseline: Clopper-Pearson radius, abstention, binning edge cases."""

import numpy as np
import pytest
import torch
from scipy.stats import beta, norm

from msbiqa.smoothing.binned import bin_counts, bin_edges, certify_binned


def constant_score(batch):
    return torch.full((batch.shape[0],), 42.0)


def spread_score(batch):  # one pixel spread over the whole range: no bin wins half the mass
    return 100.0 * batch[:, 0, 0, 0]


def test_constant_score_is_certified_with_the_clopper_pearson_radius():
    image = torch.full((3, 4, 4), 0.5)
    cert = certify_binned(constant_score, image, sigma=0.25, eps=0.5, n=500, alpha=0.001, score_range=(0, 100), seed=0)
    p_lower = beta.ppf(0.001, 500, 1)  # one-sided exact bound when all 500 land in the top bin
    assert cert.p_lower == pytest.approx(p_lower, rel=1e-9)
    assert cert.radius == pytest.approx(0.25 * norm.ppf(p_lower), rel=1e-9)
    assert (cert.bin_lo, cert.bin_hi, cert.prediction) == (40.0, 50.0, 45.0)
    assert cert.certified and cert.delta == 0.0 and not cert.abstained


def test_spread_score_abstains():
    image = torch.full((3, 4, 4), 0.5)
    cert = certify_binned(spread_score, image, sigma=0.5, eps=0.01, n=300, alpha=0.001, score_range=(0, 100), seed=0)
    assert cert.abstained and not cert.certified and cert.radius == float("-inf") and cert.delta == float("inf")
    assert np.isfinite(cert.prediction)


def test_radius_smaller_than_eps_is_not_certified():
    image = torch.full((3, 4, 4), 0.5)
    cert = certify_binned(constant_score, image, sigma=0.1, eps=1.0, n=100, alpha=0.001, score_range=(0, 100), seed=0)
    assert not cert.abstained and cert.radius < 1.0 and not cert.certified


def test_bins_clip_out_of_range_scores_and_need_a_range():
    edges = bin_edges((0, 10), 5)
    assert list(bin_counts(np.array([-3.0, 0.0, 1.99, 2.0, 10.0, 99.0]), edges)) == [3, 1, 0, 0, 2]
    with pytest.raises(ValueError, match="score_range"):
        certify_binned(constant_score, torch.zeros(3, 2, 2), sigma=0.1, eps=0.1, n=10)
    with pytest.raises(ValueError, match="hi > lo"):
        bin_edges((5, 5), 3)
