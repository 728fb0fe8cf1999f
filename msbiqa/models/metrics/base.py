"""The metric interface every base metric follows, and the errors raised while loading one.

A metric maps a batch Bx3xHxW in [0, 1] to B scores. It is an nn.Module so that it moves with
`.to(device)`, and its forward is differentiable where the underlying model is, so it can serve as a loss.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class MissingWeightsError(FileNotFoundError):
    """A weights or parameter file is not on disk; msbiqa never downloads at run time."""


class WeightsMismatchError(ValueError):
    """A weights file exists but does not fit the metric's architecture."""


class IQAMetric(nn.Module):
    """Base class: `forward(x)` scores a batch; `name`, `higher_is_better`, `score_range` describe the scale."""

    def __init__(self, name: str, higher_is_better: bool, score_range: tuple[float, float]):
        super().__init__()
        self.name = name
        self.higher_is_better = bool(higher_is_better)
        self.score_range = (float(score_range[0]), float(score_range[1]))
        self.training = False  # frozen evaluator from the start (see train)

    def train(self, mode: bool = True) -> IQAMetric:
        """Metrics are frozen evaluators: always eval mode (no dropout); train the underlying `.net` instead."""
        return super().train(False)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """Scores of a checked batch, any shape with B elements."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{self.name} scores Bx3xHxW image batches in [0, 1], got {shape}")
        scores = self.score(x)
        if scores.numel() != x.shape[0]:
            raise ValueError(f"{self.name} returned {scores.numel()} scores for {x.shape[0]} images")
        return scores.reshape(x.shape[0])

    def extra_repr(self) -> str:
        arrow = "higher" if self.higher_is_better else "lower"
        return f"name={self.name!r}, {arrow} is better, score_range={self.score_range}"


def score_span(metric) -> float:
    """Width hi - lo of a metric's declared score range, or 1 when it is unknown or unbounded: the unit in
    which losses and margins are stated, so that they mean the same on every metric's scale."""
    lo, hi = (float(v) for v in (getattr(metric, "score_range", None) or (0.0, 1.0)))
    return hi - lo if math.isfinite(hi - lo) and hi > lo else 1.0
