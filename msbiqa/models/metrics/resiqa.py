"""ResIQA: the project's second learned NR-IQA network, a small residual CNN that judges quality locally.

Why a second architecture: TinyIQA is built on natural-scene statistics (an MSCN input as in BRISQUE/NIQE, and
the mean and log standard deviation of every stage pooled over the whole image), so its verdict is one of global
feature statistics. ResIQA sees only the normalised RGB pixels, learns its features end to end through residual
stages, and pools by attention: it predicts a quality logit and an importance logit at every location of its
deepest map and averages the qualities with the softmax of the importances (the weighted patch aggregation of
WaDIQaM, Bosse et al. 2018), so a result that holds for both metrics is not an artefact of one inductive bias.

Shape: a full-resolution 3x3 stem (pixel-level noise and blocking are seen before any subsampling), then one
stage per width, each a stride-2 3x3 conv and a residual block of two 3x3 convs whose output is scaled by a
per-channel gain that starts at 0 (ReZero, Bachlechner et al. 2021: stable training without a normalisation
layer, which would divide out the detail energy that blur and noise change). Score 100 * sigmoid(pooled logit),
on the MOS scale 0..100, higher is better; any image size (from 2 ** (stages + 1) px). With the shipped widths
(16, 32, 48, 64), about 192k parameters (0.8 MB) and a CPU forward pass as fast as TinyIQA's; differentiable,
so it also serves as a loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from msbiqa.devices import default_device
from msbiqa.models.metrics.learned import LearnedMetric, WeightsSpec, load_weights
from msbiqa.models.metrics.tinyiqa import MEAN, STD

ARCH_LIMITS = {"widths": (1, 256, 6), "hidden": (1, 1024)}  # what a weights file may ask for; (16, 32, 48, 64) ships
SPEC = WeightsSpec("ResIQA", "msbiqa-resiqa", "resiqa.pt", ARCH_LIMITS, "msbiqa train-metric --arch resiqa")


class ResidualBlock(nn.Module):
    """x + gain * conv(relu(conv(x))), gain per channel and 0 at initialisation."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.gain = nn.Parameter(torch.zeros(channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.gain * self.conv2(F.relu(self.conv1(x)))


class ResIQANet(nn.Module):
    """The network: Bx3xHxW in [0, 1] -> (B,) scores in (0, 100)."""

    spec = SPEC

    def __init__(self, widths: tuple[int, ...] = (16, 32, 48, 64), hidden: int = 64):
        super().__init__()
        self.widths, self.hidden = tuple(widths), hidden
        self.stem = nn.Sequential(nn.Conv2d(3, self.widths[0], 3, padding=1), nn.ReLU())
        stages, c_in = [], self.widths[0]
        for c_out in self.widths:
            down = nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)
            stages.append(nn.Sequential(down, nn.ReLU(), ResidualBlock(c_out)))
            c_in = c_out
        self.stages = nn.Sequential(*stages)
        # per location of the deepest map: a quality logit and an importance logit
        self.head = nn.Sequential(nn.Conv2d(c_in, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, 2, 1))

    @property
    def arch(self) -> dict:
        """The sizes a weights file records (`ResIQANet(**arch)` rebuilds the network)."""
        return {"widths": list(self.widths), "hidden": self.hidden}

    @property
    def min_side(self) -> int:
        """The smallest image side scored: the deepest map is then 2x2, so the attention has locations to weigh."""
        return 2 ** (len(self.widths) + 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stages(self.stem(((x - MEAN) / STD).contiguous(memory_format=torch.channels_last)))
        # the head and pooling run outside autocast: a bf16 score has ~3 significant digits (steps of 0.5 near 100)
        with torch.autocast(h.device.type, enabled=False):
            quality, importance = self.head(h.to(next(self.head.parameters()).dtype)).flatten(2).unbind(1)
            pooled = (torch.softmax(importance, dim=1) * quality).sum(dim=1)
            return 100.0 * torch.sigmoid(pooled)


class ResIQA(LearnedMetric):
    """ResIQANet with trained weights as an IQAMetric; `config` records how the weights were made."""

    def __init__(self, net: ResIQANet, config: dict | None = None):
        super().__init__("resiqa", net, config, min_side=net.min_side)


def load_resiqa(weights=None, device=None) -> ResIQA:
    """ResIQA from `weights` (a file written by `msbiqa train-metric --arch resiqa`), by default the shipped
    file."""
    net, config = load_weights(weights, SPEC, ResIQANet)
    return ResIQA(net, config).to(default_device(device))
