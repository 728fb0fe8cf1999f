"""Bootstrap intervals of any per-image statistic: over images, over clusters of images, and paired.

A correlation over a few hundred images is a statistic of a sample. `bootstrap` gives its 95 % interval with
`scipy.stats.bootstrap`, resampling either images or whole clusters (all distorted versions of one reference
photo move together, so a cluster bootstrap over photos is the honest interval when photos are few). A
statistic is any function of an index array of images returning one number or a vector, so several
statistics, or the difference of one statistic between two defences, share the same resamples: a paired
comparison (`paired_difference`) is the bootstrap of the difference itself, and the difference of a defence
with itself is exactly 0 in every resample.

`replicate_bootstrap` adds training randomness: several training replicates (seeds) of a defence, each
certified on the same images, give one estimate (their mean) whose interval resamples the replicates as well
as the images (a two-level bootstrap).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from msbiqa.settings import setting

Statistic = Callable[[np.ndarray], "float | np.ndarray"]
UNDEFINED_SHARE = 0.05  # resamples with an undefined statistic that an interval may leave out


@dataclass
class Bootstrap:
    """How intervals are computed: `resamples` draws, two-sided `confidence`, percentile or BCa, a fixed seed
    (the same seed gives the same resamples for every statistic of the same images)."""

    resamples: int = setting(1000, "bootstrap resamples per interval")
    confidence: float = setting(0.95, "confidence level of the intervals")
    method: str = setting("percentile", "percentile or BCa", choices=["percentile", "BCa"])
    seed: int = 0  # of the resampling; a run passes its noise seed (not an option of its own)

    def __post_init__(self):
        if self.resamples < 2 or not 0 < self.confidence < 1 or self.method not in ("percentile", "BCa"):
            raise ValueError(
                f"need resamples >= 2, 0 < confidence < 1 and method percentile or BCa; got {self.resamples}, "
                f"{self.confidence}, {self.method!r}"
            )


@dataclass(frozen=True)
class Interval:
    """A statistic's value on all images and its bootstrap interval [low, high] (arrays for vector statistics)."""

    estimate: float | np.ndarray
    low: float | np.ndarray
    high: float | np.ndarray


def cluster_members(clusters: Sequence) -> list[np.ndarray]:
    """Image indices of each cluster, clusters in order of first appearance."""
    labels = np.asarray(clusters)
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(first)
    return [np.flatnonzero(inverse == k) for k in order]


def bootstrap(
    statistic: Statistic, n_images: int, *, clusters: Sequence | None = None, config: Bootstrap | None = None
) -> Interval:
    """`statistic(indices)` on all `n_images` images and its bootstrap interval.

    Without `clusters` images are resampled with replacement. With `clusters` (one label per image, e.g. the
    reference photo) whole clusters are resampled with replacement and every image of a drawn cluster is
    taken, as often as the cluster was drawn. A statistic that is constant over resamples gets the interval
    [value, value] (percentile method; BCa is undefined there and gives NaN). Resamples where the statistic is
    undefined (NaN) are handled by `defined_percentiles` (percentile method).
    """
    c = config or Bootstrap()
    if n_images < 2:
        raise ValueError(f"a bootstrap needs at least 2 images, got {n_images}")
    estimate = np.asarray(statistic(np.arange(n_images)), dtype=float)
    if clusters is None:
        data, index = np.arange(n_images), None
    else:
        if len(clusters) != n_images:
            raise ValueError(f"clusters has {len(clusters)} labels for {n_images} images")
        members = cluster_members(clusters)
        if len(members) < 2:
            raise ValueError("a cluster bootstrap needs at least 2 clusters; use the image bootstrap")
        data, index = np.arange(len(members)), members

    def resampled(picks: np.ndarray) -> np.ndarray:
        picks = np.asarray(picks, dtype=int)
        return np.asarray(statistic(picks if index is None else np.concatenate([index[k] for k in picks])), float)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)  # constant statistic: [value, value] is right
        result = stats.bootstrap(
            (data,),
            resampled,
            vectorized=False,
            n_resamples=c.resamples,
            confidence_level=c.confidence,
            method=c.method,
            rng=np.random.default_rng(c.seed),
        )
    low, high = result.confidence_interval
    if c.method == "percentile":
        low, high = defined_percentiles(result.bootstrap_distribution, c.confidence)
    return _interval(estimate, low, high)


