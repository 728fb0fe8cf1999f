"""Baseline: randomized smoothing for regression by binning the score (Cohen et al., ICML 2019, CERTIFY).

The score range is cut into bins; the smoothed prediction is the bin that f(x + xi) falls into most
often. n0 draws select the top bin, n further draws lower-bound its probability pA with a one-sided
Clopper-Pearson interval at level 1 - alpha; if pA > 1/2 the bin is certified within l2 radius
sigma * Phi^-1(pA), otherwise the method abstains. The reported score is the bin centre, so inside the
radius it does not move at all (delta = 0); the price is quantisation and abstentions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy.stats import binomtest, norm

from msbiqa.smoothing.sampler import ScoreFn, resolve_seed, sample_scores
from msbiqa.smoothing.validate import check_alpha, check_count, check_eps, check_image, check_n, check_sigma


@dataclass(frozen=True)
class BinnedCertificate:
    """The top bin of one image; certified within l2 `radius` (-inf when abstaining).

    `prediction` is the top bin's centre, also when abstaining (then nothing is certified, delta = inf).
    """

    prediction: float
    bin_lo: float
    bin_hi: float
    radius: float
    p_lower: float
    abstained: bool
    certified: bool
    delta: float
    n0: int
    n: int
    sigma: float
    eps: float
    alpha: float
    seed: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def bin_edges(score_range: tuple[float, float], n_bins: int) -> np.ndarray:
    """n_bins equal bins over score_range."""
    lo, hi = (float(v) for v in score_range)
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise ValueError(f"score_range must be finite (lo, hi) with hi > lo, got {score_range}")
    return np.linspace(lo, hi, check_count(n_bins, name="n_bins") + 1)


def bin_counts(scores: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """How many scores fall in each bin; scores outside the range count in the end bins."""
    idx = np.clip(np.searchsorted(edges, scores, side="right") - 1, 0, len(edges) - 2)
    return np.bincount(idx, minlength=len(edges) - 1)


def certify_binned(
    score_fn: ScoreFn,
    image: torch.Tensor,
    *,
    sigma: float,
    eps: float,
    n: int = 1000,
    alpha: float = 0.001,
    n0: int = 100,
    n_bins: int = 10,
    score_range: tuple[float, float] | None = None,
    batch_size: int | None = None,
    seed: int | None = None,
    progress: bool = False,
    device: str | torch.device | None = None,
) -> BinnedCertificate:
    """Certify the binned smoothed score of `image`; same call shape as `msbiqa.certify`.

    score_range defaults to `score_fn.score_range` (msbiqa metrics declare it).
    """
    image = check_image(image)
    sigma, eps, alpha = check_sigma(sigma), check_eps(eps), check_alpha(alpha)
    n, n0 = check_n(n), check_n(n0, name="n0")
    if score_range is None:
        score_range = getattr(score_fn, "score_range", None)
        if score_range is None:
            raise ValueError("score_fn declares no score_range; pass score_range=(lo, hi)")
    edges = bin_edges(score_range, n_bins)
    seed = resolve_seed(seed)
    scores = (
        sample_scores(
            score_fn,
            image,
            sigma=sigma,
            n=n0 + n,
            batch_size=batch_size,
            seed=seed,
            progress=progress,
            device=device,
            desc="certify (binned)",
        )
        .double()
        .numpy()
    )
    top = int(np.argmax(bin_counts(scores[:n0], edges)))
    n_top = int(bin_counts(scores[n0:], edges)[top])
    p_lower = float(binomtest(n_top, n).proportion_ci(confidence_level=1 - 2 * alpha, method="exact").low)
    abstained = p_lower <= 0.5
    radius = float("-inf") if abstained else float(sigma * norm.ppf(p_lower))
    certified = (not abstained) and radius >= eps
    return BinnedCertificate(
        prediction=float((edges[top] + edges[top + 1]) / 2),
        bin_lo=float(edges[top]),
        bin_hi=float(edges[top + 1]),
        radius=radius,
        p_lower=p_lower,
        abstained=abstained,
        certified=certified,
        delta=0.0 if certified else float("inf"),
        n0=n0,
        n=n,
        sigma=sigma,
        eps=eps,
        alpha=alpha,
        seed=seed,
    )
