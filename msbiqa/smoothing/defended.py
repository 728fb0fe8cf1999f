"""The method's central object: a base NR-IQA metric defended by Gaussian noise at sigma and an optional denoiser.

f = metric o denoiser o clamp01; the defended score of x is the median of f(x + xi) over n draws
xi ~ N(0, sigma^2 I). Without a denoiser this is plain median smoothing (MS); with DnCNN trained on MSE it is
DMS; with a denoiser trained through the metric it is DMS-IQA.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from msbiqa.fingerprint import weights_digest
from msbiqa.smoothing.binned import BinnedCertificate, certify_binned
from msbiqa.smoothing.certify import Certificate, certify
from msbiqa.smoothing.sampler import sample_scores, score_batch
from msbiqa.smoothing.validate import check_sigma


def check_denoiser_fits(denoiser, metric) -> None:
    """A denoiser trained through one metric is specific to it: refuse it in front of another metric (or the
    same name with other weights), naming the fix."""
    wanted = getattr(denoiser, "trained_through", None)  # msbiqa.models.denoisers.Denoiser says
    if wanted is None:
        return
    name = str(getattr(metric, "name", type(metric).__name__))
    config = getattr(denoiser, "config", None) or {}
    digest = config.get("base_metric_digest")
    if wanted != name or (digest is not None and digest != weights_digest(metric)):
        what = wanted if wanted != name else f"{wanted} with other weights ({digest})"
        raise ValueError(
            f"denoiser {getattr(denoiser, 'name', type(denoiser).__name__)} was trained through {what}, not "
            f"{name}: a DMS-IQA denoiser is metric-specific. Train one for this metric (`msbiqa train-denoiser "
            f"--kind {config.get('kind', 'dms-iqa')} --metric {name}`), or pass foreign_denoiser=True to use it "
            "anyway (tables then name the metric it was trained for)"
        )


class DefendedMetric(nn.Module):
    """`metric` (Bx3xHxW in [0, 1] -> B scores) smoothed at noise level `sigma`, through `denoiser` if given.

    Frozen evaluator: it stays in eval mode. `forward(x)` is one differentiable noisy draw (what EOT attacks
    and training losses average); `sample`, `median`, `certify` and `certify_binned` are the Monte-Carlo
    estimates, seeded so that a fixed seed draws the same noise whatever the batch size (the scores then agree up
    to the networks' float rounding, which can depend on batch size and thread count).
    """

    def __init__(
        self, metric: nn.Module, sigma: float, denoiser: nn.Module | None = None, *, foreign_denoiser: bool = False
    ):
        super().__init__()
        if not foreign_denoiser:
            check_denoiser_fits(denoiser, metric)
        self.metric = metric
        self.denoiser = denoiser
        self.sigma = check_sigma(sigma)
        self.training = False

    def train(self, mode: bool = True) -> DefendedMetric:
        """Always eval mode: the metric and denoiser are frozen (no batch-norm updates, no dropout)."""
        return super().train(False)

    @property
    def name(self) -> str:
        return str(getattr(self.metric, "name", type(self.metric).__name__))

    @property
    def denoiser_name(self) -> str:
        """The denoiser's name (its weights file for a loaded one), "none", and the metric it was trained
        through when that is not this metric."""
        if self.denoiser is None:
            return "none"
        name = str(getattr(self.denoiser, "name", type(self.denoiser).__name__))
        wanted = getattr(self.denoiser, "trained_through", None)
        return name if wanted in (None, self.name) else f"{name} (trained for {wanted})"

    @property
    def higher_is_better(self) -> bool:
        return bool(getattr(self.metric, "higher_is_better", True))

    @property
    def score_range(self) -> tuple[float, float] | None:
        return getattr(self.metric, "score_range", None)

    def __repr__(self) -> str:
        return f"DefendedMetric(metric={self.name}, denoiser={self.denoiser_name}, sigma={self.sigma:g})"

    def score_noisy(self, noisy: torch.Tensor) -> torch.Tensor:
        """f on a batch of already noisy, clamped images: denoise (output clamped to [0, 1]), then score."""
        if self.denoiser is not None:
            noisy = self.denoiser(noisy).clamp(0.0, 1.0)
        return self.metric(noisy)

    def add_noise(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """clamp01(x + xi) for a batch x, one draw xi ~ N(0, sigma^2 I) per image from `generator`."""
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return (x + self.sigma * noise).clamp(0.0, 1.0)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Scores of one noisy draw per image of the batch x, differentiable w.r.t. x."""
        return score_batch(self.score_noisy, self.add_noise(x, generator))

    def check_size(self, x: torch.Tensor) -> None:
        """Refuse images the metric cannot score (it declares `check_size`), before any noise is drawn."""
        if hasattr(self.metric, "check_size"):
            self.metric.check_size(*x.shape[-2:])

    def sample(self, x: torch.Tensor, n: int, seed: int | None = None, **kwargs) -> torch.Tensor:
        """Scores of n noisy copies of one image, in draw order (a float32 CPU tensor); kwargs as `sample_scores`."""
        self.check_size(x)
        return sample_scores(self.score_noisy, x, sigma=self.sigma, n=n, seed=seed, **kwargs)

    def median(self, x: torch.Tensor, n: int, seed: int | None = None, **kwargs) -> float:
        """The defended score of one image: the median of n noisy scores (as in its certificate)."""
        return float(np.median(self.sample(x, n, seed, **kwargs).double().numpy()))

    def certify(
        self, x: torch.Tensor, eps: float, n: int = 1000, alpha: float = 0.001, seed: int | None = None, **kwargs
    ) -> Certificate:
        """Median-smoothing certificate of one image at l2 radius eps; kwargs as `msbiqa.certify`."""
        self.check_size(x)
        return certify(self.score_noisy, x, sigma=self.sigma, eps=eps, n=n, alpha=alpha, seed=seed, **kwargs)

    def certify_binned(
        self, x: torch.Tensor, eps: float, n: int = 1000, alpha: float = 0.001, seed: int | None = None, **kwargs
    ) -> BinnedCertificate:
        """The binned randomized-smoothing baseline on the same f; kwargs as `msbiqa.certify_binned`."""
        self.check_size(x)
        kwargs.setdefault("score_range", self.score_range)
        return certify_binned(self.score_noisy, x, sigma=self.sigma, eps=eps, n=n, alpha=alpha, seed=seed, **kwargs)
