"""TinyIQA: the project's own small learned NR-IQA network, its default base metric.

Input: the normalised RGB image plus its MSCN luminance (local mean subtracted, divided by local
contrast, as in BRISQUE/NIQE), which shows blur, noise and blocking whatever the content's contrast.
Four 3x3 conv stages (full, 1/2, 1/4, 1/8 resolution); each stage's feature maps are pooled to their
spatial mean and log standard deviation, and a two-layer head maps the pooled statistics to
100 * sigmoid(z), a score on the MOS scale 0..100, higher is better. In log form, differences between
stages are ratios of detail across scales, which depend little on how textured the content is.
Global pooling lets it score any image size (it is trained at 96 px). About 51k parameters: cheap
enough for hundreds of noisy copies per image on a CPU, and differentiable, so it also serves as a loss.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from msbiqa.devices import default_device
from msbiqa.models.metrics.learned import LearnedMetric, WeightsSpec, load_weights

MEAN, STD = 0.45, 0.225  # fixed input normalisation of [0, 1] images
ARCH_LIMITS = {"widths": (1, 512, 8), "hidden": (1, 1024)}  # what a weights file may ask for; (16, 32, 32, 64) ships
SPEC = WeightsSpec("TinyIQA", "msbiqa-tinyiqa", "tinyiqa.pt", ARCH_LIMITS, "msbiqa train-metric")


def gaussian_window(size: int, sigma: float) -> torch.Tensor:
    """Normalised 1x1xSxS Gaussian kernel."""
    r = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    return (torch.outer(g, g) / g.sum() ** 2)[None, None]


def local_mean(t: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    pad = window.shape[-1] // 2
    return F.conv2d(F.pad(t, (pad,) * 4, mode="replicate"), window)


def mscn(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Mean-subtracted contrast-normalised luminance (BRISQUE's and NIQE's input), Bx1xHxW.

    Computed in float32 with autocast off: the local variance E[y^2] - E[y]^2 cancels badly in bf16.
    """
    with torch.autocast(x.device.type, enabled=False):
        y = (0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:]).float()
        mu = local_mean(y, window)
        sigma = torch.sqrt((local_mean(y * y, window) - mu * mu).clamp_min(0.0) + 1e-8)
        return ((y - mu) / (sigma + 1.0 / 255)).to(x.dtype)


def spatial_mean_var(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel spatial mean and (biased) variance of BxCxHxW maps, in two passes: as stable as Welford's
    `torch.var_mean`, which is several times slower on CPU (most of TinyIQA's time there)."""
    mean = h.mean(dim=(2, 3), keepdim=True)
    return mean.flatten(1), (h - mean).square().mean(dim=(2, 3))


class TinyIQANet(nn.Module):
    """The network: Bx3xHxW in [0, 1] -> (B,) scores in (0, 100)."""

    spec = SPEC

    def __init__(self, widths: tuple[int, ...] = (16, 32, 32, 64), hidden: int = 64):
        super().__init__()
        self.widths, self.hidden = tuple(widths), hidden
        stages, c_in = [], 4
        for i, c_out in enumerate(self.widths):
            stages.append(nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=1 if i == 0 else 2, padding=1), nn.ReLU()))
            c_in = c_out
        self.stages = nn.ModuleList(stages)
        self.head = nn.Sequential(nn.Linear(2 * sum(self.widths), hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.register_buffer("window", gaussian_window(7, 7 / 6), persistent=False)

    @property
    def arch(self) -> dict:
        """The sizes a weights file records (`TinyIQANet(**arch)` rebuilds the network)."""
        return {"widths": list(self.widths), "hidden": self.hidden}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.cat([(x - MEAN) / STD, mscn(x, self.window)], dim=1).contiguous(memory_format=torch.channels_last)
        pooled = []
        for stage in self.stages:
            h = stage(h)
            mean, var = spatial_mean_var(h.float())
            pooled += [mean, 0.5 * torch.log(var + 1e-6)]
        features = torch.cat(pooled, dim=1)
        # the head runs outside autocast: a bf16 score has ~3 significant digits (steps of 0.5 near 100)
        with torch.autocast(features.device.type, enabled=False):
            return 100.0 * torch.sigmoid(self.head(features.to(next(self.head.parameters()).dtype))).squeeze(1)


class TinyIQA(LearnedMetric):
    """TinyIQANet with trained weights as an IQAMetric; `config` records how the weights were made."""

    def __init__(self, net: TinyIQANet, config: dict | None = None):
        # three stride-2 stages: at 16 px the deepest statistics still pool a 2x2 map
        super().__init__("tinyiqa", net, config, min_side=16)


def default_weights_path() -> Path:
    return SPEC.shipped_path()


def load_tinyiqa(weights=None, device=None) -> TinyIQA:
    """TinyIQA from `weights` (a file written by `msbiqa train-metric`), by default the shipped file."""
    net, config = load_weights(weights, SPEC, TinyIQANet)
    return TinyIQA(net, config).to(default_device(device))
