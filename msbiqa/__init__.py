"""msbiqa: certified no-reference image quality assessment by (denoised) median smoothing.

The defended score of an image x is the median of f(x + xi), xi ~ N(0, sigma^2 I), with
f = metric o denoiser o clamp01; `DefendedMetric.certify` also returns bounds that provably hold for every
perturbation of l2 norm <= eps (Chiang et al., NeurIPS 2020; DMS-IQA, arXiv 2411.12575).

    from msbiqa import DefendedMetric, load_denoiser, load_image, load_metric
    defended = DefendedMetric(load_metric(), sigma=0.12, denoiser=load_denoiser("dms-iqa", sigma=0.12))
    cert = defended.certify(load_image("photo.png"), eps=0.05, n=1000, alpha=0.001, seed=0)

Importing msbiqa tunes glibc's malloc for the sampler's large batches (`msbiqa.allocator`;
MSBIQA_MALLOC=default turns that off).
"""

__version__ = "0.1.0"

from msbiqa.allocator import tune_allocator
from msbiqa.data import load_dataset
from msbiqa.data.images import load_image
from msbiqa.models.denoisers import load_denoiser
from msbiqa.models.metrics import load_metric
from msbiqa.smoothing import Certificate, DefendedMetric, certify, certify_binned, order_statistic_ranks

tune_allocator()  # before any batch: every entry point imports msbiqa first

__all__ = [
    "Certificate",
    "DefendedMetric",
    "certify",
    "certify_binned",
    "load_dataset",
    "load_denoiser",
    "load_image",
    "load_metric",
    "order_statistic_ranks",
]
