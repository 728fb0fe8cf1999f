"""The metric interface: images below what a metric can score are refused before sampling, naming the
minimum; the minimum of a pyiqa network is found by probing; short content digests of weights."""

import pytest
import torch
from support import TinyMetric

from msbiqa.fingerprint import weights_digest
from msbiqa.models.metrics import load_metric
from msbiqa.smoothing import DefendedMetric


@pytest.mark.parametrize("shape", [(1, 1), (1, 4000), (15, 300)])
def test_tinyiqa_refuses_images_below_its_minimum(shape):
    defended = DefendedMetric(load_metric(device="cpu"), 0.12)
    with pytest.raises(ValueError, match=r"tinyiqa needs images of at least 16x16 pixels; this one is"):
        defended.certify(torch.rand(3, *shape), 0.05, n=100, seed=0)


def test_a_pyiqa_networks_minimum_is_probed_and_enforced():
    metric = load_metric("pyiqa:cnniqa", pretrained=None, device="cpu")
    side = metric.minimum_side()
    assert 2 <= side <= 16
    with torch.inference_mode():
        assert torch.isfinite(metric(torch.rand(1, 3, side, side))).all()
        with pytest.raises(ValueError, match=f"at least {side}x{side}"):
            metric(torch.rand(1, 3, side - 1, 64))


def test_weights_digests_follow_the_tensors():
    a, b = TinyMetric(), TinyMetric()
    assert weights_digest(a) == weights_digest(b) and len(weights_digest(a)) == 12
    with torch.no_grad():
        b.fc.bias.add_(1e-6)
    assert weights_digest(a) != weights_digest(b)
    assert weights_digest(None) == "none"
