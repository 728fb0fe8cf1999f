"""Training losses for denoisers in front of a frozen NR-IQA metric M (DMS-IQA).

* pixel:  mse = mean((D(x~) - x)^2), x~ = clamp01(x + xi), D unclamped so every pixel has a gradient;
* rank:   pairwise hinge on the metric's scores s_i = M(clamp01(D(x~_i))) so that denoised images keep
          the order of a reference (the clean images' MOS, or the metric's scores of the clean images):
              rank = mean over pairs with ref_i > ref_j and ref_i - ref_j >= min_gap
                     of max(0, margin - g * (s_i - s_j) / scale),
          g = +1 if higher scores mean better quality, else -1; pairs with tied references are skipped
          (no order to keep), so are near ties closer than `min_gap`, and a batch without such a pair gives 0.
          `scale` (the metric's score range) makes `margin` a fraction of that range.
* target: mean(((s_i - M(x_i)) / scale)^2), keeping the defended metric close to the clean metric.
* consistency: mean(((s_i - s'_i) / scale)^2), s'_i the score of a second, independent noise draw of the same
          clean image: the spread of one image's noisy scores, which is what the certified delta measures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from msbiqa.models.metrics.base import score_span

RANK_REFERENCES = ("mos", "clean")  # what the ranking loss orders by: MOS, or the metric's scores of clean images


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
    min_gap: float = 0.0,
) -> torch.Tensor:
    """Mean pairwise hinge max(0, margin - g (s_i - s_j) / scale) over pairs with reference_i > reference_j by at
    least `min_gap` (in the reference's units; 0 = every strictly ordered pair)."""
    scores = scores.reshape(-1).float()
    reference = reference.reshape(-1).to(scores.device, torch.float32)
    if scores.numel() != reference.numel():
        raise ValueError(f"ranking_loss got {scores.numel()} scores but {reference.numel()} reference values")
    sign = 1.0 if higher_is_better else -1.0
    diff = sign * (scores[:, None] - scores[None, :]) / scale
    gap = reference[:, None] - reference[None, :]
    pairs = (gap > 0) & (gap >= min_gap)
    if not pairs.any():
        return scores.sum() * 0.0  # keeps the graph (and the device) for a constant-zero loss
    return F.relu(margin - diff[pairs]).mean()


def target_loss(scores: torch.Tensor, clean_scores: torch.Tensor, *, scale: float = 1.0) -> torch.Tensor:
    """Mean squared difference of the scores to the clean scores, in units of `scale`; clean scores are constants."""
    return (((scores.reshape(-1).float() - clean_scores.reshape(-1).float().detach()) / scale) ** 2).mean()


def consistency_loss(scores: torch.Tensor, second: torch.Tensor, *, scale: float = 1.0) -> torch.Tensor:
    """Mean squared difference of the scores of two noise draws of the same images, in units of `scale`; both
    draws carry gradients (each is pulled towards the other)."""
    return (((scores.reshape(-1).float() - second.reshape(-1).float()) / scale) ** 2).mean()


@dataclass(frozen=True)
class LossWeights:
    """Weights of the combined objective mse * MSE + rank * ranking + target * target + consistency * consistency."""

    mse: float = 1.0
    rank: float = 0.0
    target: float = 0.0
    consistency: float = 0.0

    @property
    def through_metric(self) -> bool:
        """Whether the objective scores denoised images with the base metric (rank, target or consistency loss),
        which makes the denoiser metric-specific."""
        return bool(self.rank or self.target or self.consistency)

    def to_dict(self) -> dict:
        return asdict(self)


class DenoiserObjective(nn.Module):
    """Combined objective for a denoiser in front of a frozen metric.

    `forward(raw, clean, mos, second)` takes the unclamped denoiser output, the clean batch, its MOS and (for the
    consistency loss) the unclamped denoiser output of a second noise draw of the same images, and returns
    (total, parts) with parts a dict of detached loss values. The metric is only evaluated when a metric loss has
    a non-zero weight, and it stays frozen (eval mode, no parameter gradients). `rank_against` is "mos" or
    "clean" (the metric's scores of the clean images); `min_gap` leaves near-tied pairs out of the ranking loss.
    """

    def __init__(
        self,
        weights: LossWeights,
        metric: nn.Module | None = None,
        *,
        margin: float = 0.01,
        scale: float | None = None,
        rank_against: str = "mos",
        min_gap: float = 0.0,
    ):
        super().__init__()
        if weights.through_metric and metric is None:
            raise ValueError("the rank, target and consistency losses need a base metric; pass metric=")
        if rank_against not in RANK_REFERENCES:
            raise ValueError(f"rank_against must be one of {RANK_REFERENCES}, got {rank_against!r}")
        self.weights, self.margin = weights, float(margin)
        self.rank_against, self.min_gap = rank_against, float(min_gap)
        self.metric = metric.eval().requires_grad_(False) if metric is not None else None
        self.scale = float(scale) if scale is not None else score_span(metric)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.metric is not None:
            self.metric.eval()  # the base metric is frozen: BN statistics and dropout never train
        return self

    @property
    def higher_is_better(self) -> bool:
        return bool(getattr(self.metric, "higher_is_better", True))

    def _clean_scores(self, clean: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.metric(clean).reshape(-1)

    def terms(
        self,
        raw: torch.Tensor,
        clean: torch.Tensor,
        mos: torch.Tensor | None = None,
        second: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """The unweighted losses (tensors with their graphs): mse always, each metric loss when weighted."""
        w = self.weights
        terms = {"mse": mse_loss(raw, clean)}
        if not w.through_metric:
            return terms
        scores = self.metric(raw.clamp(0.0, 1.0)).reshape(-1)
        needs_clean = w.target or (w.rank and self.rank_against == "clean")
        clean_scores = self._clean_scores(clean) if needs_clean else None
        if w.rank:
            terms["rank"] = self._ranking(scores, mos, clean_scores)
        if w.target:
            terms["target"] = target_loss(scores, clean_scores, scale=self.scale)
        if w.consistency:
            if second is None:
                raise ValueError("the consistency loss needs a second noise draw of each image; pass second=")
            second_scores = self.metric(second.clamp(0.0, 1.0)).reshape(-1)
            terms["consistency"] = consistency_loss(scores, second_scores, scale=self.scale)
        return terms

    def _ranking(self, scores, mos, clean_scores) -> torch.Tensor:
        """The ranking loss against MOS or against the clean scores (turned into higher-is-better order)."""
        if self.rank_against == "clean":
            reference = clean_scores if self.higher_is_better else -clean_scores
        elif mos is None:
            raise ValueError("the rank loss needs the clean images' MOS; pass mos=")
        else:
            reference = mos
        return ranking_loss(
            scores,
            reference,
            margin=self.margin,
            scale=self.scale,
            higher_is_better=self.higher_is_better,
            min_gap=self.min_gap,
        )

    def weighted(self, terms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each term times its weight (the summands of the total)."""
        return {k: getattr(self.weights, k) * v for k, v in terms.items()}

    def forward(self, raw, clean, mos=None, second=None):
        terms = self.terms(raw, clean, mos, second)
        total = sum(self.weighted(terms).values())
        return total, {k: float(v.detach()) for k, v in terms.items()}


def gradient_shares(weighted: dict[str, torch.Tensor], parameters) -> dict[str, float]:
    """The l2 norm of the gradient of each weighted term w.r.t. `parameters` (`torch.autograd.grad` of each term
    separately, graphs kept for the step that follows): how much each term steers the training."""
    params = [p for p in parameters if p.requires_grad]
    shares = {}
    for name, term in weighted.items():
        grads = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
        squares = [(g.float() ** 2).sum() for g in grads if g is not None]
        shares[name] = float(torch.stack(squares).sum().sqrt()) if squares else 0.0
    return shares
