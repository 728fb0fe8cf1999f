"""msbiqa: certified no-reference image quality assessment by (denoised) median smoothing.

The defended score of an image x is the median of f(x + xi), xi ~ N(0, sigma^2 I), with
f = metric o denoiser o clamp01; `certify` also returns bounds that provably hold for every
perturbation of l2 norm <= eps (Chiang et al., NeurIPS 2020; DMS-IQA, arXiv 2411.12575).
"""

__version__ = "0.1.0"

from msbiqa.certify import Certificate, certificate_from_scores, certify, order_statistic_ranks
from msbiqa.sampler import sample_scores

__all__ = [
    "Certificate",
    "certificate_from_scores",
    "certify",
    "order_statistic_ranks",
    "sample_scores",
]