def defined_percentiles(distribution: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """The percentile interval over the resamples where the statistic is defined (last axis). A correlation is
    undefined on a resample whose scores are all equal, which a handful of images can draw; such resamples are
    left out while they are at most UNDEFINED_SHARE of all, and beyond that the interval is NaN (too few images
    to say)."""
    tail = 100 * (1 - confidence) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: NaN is the answer
        low, high = np.nanpercentile(distribution, [tail, 100 - tail], axis=-1)
    too_few = np.isnan(distribution).mean(axis=-1) > UNDEFINED_SHARE
    return np.where(too_few, np.nan, low), np.where(too_few, np.nan, high)


def difference(statistic_a: Statistic, statistic_b: Statistic) -> Statistic:
    """The statistic statistic_a - statistic_b on the same indices (a paired comparison)."""
    return lambda idx: np.asarray(statistic_a(idx), float) - np.asarray(statistic_b(idx), float)


def paired_difference(
    statistic_a: Statistic,
    statistic_b: Statistic,
    n_images: int,
    *,
    clusters: Sequence | None = None,
    config: Bootstrap | None = None,
) -> Interval:
    """The bootstrap of statistic_a - statistic_b, both evaluated on the same resample of the same images
    (e.g. SROCC of two defences on one image set): the interval of the paired difference, not of two
    independent estimates."""
    return bootstrap(difference(statistic_a, statistic_b), n_images, clusters=clusters, config=config)


def replicate_bootstrap(
    statistics: Sequence[Statistic],
    n_images: int,
    *,
    clusters: Sequence | None = None,
    config: Bootstrap | None = None,
) -> Interval:
    """The mean over training replicates of a statistic and its two-level percentile interval.

    `statistics[r](indices)` is replicate r's statistic on the same `n_images` images (every replicate
    certified the same images, in the same order). Each resample draws as many replicates as there are, with
    replacement, then the images (or whole `clusters`, as `bootstrap`), and averages the drawn replicates'
    statistics on those images. The image draw is shared by the drawn replicates because they were certified on
    the same images: independent draws per replicate would shrink the image part of the spread by
    1/sqrt(replicates). So identical replicates give exactly the interval of one (an image bootstrap), and
    replicates that differ widen it by the training randomness. Always the percentile interval (over the
    resamples where it is defined, `defined_percentiles`); seeded by `config.seed`.
    """
    c = config or Bootstrap()
    if n_images < 2 or not statistics:
        raise ValueError(f"a replicate bootstrap needs replicates and at least 2 images, got {n_images} images")
    members = [np.array([i]) for i in range(n_images)] if clusters is None else cluster_members(clusters)
    if len(members) < 2:
        raise ValueError("a cluster bootstrap needs at least 2 clusters; use the image bootstrap")
    every = np.arange(n_images)
    estimate = np.mean([np.asarray(s(every), float) for s in statistics], axis=0)
    replicate_rng, image_rng = np.random.default_rng(c.seed).spawn(2)
    draws = []
    for _ in range(c.resamples):
        picks, times = np.unique(replicate_rng.integers(len(statistics), size=len(statistics)), return_counts=True)
        idx = np.concatenate([members[k] for k in image_rng.integers(len(members), size=len(members))])
        values = [np.asarray(statistics[r](idx), float) for r in picks]  # each drawn replicate evaluated once
        draws.append(np.average(values, axis=0, weights=times))
    low, high = defined_percentiles(np.moveaxis(np.asarray(draws), 0, -1), c.confidence)
    return _interval(estimate, low, high)


def _interval(estimate: np.ndarray, low, high) -> Interval:
    """An Interval of floats for a scalar statistic, of arrays for a vector one."""
    if estimate.ndim == 0:
        return Interval(float(estimate), float(low), float(high))
    return Interval(estimate, np.asarray(low, float), np.asarray(high, float))
