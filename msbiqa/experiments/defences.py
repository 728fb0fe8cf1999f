"""The defences of the method's tables, each a `DefendedMetric` of the base metric at one sigma:

none (the bare metric, nothing certified), MS (median smoothing, no denoiser), DMS (DnCNN trained with MSE),
DMS-IQA (U-Net trained with MSE + rank + target through the metric) and binned RS (randomized smoothing of
the binned score, the metric itself smoothed).
"""

from __future__ import annotations

from pathlib import Path

import torch

from msbiqa.data.images import psnr
from msbiqa.models.denoisers import load_denoiser, weights_filename
from msbiqa.smoothing.defended import DefendedMetric

DEFENCES = ("none", "ms", "dms", "dms-iqa", "binned-rs")
LABELS = {"none": "none", "ms": "MS", "dms": "DMS", "dms-iqa": "DMS-IQA", "binned-rs": "binned RS"}
DENOISED = ("dms", "dms-iqa")  # the defences whose name is also a denoiser kind


def check_defences(defences) -> list[str]:
    """`defences` as a list, each one of DEFENCES."""
    unknown = [d for d in defences if d not in DEFENCES]
    if unknown:
        raise ValueError(f"unknown defence(s) {unknown}; choose from {DEFENCES}")
    return list(defences)


def load_defence(defence: str, metric, sigma: float, denoisers: str | Path = "shipped", device=None) -> DefendedMetric:
    """`metric` defended as `defence` at `sigma`: through DnCNN for DMS, the U-Net for DMS-IQA, no denoiser else.

    `denoisers` is "shipped" (msbiqa's weights) or a folder with files named as `weights_filename(kind, sigma)`.
    """
    check_defences([defence])
    denoiser = None
    if defence in DENOISED:
        source = defence if str(denoisers) == "shipped" else Path(denoisers) / weights_filename(defence, sigma)
        denoiser = load_denoiser(source, sigma=sigma, device=device)
    return DefendedMetric(metric, sigma, denoiser)


def denoising_quality(defended: DefendedMetric, images: torch.Tensor, *, seed: int = 0) -> dict:
    """Mean PSNR (dB) of noisy and denoised copies of `images` (Bx3xHxW, one seeded draw each) against the
    clean images, and the mean |metric(denoised) - metric(clean)| that DMS-IQA's target loss keeps small."""
    denoiser, metric = defended.denoiser, defended.metric
    device = next(denoiser.parameters()).device
    clean = images.to(device)
    gen = torch.Generator().manual_seed(seed)
    noisy = (clean + defended.sigma * torch.randn(clean.shape, generator=gen).to(device)).clamp(0.0, 1.0)
    with torch.inference_mode():
        denoised = denoiser(noisy).clamp(0.0, 1.0)
        score_error = (metric(denoised) - metric(clean)).abs().mean()
    return {
        "psnr_noisy": float(psnr(noisy, clean).mean()),
        "psnr_denoised": float(psnr(denoised, clean).mean()),
        "score_abs_error": float(score_error),
    }
