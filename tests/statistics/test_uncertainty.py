"""Bootstrap intervals: degenerate cases give point intervals, paired self-differences are exactly 0, clusters
resample whole groups, and the image interval covers a known correlation about as often as it claims. The
two-level replicate bootstrap is the image bootstrap for one replicate and widens with training randomness."""

import numpy as np
import pytest
from scipy import stats

from msbiqa.statistics.uncertainty import (
    UNDEFINED_SHARE,
    Bootstrap,
    bootstrap,
    cluster_members,
    defined_percentiles,
    paired_difference,
    replicate_bootstrap,
)

FAST = Bootstrap(resamples=200, seed=1)


def spearman_of(x, y):
    return lambda idx: stats.spearmanr(x[idx], y[idx]).statistic


def test_monotone_pair_gives_the_point_interval_one():
    x = np.arange(30.0)
    y = x**3
    for clusters in (None, np.repeat(np.arange(6), 5)):
        result = bootstrap(spearman_of(x, y), 30, clusters=clusters, config=FAST)
        assert (result.estimate, result.low, result.high) == pytest.approx((1.0, 1.0, 1.0), abs=1e-12)


def test_identical_clusters_give_no_spread():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=10), rng.normal(size=10)
    xs, ys = np.tile(x, 4), np.tile(y, 4)  # four clusters, each the same ten (x, y) pairs
    result = bootstrap(spearman_of(xs, ys), 40, clusters=np.repeat(list("abcd"), 10), config=FAST)
    assert result.low == pytest.approx(result.estimate) and result.high == pytest.approx(result.estimate)
    assert result.estimate == pytest.approx(stats.spearmanr(x, y).statistic)
    wide = bootstrap(spearman_of(xs, ys), 40, config=FAST)  # images resampled independently do spread
    assert wide.high - wide.low > 0.1


def test_paired_difference_with_itself_is_exactly_zero():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=50), rng.normal(size=50)
    stat = spearman_of(x, y)
    for clusters in (None, np.repeat(np.arange(5), 10)):
        result = paired_difference(stat, stat, 50, clusters=clusters, config=FAST)
        assert (result.estimate, result.low, result.high) == (0.0, 0.0, 0.0)


def test_paired_interval_is_narrower_than_the_unpaired_spread():
    rng = np.random.default_rng(2)
    truth, shared = rng.normal(size=80), rng.normal(size=80)
    a = truth + 0.5 * shared  # b makes the same errors as a, plus a little more: the pairing cancels the shared part
    b = a + 0.2 * rng.normal(size=80)
    stat_a, stat_b = spearman_of(a, truth), spearman_of(b, truth)
    diff = paired_difference(stat_a, stat_b, 80, config=FAST)
    single = bootstrap(stat_b, 80, config=FAST)
    assert diff.estimate == pytest.approx(stat_a(np.arange(80)) - stat_b(np.arange(80)))
    assert diff.low <= diff.estimate <= diff.high
    assert diff.high - diff.low < single.high - single.low  # unpaired, the two spreads would add up


def test_vector_statistics_share_resamples():
    rng = np.random.default_rng(3)
    x = rng.normal(size=40)
    result = bootstrap(lambda i: np.array([x[i].mean(), 2 * x[i].mean()]), 40, config=FAST)
    assert result.estimate.shape == (2,)
    np.testing.assert_allclose([result.low[1], result.high[1]], [2 * result.low[0], 2 * result.high[0]])


def test_cluster_members_in_order_of_appearance():
    groups = cluster_members(["b", "a", "b", "c", "a"])
    assert [g.tolist() for g in groups] == [[0, 2], [1, 4], [3]]


def test_coverage_of_a_known_correlation():
    rho, n, runs, hits = 0.6, 60, 100, 0
    rng = np.random.default_rng(4)
    cov = [[1, rho], [rho, 1]]
    for run in range(runs):
        x, y = rng.multivariate_normal([0, 0], cov, size=n).T
        r = bootstrap(lambda i, x=x, y=y: np.corrcoef(x[i], y[i])[0, 1], n, config=Bootstrap(resamples=300, seed=run))
        hits += r.low <= rho <= r.high
    assert 0.85 <= hits / runs <= 1.0  # nominal 0.95; the percentile interval runs a little short at n = 60


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="at least 2 images"):
        bootstrap(np.mean, 1)
    with pytest.raises(ValueError, match="at least 2 clusters"):
        bootstrap(np.mean, 3, clusters=["a", "a", "a"])
    with pytest.raises(ValueError, match="labels for 3 images"):
        bootstrap(np.mean, 3, clusters=["a", "b"])
    with pytest.raises(ValueError, match="percentile or BCa"):
        Bootstrap(method="basic")


