"""DefendedMetric: the denoiser runs between noise and metric, its estimates are the sampler's and the
certifier's on f = metric o denoiser o clamp01, forward is one differentiable draw, and it stays frozen."""

import numpy as np
import pytest
import torch
from support import Blur, TinyMetric

from msbiqa.models.denoisers import build_denoiser
from msbiqa.smoothing import DefendedMetric, certify, certify_binned, sample_scores, sampler


class Flatten(torch.nn.Module):  # maps every image to a constant gray, then +1: clamp must follow
    def forward(self, x):
        return torch.full_like(x, 0.25) + 1.0


@pytest.fixture
def image():
    return torch.rand(3, 12, 10, generator=torch.Generator().manual_seed(0))


def test_denoiser_runs_between_noise_and_metric(image):
    scores = DefendedMetric(lambda x: x.mean(dim=(1, 2, 3)), 0.1, Flatten()).sample(image, 8, seed=0)
    assert torch.all(scores == 1.0)  # denoiser output is clamped to [0, 1] before scoring


def test_estimates_are_the_samplers_and_certifiers_on_the_composed_function(image):
    metric, blur = TinyMetric(), Blur()
    defended = DefendedMetric(metric, 0.12, blur)

    def composed(x):
        return metric(blur(x).clamp(0, 1))

    reference = sample_scores(composed, image, sigma=0.12, n=60, seed=4)
    assert torch.equal(defended.sample(image, 60, seed=4), reference)
    assert defended.median(image, 60, seed=4) == pytest.approx(float(np.median(reference.numpy())))
    cert = defended.certify(image, 0.05, n=60, alpha=0.05, seed=4)
    assert cert == certify(composed, image, sigma=0.12, eps=0.05, n=60, alpha=0.05, seed=4)
    assert cert.median == pytest.approx(defended.median(image, 60, seed=4))
    binned = defended.certify_binned(image, 0.05, n=60, alpha=0.05, seed=4, n0=10)
    assert binned == certify_binned(
        composed, image, sigma=0.12, eps=0.05, n=60, alpha=0.05, seed=4, n0=10, score_range=(0.0, 100.0)
    )


def test_forward_is_one_differentiable_noisy_draw(image):
    defended = DefendedMetric(lambda x: x.flatten(1).mean(1), 0.2)
    x = image[None].repeat(3, 1, 1, 1).requires_grad_(True)
    scores = defended(x, torch.Generator().manual_seed(1))
    noisy = (x.detach() + 0.2 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    assert torch.allclose(scores, noisy.flatten(1).mean(1))
    (grad,) = torch.autograd.grad(scores.sum(), x)
    assert grad.abs().sum() > 0


def test_describes_itself_and_stays_frozen():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1), torch.nn.BatchNorm2d(3))
    defended = DefendedMetric(TinyMetric(), 0.12, net.eval())
    assert repr(defended) == "DefendedMetric(metric=tiny, denoiser=Sequential, sigma=0.12)"
    assert defended.higher_is_better and defended.score_range == (0.0, 100.0) and defended.name == "tiny"
    defended.train()
    assert not defended.training and not net.training
    assert repr(DefendedMetric(TinyMetric(), 0.25)) == "DefendedMetric(metric=tiny, denoiser=none, sigma=0.25)"
    with pytest.raises(ValueError, match="sigma"):
        DefendedMetric(TinyMetric(), 0.0)


def test_a_denoiser_trained_through_another_metric_is_refused_unless_asked_for():
    denoiser = build_denoiser("dncnn", depth=3, channels=4)  # its training record says what it was trained through
    denoiser.name = "dms-iqa-sigma0.12.pt"
    denoiser.config = {"weights": {"mse": 1.0, "rank": 4.0, "target": 256.0}, "base_metric": "tinyiqa"}
    with pytest.raises(ValueError, match="trained through tinyiqa, not tiny: a DMS-IQA denoiser is metric-specific"):
        DefendedMetric(TinyMetric(), 0.12, denoiser)
    foreign = DefendedMetric(TinyMetric(), 0.12, denoiser, foreign_denoiser=True)
    assert foreign.denoiser_name == "dms-iqa-sigma0.12.pt (trained for tinyiqa)"
    denoiser.config["base_metric"] = "tiny"
    denoiser.config["base_metric_digest"] = "0" * 12  # same name, other weights
    with pytest.raises(ValueError, match="with other weights"):
        DefendedMetric(TinyMetric(), 0.12, denoiser)
    denoiser.config = {"weights": {"mse": 1.0, "rank": 0.0, "target": 0.0}, "base_metric": "tinyiqa"}
    assert DefendedMetric(TinyMetric(), 0.12, denoiser).denoiser_name == "dms-iqa-sigma0.12.pt"  # MSE only: any metric


@pytest.mark.parametrize("estimate,extra", [("sample", {}), ("median", {}), ("certify", {"eps": 0.05, "alpha": 0.05})])
def test_the_api_warns_before_a_costly_sampling(image, monkeypatch, estimate, extra):
    monkeypatch.setattr(sampler, "COST_WARNING_SECONDS", 0.0)
    monkeypatch.setattr(sampler, "_warned", set())
    defended = DefendedMetric(TinyMetric(), 0.12, Blur())
    with pytest.warns(sampler.SamplingCostWarning, match="n=60 takes about"):
        getattr(defended, estimate)(image, n=60, seed=0, batch_size=16, **extra)
