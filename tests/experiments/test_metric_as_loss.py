"""The metric as a training loss: the enhancer starts as the identity, training raises the score the objective
sees, and the comparison of objectives runs end to end."""

import numpy as np
import pytest
import torch
from torch import nn

from msbiqa.data.images import psnr
from msbiqa.experiments.metric_as_loss import EnhanceNet, compare_objectives, train_enhancer
from msbiqa.smoothing.defended import DefendedMetric


class Brightness(nn.Module):
    """A metric that likes bright images (lower_is_better variant flips the direction)."""

    def __init__(self, higher_is_better=True):
        super().__init__()
        self.higher_is_better, self.score_range = higher_is_better, (0.0, 10.0)
        self.conv = nn.Conv2d(3, 1, 1)
        nn.init.constant_(self.conv.weight, 1.0)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x):
        s = self.conv(x).flatten(1).mean(1) * 10 / 3
        return s if self.higher_is_better else 10 - s


@pytest.fixture
def images():
    return torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.1


def test_enhancer_starts_as_identity(images):
    assert torch.equal(EnhanceNet()(images), images)
    with pytest.raises(ValueError, match="depth"):
        EnhanceNet(depth=1)


@pytest.mark.parametrize("objective,higher", [("base", True), ("defended", False)])
def test_training_raises_quality_as_the_metric_sees_it(images, objective, higher):
    metric = Brightness(higher).eval()
    model, history = train_enhancer(
        DefendedMetric(metric, 0.1),
        images,
        objective=objective,
        draws=2,
        steps=15,
        batch_size=4,
        lr=1e-2,
        width=8,
        progress=False,
    )
    sign = 1 if higher else -1
    with torch.no_grad():
        assert sign * (metric(model(images)).mean() - metric(images).mean()) > 0.5
    assert len(history) == 15 and np.isfinite(history["loss"]).all() and (history["seconds"] > 0).all()
    assert history["loss"].iloc[-3:].mean() < history["loss"].iloc[:3].mean()
    assert all(p.grad is None for p in metric.parameters())  # frozen and untouched
    assert not model.training


def test_bad_objective_is_named(images):
    with pytest.raises(ValueError, match="objective"):
        train_enhancer(DefendedMetric(Brightness().eval(), 0.1), images, objective="median")


def test_compare_objectives_runs_and_is_finite():
    images = torch.rand(4, 3, 48, 48, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.1
    pristine = (images + 0.05).clamp(0, 1)
    table, histories = compare_objectives(
        DefendedMetric(Brightness().eval(), 0.1),
        images,
        images[:3],
        pristine[:3],
        draws=2,
        steps=3,
        n=20,
        batch_size=2,
        width=8,
        progress=False,
    )
    assert list(table.index) == ["identity", "base", "defended"]
    for col in (
        "base_score",
        "defended_score",
        "psnr",
        "ssim",
        "pseudo_mos",
        "seconds_per_step",
        "change_base_score",
        "change_psnr",
    ):
        assert np.isfinite(table[col].to_numpy(float)).all(), col
    assert table.loc["identity", "change_psnr"] == 0 and table.loc["identity", "psnr"] == pytest.approx(
        float(psnr(images[:3], pristine[:3]).mean()), rel=1e-5
    )
    assert set(histories) == {"base", "defended"} and len(histories["base"]) == 3
