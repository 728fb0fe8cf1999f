"""Sampler: seeding, batch-size invariance, clamping, denoiser hook, streaming, input validation and the warning
before a costly sampling."""

import warnings

import pytest
import torch

from msbiqa.smoothing import sampler
from msbiqa.smoothing.certify import certify
from msbiqa.smoothing.sampler import SamplingCostWarning, cost_reported, describe_cost, sample_scores


class Recorder(torch.nn.Module):
    """Score = mean pixel; records the batch sizes and value range it was called with."""

    def __init__(self):
        super().__init__()
        self.batches, self.ranges = [], []

    def forward(self, x):
        self.batches.append(x.shape[0])
        self.ranges.append((float(x.min()), float(x.max())))
        return x.mean(dim=(1, 2, 3))


@pytest.fixture
def image():
    return torch.rand(3, 12, 10, generator=torch.Generator().manual_seed(0))


def test_same_seed_same_scores_other_seed_other_scores(image):
    a = sample_scores(Recorder(), image, sigma=0.1, n=50, seed=3)
    b = sample_scores(Recorder(), image, sigma=0.1, n=50, seed=3)
    c = sample_scores(Recorder(), image, sigma=0.1, n=50, seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == (50,) and a.dtype == torch.float32 and a.device.type == "cpu"


@pytest.mark.parametrize("batch_size", [1, 7, 50, 64, None])
def test_batch_size_does_not_change_samples_or_certificate(image, batch_size):
    reference = sample_scores(Recorder(), image, sigma=0.1, n=50, seed=1, batch_size=13)
    assert torch.equal(sample_scores(Recorder(), image, sigma=0.1, n=50, seed=1, batch_size=batch_size), reference)
    c1 = certify(Recorder(), image, sigma=0.1, eps=0.02, n=50, alpha=0.05, seed=1, batch_size=batch_size)
    c2 = certify(Recorder(), image, sigma=0.1, eps=0.02, n=50, alpha=0.05, seed=1, batch_size=13)
    assert c1 == c2


def test_batches_are_bounded_and_inputs_clamped(image):
    rec = Recorder()
    sample_scores(rec, image, sigma=2.0, n=25, seed=0, batch_size=10)
    assert rec.batches == [10, 10, 5]
    assert all(0.0 <= lo and hi <= 1.0 for lo, hi in rec.ranges)
    assert min(lo for lo, _ in rec.ranges) == 0.0 and max(hi for _, hi in rec.ranges) == 1.0


def test_noise_has_the_requested_std():
    flat = torch.full((3, 32, 32), 0.5)
    per_pixel = sample_scores(lambda x: x[:, 0, 0, 0], flat, sigma=0.05, n=4000, seed=0, batch_size=500)
    assert per_pixel.mean().item() == pytest.approx(0.5, abs=0.005)
    assert per_pixel.std().item() == pytest.approx(0.05, rel=0.05)


def test_accepts_batched_1x3xhxw(image):
    assert torch.equal(
        sample_scores(Recorder(), image[None], sigma=0.1, n=5, seed=0),
        sample_scores(Recorder(), image, sigma=0.1, n=5, seed=0),
    )


def test_unrecorded_seed_is_drawn_and_reported(image):
    cert = certify(Recorder(), image, sigma=0.1, eps=0.02, n=40, alpha=0.05)
    again = certify(Recorder(), image, sigma=0.1, eps=0.02, n=40, alpha=0.05, seed=cert.seed)
    assert cert == again


@pytest.mark.parametrize(
    "bad,err,match",
    [
        ([[0.5]], TypeError, "torch.Tensor"),
        (torch.zeros(3, 4, 4, dtype=torch.uint8), TypeError, "float"),
        (torch.zeros(4, 4), ValueError, "3xHxW"),
        (torch.zeros(1, 4, 4), ValueError, "grayscale"),
        (torch.zeros(2, 3, 4, 4), ValueError, "one at a time"),
        (torch.full((3, 4, 4), float("nan")), ValueError, "NaN"),
        (torch.full((3, 4, 4), 255.0), ValueError, "255"),
        (torch.full((3, 4, 4), -0.1), ValueError, r"\[0, 1\]"),
    ],
)
def test_bad_images_fail_before_any_scoring(bad, err, match):
    rec = Recorder()
    with pytest.raises(err, match=match):
        certify(rec, bad, sigma=0.1, eps=0.05, n=100)
    assert rec.batches == []


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(sigma=0.0, eps=0.05, n=100), "sigma"),
        (dict(sigma=0.1, eps=-1.0, n=100), "eps"),
        (dict(sigma=0.1, eps=0.05, n=100, alpha=0.7), "alpha"),
        (dict(sigma=0.1, eps=0.3, n=20, alpha=0.001), "raise n to at least"),
        (dict(sigma=0.1, eps=0.05, n=100, batch_size=0), "batch_size"),
    ],
)
def test_bad_parameters_fail_before_any_scoring(image, kwargs, match):
    rec = Recorder()
    with pytest.raises(ValueError, match=match):
        certify(rec, image, **kwargs)
    assert rec.batches == []


def test_bad_score_functions_are_named(image):
    with pytest.raises(ValueError, match="B scores"):
        sample_scores(lambda x: x.mean(), image, sigma=0.1, n=4, seed=0, batch_size=2)
    with pytest.raises(ValueError, match="non-finite scores"):
        sample_scores(lambda x: x.mean(dim=(1, 2, 3)) / 0.0 * 0.0, image, sigma=0.1, n=4, seed=0)


@pytest.fixture
def warns_at_any_cost(monkeypatch):
    """Every sampling counts as costly, and no size was warned about yet."""
    monkeypatch.setattr(sampler, "COST_WARNING_SECONDS", 0.0)
    monkeypatch.setattr(sampler, "_warned", set())


def test_a_costly_sampling_warns_once_from_its_first_batch(image, warns_at_any_cost):
    rec = Recorder()
    with pytest.warns(SamplingCostWarning, match=r"12x10 image on cpu: one noisy sample takes .* so n=8 takes about"):
        sample_scores(rec, image, sigma=0.1, n=8, seed=0, batch_size=2)
    assert rec.batches == [2, 2, 2, 2]  # the estimate reused the first batch: no extra forward
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sample_scores(rec, image, sigma=0.1, n=8, seed=0, batch_size=2)  # same size and n: told already
        sample_scores(rec, image, sigma=0.1, n=2, seed=0, batch_size=2)  # one batch: nothing left to warn about
        cost_reported(image, 6)
        sample_scores(rec, image, sigma=0.1, n=6, seed=0, batch_size=2)  # the caller told the user itself


def test_the_cost_line_names_a_side_that_brings_a_costly_image_under_a_minute():
    image = torch.zeros(1, 3, 400, 600)
    assert describe_cost(image, 1000, 0.2) == (
        "400x600 image on cpu: one noisy sample takes 0.2 s, so n=1000 takes about 3.3 min; a copy downscaled to "
        "a longer side of 320 px takes about 56.9 s (its certificate is of that copy): "
        "msbiqa.data.images.fit_within(image, 320) in Python, --max-side 320 on the command line"
    )
    assert (
        describe_cost(image, 100, 0.2)
        == "400x600 image on cpu: one noisy sample takes 0.2 s, so n=100 takes about 20.0 s"
    )
