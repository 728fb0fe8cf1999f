"""Input checks shared by the sampler, certifiers, CLI and datasets.

Every check raises before any expensive work starts, with a message that names the fix.
"""

from __future__ import annotations

import math
import numbers

import torch

MAX_SAMPLES = 10_000_000  # noise samples per image: 1e5 already puts the ranks within 0.5 % of the percentiles
SEED_LIMIT = 2**32  # CPU generators keep 32 bits of a seed: larger seeds would repeat smaller ones


def check_image(image: torch.Tensor, *, name: str = "image") -> torch.Tensor:
    """Return `image` as a 1x3xHxW view after checking type, shape, finiteness and [0, 1] range."""
    if not isinstance(image, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor, got {type(image).__name__}; load files with msbiqa.load_image(path)"
        )
    if not image.is_floating_point():
        raise TypeError(
            f"{name} has dtype {image.dtype}; expected a float tensor in [0, 1] "
            "(for 8-bit data use image.float() / 255)"
        )
    if image.dim() == 4 and image.shape[0] == 1:
        image = image[0]
    if image.dim() != 3 or image.shape[0] != 3 or image.shape[1] < 1 or image.shape[2] < 1:
        raise ValueError(
            f"{name} has shape {tuple(image.shape)}; expected 3xHxW or 1x3xHxW RGB "
            "(for grayscale 1xHxW use image.expand(3, -1, -1); for a batch, certify images one at a time)"
        )
    bad = ~torch.isfinite(image)
    if bad.any():
        raise ValueError(
            f"{name} contains {int(bad.sum())} non-finite values (NaN or inf); "
            "fix the preprocessing that produced them, e.g. torch.nan_to_num(image)"
        )
    lo, hi = float(image.min()), float(image.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(
            f"{name} has values in [{lo:.4g}, {hi:.4g}]; expected [0, 1] "
            "(divide 8-bit data by 255, or clamp with image.clamp(0, 1))"
        )
    return image.unsqueeze(0)


def check_sigma(sigma: float) -> float:
    """Noise level: finite and > 0."""
    sigma = float(sigma)
    if not math.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"sigma must be a finite number > 0 (noise std on [0, 1] images), got {sigma}")
    return sigma


def check_eps(eps: float) -> float:
    """Attack radius: finite and >= 0."""
    eps = float(eps)
    if not math.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be a finite number >= 0 (l2 radius on [0, 1] images), got {eps}")
    return eps


def check_alpha(alpha: float, *, name: str = "alpha") -> float:
    """Failure probability of each bound: in (0, 0.5)."""
    alpha = float(alpha)
    if not (0.0 < alpha < 0.5):
        raise ValueError(f"{name} must be in (0, 0.5) (e.g. 0.001 for 99.9% confidence), got {alpha}")
    return alpha


def check_count(value, *, name: str) -> int:
    """A positive integer (Python or numpy), returned as int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a whole number >= 1 (a positive integer), got {value!r}")
    return int(value)


def check_n(n: int, *, name: str = "n") -> int:
    """Noise sample count: a positive integer up to MAX_SAMPLES (checked before anything is allocated)."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"{name} must be a positive integer number of noise samples, got {n!r}")
    if n > MAX_SAMPLES:
        raise ValueError(
            f"{name}={n} exceeds the limit of {MAX_SAMPLES:,} noise samples per image; the certified ranks "
            "barely move beyond 1e5 samples (lower eps or raise sigma instead)"
        )
    return int(n)


def check_seed(seed, *, name: str = "seed") -> int:
    """A noise seed: an integer in [0, 2**32) (seeds beyond would give the same noise as smaller ones on CPU)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"{name} must be an integer in [0, 2**32) = [0, {SEED_LIMIT - 1}], got {seed!r}")
    return int(seed)
