"""The metric interface every base metric follows, and the errors raised while loading one.

A metric maps a batch Bx3xHxW in [0, 1] to B scores. It is an nn.Module so that it moves with
`.to(device)`, and its forward is differentiable where the underlying model is, so it can serve as a loss.
"""

from __future__ import annotations

import itertools
import math
import pickle
import reprlib

import torch
from torch import nn


class MissingWeightsError(FileNotFoundError):
    """A weights or parameter file is not on disk; msbiqa never downloads at run time."""


class WeightsMismatchError(ValueError):
    """A weights file exists but does not fit the metric's architecture."""


def unreadable_weights(path, err: BaseException) -> str:
    """Why `torch.load(path, weights_only=True)` failed, in one line that names the file and the fix."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    reason = next((line for line in lines if "Unsupported global" in line), None)  # a class or function
    if reason is not None:
        return (
            f"weights file {path} holds more than tensors ({reason}); msbiqa loads weights with "
            "weights_only=True and never runs code from a file: re-save its state_dict with torch.save"
        )
    first = lines[0] if lines else type(err).__name__
    return (
        f"{path} is not a readable torch weights file ({type(err).__name__}: {first}); it is "
        "empty, truncated or corrupt: copy it again"
    )


def load_tensors(path):
    """`torch.load(path, weights_only=True)` on the CPU: tensors and plain containers only, never code from the
    file; a file that is corrupt or holds more becomes a one-line WeightsMismatchError naming it."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError) as err:
        # KeyError, IndexError: torch's legacy loader on bytes that are no torch file at all (a text file: KeyError 101)
        raise WeightsMismatchError(unreadable_weights(path, err)) from None


def check_fields(blob: dict, fields: dict[str, type], path, fix: str) -> None:
    """WeightsMismatchError naming the file and `fix` unless `blob` has each of `fields` with its type: checked
    before a network is built from what the file says."""
    for name, kind in fields.items():
        if name not in blob:
            raise WeightsMismatchError(f"{path} has no {name!r}: {fix}")
        if not isinstance(blob[name], kind):
            raise WeightsMismatchError(
                f"{path}: {name!r} is a {type(blob[name]).__name__}, not a {kind.__name__}: {fix}"
            )
    state = blob.get("state_dict", {})
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise WeightsMismatchError(f"{path}: 'state_dict' is not a dict of named tensors: {fix}")


def check_sizes(sizes: dict, limits: dict[str, tuple[int, ...]], path, fix: str) -> None:
    """WeightsMismatchError naming the file and `fix` unless every size in `sizes` is a known name whose value is a
    whole number in its limits (lo, hi), or with limits (lo, hi, count) a list of 1..count of them: a file asking
    for 200000 layers would otherwise be built until memory runs out, before its tensors could be compared."""
    for name, value in sizes.items():
        if name not in limits:
            raise WeightsMismatchError(
                f"{path}: unknown architecture setting {name!r} (known: {sorted(limits)}): {fix}"
            )
        lo, hi, *count = limits[name]
        values = value if count and isinstance(value, list) else [value]
        if not (0 < len(values) <= (count or [1])[0] and all(type(v) is int and lo <= v <= hi for v in values)):
            kind = f"a list of 1..{count[0]} whole numbers" if count else "a whole number"
            raise WeightsMismatchError(f"{path}: {name}={reprlib.repr(value)} is not {kind} in {lo}..{hi}: {fix}")


class IQAMetric(nn.Module):
    """Base class: `forward(x)` scores a batch; `name`, `higher_is_better`, `score_range` describe the scale;
    `min_side` is the smallest image side the metric can score (None: found by `minimum_side` on first use)."""

    def __init__(
        self, name: str, higher_is_better: bool, score_range: tuple[float, float], min_side: int | None = None
    ):
        super().__init__()
        self.name = name
        self.min_side = min_side
        self.higher_is_better = bool(higher_is_better)
        self.score_range = (float(score_range[0]), float(score_range[1]))
        self.training = False  # frozen evaluator from the start (see train)

    def train(self, mode: bool = True) -> IQAMetric:
        """Metrics are frozen evaluators: always eval mode (no dropout); train the underlying `.net` instead."""
        return super().train(False)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """Scores of a checked batch, any shape with B elements."""
        raise NotImplementedError

    def minimum_side(self) -> int:
        """The smallest side (pixels) of images this metric scores: declared, or the smallest square that its
        network scores without error, found once by bisection over 1..MAX_PROBE_SIDE on the CPU."""
        if self.min_side is None:
            self.min_side = _smallest_scorable_side(self)
        return self.min_side

    def check_size(self, height: int, width: int) -> None:
        """Refuse, naming the minimum, images too small for this metric (before any noise is sampled)."""
        side = self.minimum_side()
        if min(height, width) < side:
            raise ValueError(
                f"{self.name} needs images of at least {side}x{side} pixels; this one is {height}x{width}: "
                "use a larger image or another metric"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{self.name} scores Bx3xHxW image batches in [0, 1], got {shape}")
        self.check_size(*x.shape[-2:])
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


MAX_PROBE_SIDE = 1024


def _scores(metric: IQAMetric, side: int) -> bool:
    """Whether the metric's network scores a side x side image of seeded noise (texture, not a flat image that
    statistics-based metrics cannot normalise) to a finite number."""
    device = next(itertools.chain(metric.parameters(), metric.buffers()), torch.empty(0)).device
    probe = 0.25 + 0.5 * torch.rand((1, 3, side, side), generator=torch.Generator().manual_seed(side))
    try:
        with torch.inference_mode():
            return bool(torch.isfinite(metric.score(probe.to(device))).all())
    except (RuntimeError, ValueError, IndexError):
        return False


def _smallest_scorable_side(metric: IQAMetric) -> int:
    lo, hi = 0, 1  # invariant once found: lo fails (0 always), hi scores
    while not _scores(metric, hi):
        lo, hi = hi, hi * 2
        if hi > MAX_PROBE_SIDE:
            raise ValueError(f"{metric.name} scores no image up to {MAX_PROBE_SIDE}x{MAX_PROBE_SIDE} pixels")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if _scores(metric, mid) else (mid, hi)
    return hi
