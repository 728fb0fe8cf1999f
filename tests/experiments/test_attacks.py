"""Attacks stay in the ball and in [0, 1], reach the known optimum of linear scores, move nonlinear
metrics both ways, and the EOT attack moves the smoothed score."""

import pytest
import torch
from support import Blur, Linear, TinyConv
from torch import nn

from msbiqa.experiments.attacks import attack_defended, attack_metric, lp_norm, project
from msbiqa.smoothing.defended import DefendedMetric


@pytest.fixture
def images():
    return torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(1)) * 0.6 + 0.2


def check_budget(result, clean, eps, norm):
    assert result.images.min() >= 0 and result.images.max() <= 1
    assert torch.all(lp_norm(result.images - clean, norm) <= eps * (1 + 1e-5))
    assert torch.allclose(result.norms, lp_norm(result.images - clean, norm))


@pytest.mark.parametrize("norm,dual", [("l2", 2), ("linf", 1)])
def test_attack_reaches_the_optimum_of_a_linear_score(images, norm, dual):
    metric, eps = Linear().eval(), 0.5 if norm == "l2" else 0.02  # small enough that [0, 1] never binds
    up = attack_metric(metric, images, eps=eps, steps=10, norm=norm, direction="up")
    down = attack_metric(metric, images, eps=eps, steps=10, norm=norm, direction="down")
    gain = eps * metric.w.flatten().norm(p=dual)
    clean = metric(images)
    assert torch.allclose(up.clean_scores, clean) and torch.allclose(up.scores, metric(up.images))
    assert torch.allclose(up.scores - clean, gain.expand(2), rtol=1e-3)
    assert torch.allclose(clean - down.scores, gain.expand(2), rtol=1e-3)
    check_budget(up, images, eps, norm)
    check_budget(down, images, eps, norm)


@pytest.mark.parametrize("norm,eps", [("l2", 1.0), ("linf", 0.03)])
def test_attack_moves_a_nonlinear_metric_both_ways_within_budget(norm, eps):
    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(2))  # touches 0 and 1
    image[:, :, :4] = 1.0
    metric = TinyConv().eval()
    for direction, sign in (("up", 1), ("down", -1)):
        res = attack_metric(metric, image, eps=eps, steps=15, norm=norm, direction=direction, random_start=True)
        assert sign * (res.scores - res.clean_scores) > 0.05 * res.clean_scores.abs()
        check_budget(res, image, eps, norm)


def test_projection_onto_balls():
    delta = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
    assert torch.allclose(project(delta, 1.0, "l2"), torch.tensor([[0.6, 0.8], [0.3, 0.4]]))
    assert torch.equal(project(delta, 0.35, "linf"), torch.tensor([[0.35, 0.35], [0.3, 0.35]]))


def test_eot_attack_raises_and_lowers_the_smoothed_score(images):
    metric = Linear().eval()
    defended = DefendedMetric(metric, 0.12, Blur().eval())

    def smoothed(x):
        return float(defended.sample(x, 200, seed=5).median())

    x = images[:1]
    up = attack_defended(defended, x, eps=0.5, samples=4, steps=10, seed=0)
    down = attack_defended(defended, x, eps=0.5, samples=4, steps=10, direction="down", seed=0)
    check_budget(up, x, 0.5, "l2")
    check_budget(down, x, 0.5, "l2")
    gain = 0.5 * float(metric.w.norm())  # undenoised optimum; blur shrinks it
    assert smoothed(up.images) - smoothed(x) > 0.3 * gain
    assert smoothed(x) - smoothed(down.images) > 0.3 * gain


def test_seeded_and_checked(images):
    metric = TinyConv().eval()
    defended, kw = DefendedMetric(metric, 0.1), dict(eps=0.5, samples=2, steps=3)
    a, b = attack_defended(defended, images, seed=3, **kw), attack_defended(defended, images, seed=3, **kw)
    c = attack_defended(defended, images, seed=4, **kw)
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    with pytest.raises(ValueError, match="norm"):
        attack_metric(metric, images, eps=0.1, norm="l1")
    with pytest.raises(ValueError, match="direction"):
        attack_metric(metric, images, eps=0.1, direction="sideways")
    with pytest.raises(ValueError, match=r"BatchNorm2d layer in training mode; call \.eval\(\)"):
        attack_metric(nn.Sequential(nn.BatchNorm2d(3), TinyConv()), images, eps=0.1)
    attack_metric(nn.Sequential(nn.BatchNorm2d(3), TinyConv()).eval(), images, eps=0.1, steps=1)
    with pytest.raises(ValueError, match="differentiable"):
        attack_metric(lambda x: (x > 0.5).float().mean((1, 2, 3)), images, eps=0.1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        attack_metric(metric, images + 1, eps=0.1)
