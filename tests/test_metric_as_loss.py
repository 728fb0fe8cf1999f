"""Metric-as-loss training: starts from the identity, raises the score it is trained on, leaves the frozen
metric untouched, and the comparison returns finite numbers for every objective."""

import numpy as np
import pytest
import torch
from torch import nn

from msbiqa.metric_as_loss import EnhanceNet, compare_objectives, psnr, train_enhancer


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
    model, history = train_enhancer(metric, images, objective=objective, sigma=0.1, draws=2, steps=15,
                                    batch_size=4, lr=1e-2, width=8, progress=False)
    sign = 1 if higher else -1
    with torch.no_grad():
        assert sign * (metric(model(images)).mean() - metric(images).mean()) > 0.5
    assert len(history) == 15 and np.isfinite(history["loss"]).all() and (history["seconds"] > 0).all()
    assert history["loss"].iloc[-3:].mean() < history["loss"].iloc[:3].mean()
    assert all(p.grad is None for p in metric.parameters())  # frozen and untouched
    assert not model.training


def test_bad_objective_is_named(images):
    with pytest.raises(ValueError, match="objective"):
        train_enhancer(Brightness().eval(), images, objective="median")


def test_psnr():
    x = torch.zeros(2, 3, 4, 4)
    assert torch.allclose(psnr(x + 0.1, x), torch.tensor([20.0, 20.0]))
    assert psnr(x, x).tolist() == [100.0, 100.0]


def test_compare_objectives_runs_and_is_finite():
    images = torch.rand(4, 3, 48, 48, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.1
    pristine = (images + 0.05).clamp(0, 1)
    table, histories = compare_objectives(
        Brightness().eval(), images, images[:3], pristine[:3], sigma=0.1, draws=2, steps=3, n=20,
        batch_size=2, width=8, progress=False,
    )
    assert list(table.index) == ["identity", "base", "defended"]
    for col in ("base_score", "defended_score", "psnr", "ssim", "pseudo_mos", "seconds_per_step",
                "change_base_score", "change_psnr"):
        assert np.isfinite(table[col].to_numpy(float)).all(), col
    assert table.loc["identity", "change_psnr"] == 0 and table.loc["identity", "psnr"] == pytest.approx(
        float(psnr(images[:3], pristine[:3]).mean()), rel=1e-5)
    assert set(histories) == {"base", "defended"} and len(histories["base"]) == 3


def test_embedded_pairs_match_each_distorted_image_to_its_own_pristine_crop(monkeypatch):
    import pandas as pd

    import msbiqa.data
    from msbiqa.metric_as_loss import embedded_pairs

    table = pd.DataFrame({
        "ref": ["a", "a", "a", "b", "b", "a"], "crop": [0, 0, 1, 0, 0, 1],
        "distortion": ["blur", "pristine", "noise", "pristine", "jpeg", "pristine"],
    })

    class Fake:  # image i is the constant i / 10, so pairs can be read off the pixel values
        def __init__(self):
            self.table = table

        def __getitem__(self, i):
            return torch.full((3, 4, 4), i / 10), 50.0, str(i)

    monkeypatch.setattr(msbiqa.data, "load_dataset", lambda name, split, **kw: Fake())
    distorted, pristine, rows = embedded_pairs("test")
    assert distorted[:, 0, 0, 0].tolist() == pytest.approx([0.0, 0.2, 0.4])
    assert pristine[:, 0, 0, 0].tolist() == pytest.approx([0.1, 0.5, 0.3])
    assert rows["distortion"].tolist() == ["blur", "noise", "jpeg"]
    distorted, pristine, rows = embedded_pairs("test", limit=2, seed=1)
    assert len(rows) == 2 and "pristine" not in rows["distortion"].tolist()
