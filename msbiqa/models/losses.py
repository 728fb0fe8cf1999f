"""Training losses for denoisers in front of a frozen NR-IQA metric M (DMS-IQA).

* pixel:  mse = mean((D(x~) - x)^2), x~ = clamp01(x + xi), D unclamped so every pixel has a gradient;
* rank:   pairwise hinge on the metric's scores s_i = M(clamp01(D(x~_i))) so that denoised images keep
          the order of a reference (the clean images' MOS):
              rank = mean over pairs with ref_i > ref_j of max(0, margin - g * (s_i - s_j) / scale),
          g = +1 if higher scores mean better quality, else -1; pairs with tied references are skipped
          (no order to keep), and a batch without a strict pair (one image, all ties) gives 0.
          `scale` (the metric's score range) makes `margin` a fraction of that range.
* target: mean(((s_i - M(x_i)) / scale)^2), keeping the defended metric close to the clean metric.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from msbiqa.models.metrics.base import score_span


def mse_loss(denoised: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """Mean squared pixel error of the denoised images to the clean ones."""
    return F.mse_loss(denoised.float(), clean.float())


def ranking_loss(
    scores: torch.Tensor,
    reference: torch.Tensor,
    *,
    margin: float = 0.01,
    higher_is_better: bool = True,
    scale: float = 1.0,
) -> torch.Tensor:
    """Mean pairwise hinge max(0, margin - g (s_i - s_j) / scale) over pairs with reference_i > reference_j."""
    scores = scores.reshape(-1).float()
    reference = reference.reshape(-1).to(scores.device, torch.float32)
    if scores.numel() != reference.numel():
        raise ValueError(f"ranking_loss got {scores.numel()} scores but {reference.numel()} reference values")
    sign = 1.0 if higher_is_better else -1.0
    diff = sign * (scores[:, None] - scores[None, :]) / scale
    pairs = reference[:, None] > reference[None, :]
    if not pairs.any():
        return scores.sum() * 0.0  # keeps the graph (and the device) for a constant-zero loss
    return F.relu(margin - diff[pairs]).mean()


def target_loss(scores: torch.Tensor, clean_scores: torch.Tensor, *, scale: float = 1.0) -> torch.Tensor:
    """Mean squared difference of the scores to the clean scores, in units of `scale`; clean scores are constants."""
    return (((scores.reshape(-1).float() - clean_scores.reshape(-1).float().detach()) / scale) ** 2).mean()


@dataclass(frozen=True)
class LossWeights:
    """Weights of the combined objective mse * MSE + rank * ranking + target * target."""

    mse: float = 1.0
    rank: float = 0.0
    target: float = 0.0

    @property
    def through_metric(self) -> bool:
        """Whether the objective scores denoised images with the base metric (rank or target loss), which makes
        the denoiser metric-specific."""
        return bool(self.rank or self.target)

    def to_dict(self) -> dict:
        return asdict(self)


class DenoiserObjective(nn.Module):
    """Combined objective for a denoiser in front of a frozen metric.

    `forward(raw, clean, mos)` takes the unclamped denoiser output, the clean batch and its MOS and
    returns (total, parts) with parts a dict of detached loss values. The metric is only evaluated when
    a metric loss has a non-zero weight, and it stays frozen (eval mode, no parameter gradients).
    """

    def __init__(
        self, weights: LossWeights, metric: nn.Module | None = None, *, margin: float = 0.01, scale: float | None = None
    ):
        super().__init__()
        if weights.through_metric and metric is None:
            raise ValueError("the rank and target losses need a base metric; pass metric=")
        self.weights, self.margin = weights, float(margin)
        self.metric = metric.eval().requires_grad_(False) if metric is not None else None
        self.scale = float(scale) if scale is not None else score_span(metric)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.metric is not None:
            self.metric.eval()  # the base metric is frozen: BN statistics and dropout never train
        return self

    def forward(self, raw: torch.Tensor, clean: torch.Tensor, mos: torch.Tensor | None = None):
        w = self.weights
        parts = {"mse": mse_loss(raw, clean)}
        total = w.mse * parts["mse"]
        if w.through_metric:
            scores = self.metric(raw.clamp(0.0, 1.0)).reshape(-1)
            if w.rank:
                if mos is None:
                    raise ValueError("the rank loss needs the clean images' MOS; pass mos=")
                parts["rank"] = ranking_loss(
                    scores,
                    mos,
                    margin=self.margin,
                    scale=self.scale,
                    higher_is_better=bool(getattr(self.metric, "higher_is_better", True)),
                )
                total = total + w.rank * parts["rank"]
            if w.target:
                with torch.no_grad():
                    clean_scores = self.metric(clean).reshape(-1)
                parts["target"] = target_loss(scores, clean_scores, scale=self.scale)
                total = total + w.target * parts["target"]
        return total, {k: float(v.detach()) for k, v in parts.items()}
