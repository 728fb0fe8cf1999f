"""Pseudo-MOS: full-reference scores against the pristine crop, combined into one 0-100 label.

This is the KADIS-700k idea (FR metrics as weak labels for NR-IQA). The four metrics need no weights,
so labels are computed offline: SSIM (structure, on luma), FSIMc (phase congruency and gradient,
colour), VIF (information fidelity) and GMSD (gradient-magnitude deviation, lower is better). FSIMc, VIF
and GMSD are pyiqa's; SSIM is computed here with pyiqa's definition (`ssim` below), because pyiqa's
float64 2-D convolutions made it the slowest part of the build. The two agree within 5e-5: pyiqa rounds
luma computed in float32, so about one pixel in 10^4 lands one grey level apart.

Formula (fixed, no fitting to the data): each metric s_m is mapped to a quality in [0, 1] by
    q_m = clip((s_m - worst_m) / (best_m - worst_m), 0, 1)
with the anchors below (best = the value for an identical image; worst = 0 for SSIM and VIF, their
natural floor, and 0.5 for FSIMc and 0.35 for GMSD, set once so that the strongest distortions land
near 0: in the 96 px set GMSD peaks at 0.33 and 0.4 % of the images fall below FSIMc 0.5), and
    pseudo_mos = 100 * (q_ssim + q_fsim + q_vif + q_gmsd) / 4.
A pristine image scores 100 (99.9999, VIF's float rounding); higher is better. Metrics that read luma
only (SSIM, VIF, GMSD) barely see chroma-only changes, so colour diffusion keeps a high label.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

# metric -> (best, worst)
ANCHORS: dict[str, tuple[float, float]] = {
    "ssim": (1.0, 0.0),
    "fsim": (1.0, 0.5),
    "vif": (1.0, 0.0),
    "gmsd": (0.0, 0.35),
}
FR_METRICS = tuple(ANCHORS)
PYIQA_METRICS = ("fsim", "vif", "gmsd")
# Images per pyiqa call. Larger batches make tensors beyond glibc's mmap threshold, and the page faults of
# mapping them afresh on every call then cost a third of the build's CPU time; the scores do not change.
BATCH = 16

_WINDOW, _SIGMA = 11, 1.5


def _luma(images: np.ndarray) -> np.ndarray:
    """Y of YIQ (BT.601 weights) of ...xHxWx3 uint8 images on the 0-255 scale, rounded to integers."""
    return np.rint(images.astype(np.float64) @ np.array([0.299, 0.587, 0.114]))


def _local_mean(x: np.ndarray) -> np.ndarray:
    """Gaussian-weighted means over 11x11 windows (std 1.5) of the last two axes, 'valid' positions only."""
    t = np.arange(_WINDOW) - (_WINDOW - 1) / 2
    g = np.exp(-(t**2) / (2 * _SIGMA**2))
    g /= g.sum()
    for axis in (-2, -1):
        x = ndimage.correlate1d(x, g, axis=axis, mode="constant")
    half = _WINDOW // 2
    return x[..., half:-half, half:-half]


def ssim(distorted: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """SSIM (Wang et al. 2004) of N NxHxWx3 uint8 images against one HxWx3 uint8 reference, as pyiqa's
    "ssim": on 8-bit luma, 11x11 Gaussian window of std 1.5, valid positions, negative contrast-structure
    terms set to 0, averaged over the map. The reference statistics are computed once for the batch."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    x, y = _luma(distorted), _luma(reference)[None]
    mu_x, mu_y = _local_mean(x), _local_mean(y)
    var_x = _local_mean(x * x) - mu_x**2
    var_y = _local_mean(y * y) - mu_y**2
    cov = _local_mean(x * y) - mu_x * mu_y
    contrast_structure = np.maximum((2 * cov + c2) / (var_x + var_y + c2), 0.0)
    luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    return (luminance * contrast_structure).mean(axis=(-2, -1))


class FRScorer:
    """The FR metrics of ANCHORS on CPU (pyiqa's built once), applied to batches."""

    def __init__(self):
        import pyiqa

        self.metrics = {name: pyiqa.create_metric(name, device="cpu") for name in PYIQA_METRICS}

    def __call__(self, distorted: np.ndarray, reference: np.ndarray) -> dict[str, np.ndarray]:
        """Raw scores of N distorted uint8 NxHxWx3 images against one HxWx3 uint8 reference."""
        x = torch.tensor(distorted).permute(0, 3, 1, 2).float() / 255.0
        ref = torch.tensor(reference).permute(2, 0, 1).float().div(255.0)
        scores = {"ssim": ssim(distorted, reference)}
        with torch.no_grad():
            for name, metric in self.metrics.items():
                parts = [
                    metric(chunk, ref.expand_as(chunk).contiguous()).reshape(-1).double().numpy()
                    for chunk in x.split(BATCH)
                ]
                scores[name] = np.concatenate(parts)
        return {name: scores[name] for name in FR_METRICS}

    def pairs(self, distorted: torch.Tensor, reference: torch.Tensor) -> dict[str, np.ndarray]:
        """Raw scores of Bx3xHxW images in [0, 1] against their own references (quantised to 8 bits, as
        the labels were computed)."""

        def to_uint8(x: torch.Tensor) -> np.ndarray:
            return (x.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()

        each = [self(d[None], r) for d, r in zip(to_uint8(distorted), to_uint8(reference))]
        return {name: np.concatenate([e[name] for e in each]) for name in FR_METRICS}


def pseudo_mos(scores: dict[str, np.ndarray]) -> np.ndarray:
    """The 0-100 pseudo-MOS from raw FR scores (see the module docstring)."""
    qualities = []
    for name, (best, worst) in ANCHORS.items():
        s = np.asarray(scores[name], dtype=np.float64)
        qualities.append(np.clip((s - worst) / (best - worst), 0.0, 1.0))
    return 100.0 * np.mean(qualities, axis=0)
