"""Input checks: seeds that would repeat other seeds, numpy counts, the sample limit, unavailable devices."""

import time

import numpy as np
import pytest
import torch

from msbiqa.smoothing import certify, order_statistic_ranks, sample_scores
from msbiqa.smoothing.sampler import resolve_seed
from msbiqa.smoothing.validate import MAX_SAMPLES, SEED_LIMIT, check_n, check_seed


def mean_score(x):
    return x.mean(dim=(1, 2, 3))


def test_seeds_beyond_32_bits_are_refused_instead_of_repeating_smaller_ones():
    image = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 2\*\*32\)"):
        sample_scores(mean_score, image, sigma=0.1, n=4, seed=5 + 2**32)
    with pytest.raises(ValueError, match="seed"):
        check_seed(-1)
    assert check_seed(np.int64(7)) == 7 and 0 <= resolve_seed(None) < SEED_LIMIT


def test_numpy_integers_are_counts_and_huge_n_is_refused_at_once():
    image = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
    cert = certify(mean_score, image, sigma=0.25, eps=0.02, n=np.int64(32), alpha=np.float64(0.05), seed=0)
    assert cert.n == 32 and isinstance(cert.n, int)
    start = time.perf_counter()
    with pytest.raises(ValueError, match=f"exceeds the limit of {MAX_SAMPLES:,}"):
        certify(mean_score, image, sigma=0.12, eps=0.05, n=10**9)
    assert time.perf_counter() - start < 1.0  # nothing of size n was allocated
    with pytest.raises(ValueError, match="positive integer"):
        check_n(32.0)


def test_ranks_for_the_largest_n_take_no_memory_of_size_n():
    start = time.perf_counter()
    k_lo, k_hi = order_statistic_ranks(MAX_SAMPLES, 0.12, 0.05, 0.001)
    assert time.perf_counter() - start < 1.0
    assert 0.33 < k_lo / MAX_SAMPLES < 0.34 and 0.66 < k_hi / MAX_SAMPLES < 0.67  # near Phi(-+eps/sigma)
