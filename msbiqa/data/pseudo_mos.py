"""Pseudo-MOS: full-reference scores against the pristine crop, combined into one 0-100 label.

This is the KADIS-700k idea (FR metrics as weak labels for NR-IQA). The four metrics are pyiqa's
weight-free ones, so labels are computed offline: SSIM (structure, on Y), FSIMc (phase congruency and
gradient, colour), VIF (information fidelity) and GMSD (gradient-magnitude deviation, lower is better).

Formula (fixed, no fitting to the data): each metric s_m is mapped to a quality in [0, 1] by
    q_m = clip((s_m - worst_m) / (best_m - worst_m), 0, 1)
with the anchors below (best = the value for an identical image; worst = 0 for SSIM and VIF, their
natural floor, and 0.5 for FSIMc and 0.35 for GMSD, set once so that the strongest distortions of the
recipe land near 0: at 96 px GMSD peaks at 0.29 and under 1 % of images fall below FSIMc 0.5), and
    pseudo_mos = 100 * (q_ssim + q_fsim + q_vif + q_gmsd) / 4.
A pristine image scores 100 (99.9999, VIF's float rounding); higher is better.
"""

from __future__ import annotations

import numpy as np
import torch

# metric -> (best, worst)
ANCHORS: dict[str, tuple[float, float]] = {
    "ssim": (1.0, 0.0),
    "fsim": (1.0, 0.5),
    "vif": (1.0, 0.0),
    "gmsd": (0.0, 0.35),
}
FR_METRICS = tuple(ANCHORS)


class FRScorer:
    """The pyiqa FR metrics of ANCHORS on CPU, built once and applied to batches."""

    def __init__(self):
        import pyiqa

        self.metrics = {name: pyiqa.create_metric(name, device="cpu") for name in FR_METRICS}

    def __call__(self, distorted: np.ndarray, reference: np.ndarray) -> dict[str, np.ndarray]:
        """Raw scores of N distorted uint8 NxHxWx3 images against one HxWx3 uint8 reference."""
        x = torch.tensor(distorted).permute(0, 3, 1, 2).float() / 255.0
        ref = torch.tensor(reference).permute(2, 0, 1).float().div(255.0).expand_as(x).contiguous()
        with torch.no_grad():
            return {name: m(x, ref).reshape(-1).double().numpy() for name, m in self.metrics.items()}


def pseudo_mos(scores: dict[str, np.ndarray]) -> np.ndarray:
    """The 0-100 pseudo-MOS from raw FR scores (see the module docstring)."""
    qualities = []
    for name, (best, worst) in ANCHORS.items():
        s = np.asarray(scores[name], dtype=np.float64)
        qualities.append(np.clip((s - worst) / (best - worst), 0.0, 1.0))
    return 100.0 * np.mean(qualities, axis=0)
