"""Median smoothing: the seeded sampler, exact order-statistic certificates, the binned RS baseline, input
checks, the bounds as numbers to plot, and `DefendedMetric`, which ties them to one defended metric."""

from msbiqa.smoothing.binned import BinnedCertificate, certify_binned
from msbiqa.smoothing.certify import Certificate, certificate_from_scores, certify, min_samples, order_statistic_ranks
from msbiqa.smoothing.defended import DefendedMetric
from msbiqa.smoothing.sampler import sample_scores

__all__ = [
    "BinnedCertificate",
    "Certificate",
    "DefendedMetric",
    "certificate_from_scores",
    "certify",
    "certify_binned",
    "min_samples",
    "order_statistic_ranks",
    "sample_scores",
]