def test_resamples_with_an_undefined_statistic_are_left_out_up_to_a_share():
    values = np.arange(100.0)

    def mean_unless_missing(first):  # NaN on a resample without any of the images 0..first-1
        return lambda idx: values[idx].mean() if idx.min() < first else np.nan

    rare = bootstrap(mean_unless_missing(4), 100, config=FAST)  # 0.96**100: about 2 % of resamples undefined
    assert np.isfinite([rare.low, rare.high]).all() and rare.low < rare.estimate < rare.high
    common = bootstrap(mean_unless_missing(1), 100, config=FAST)  # 0.99**100: about 37 % undefined
    assert np.isnan([common.low, common.high]).all()
    share = int(UNDEFINED_SHARE * 40)
    rows = np.array([np.r_[np.full(share, np.nan), np.arange(40.0 - share)], np.r_[np.nan, np.arange(39.0)]])
    rows = np.vstack([rows, np.r_[np.full(share + 1, np.nan), np.arange(39.0 - share)]])
    low, high = defined_percentiles(rows, 0.95)
    assert np.isfinite(low[:2]).all() and np.isfinite(high[:2]).all() and np.isnan([low[2], high[2]]).all()


def correlated(n=80, seed=5):
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=n)
    return truth, truth + rng.normal(size=n)


def test_one_replicate_is_the_image_bootstrap():
    truth, pred = correlated()
    stat, config = (lambda idx: np.corrcoef(pred[idx], truth[idx])[0, 1]), Bootstrap(resamples=2000, seed=0)
    for clusters in (None, np.repeat(np.arange(8), 10)):
        image = bootstrap(stat, 80, clusters=clusters, config=config)
        one = replicate_bootstrap([stat], 80, clusters=clusters, config=config)
        width = image.high - image.low
        assert one.estimate == pytest.approx(image.estimate)
        assert one.high - one.low == pytest.approx(width, rel=0.15)  # other draws, the same spread
        assert abs(one.low - image.low) < 0.15 * width and abs(one.high - image.high) < 0.15 * width
        identical = replicate_bootstrap([stat, stat, stat], 80, clusters=clusters, config=config)
        assert (identical.low, identical.high) == pytest.approx((one.low, one.high), abs=1e-12)


def test_replicates_that_differ_widen_the_interval_around_their_mean():
    truth, pred = correlated()
    stat = spearman_of(pred, truth)
    shifted = [lambda idx, c=c: stat(idx) + c for c in (-0.3, 0.0, 0.3)]  # three seeds, three levels
    one = replicate_bootstrap([stat], 80, config=FAST)
    three = replicate_bootstrap(shifted, 80, config=FAST)
    assert three.estimate == pytest.approx(one.estimate)
    assert three.high - three.low > 1.5 * (one.high - one.low)
    assert three.low < one.low and three.high > one.high


def test_replicate_bootstrap_is_seeded_and_paired_self_differences_vanish():
    truth, pred = correlated()
    stats = [spearman_of(pred, truth), spearman_of(pred + np.sin(truth), truth)]
    first, again = (replicate_bootstrap(stats, 80, config=FAST) for _ in range(2))
    other = replicate_bootstrap(stats, 80, config=Bootstrap(resamples=200, seed=2))
    assert (first.low, first.high) == (again.low, again.high) != (other.low, other.high)
    vector = replicate_bootstrap([lambda i, s=s: np.array([s(i), -s(i)]) for s in stats], 80, config=FAST)
    assert (vector.low[1], vector.high[1]) == pytest.approx((-first.high, -first.low))
    zero = replicate_bootstrap([lambda i, s=s: s(i) - s(i) for s in stats], 80, config=FAST)
    assert (zero.estimate, zero.low, zero.high) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="at least 2 images"):
        replicate_bootstrap(stats, 1)
