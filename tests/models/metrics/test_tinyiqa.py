"""The shipped default metric TinyIQA: offline, in range, gradients to the input only, fp32 score resolution
under bf16 autocast (its ranking of pristine above degraded photos: test_load_metric)."""

import re

import pytest
import torch
from support import PHOTOS, photo

from msbiqa.models.metrics import IQAMetric, load_metric
from msbiqa.models.metrics.base import WeightsMismatchError
from msbiqa.models.metrics.tinyiqa import default_weights_path, load_tinyiqa


@pytest.fixture(scope="module")
def default_metric():
    return load_metric(device="cpu")


def test_default_metric_loads_offline_and_scores_in_range(default_metric):
    m = default_metric
    assert isinstance(m, IQAMetric) and m.name == "tinyiqa" and m.higher_is_better and m.score_range == (0.0, 100.0)
    assert default_weights_path().stat().st_size < 2 * 2**20
    x = torch.cat([photo(n, 96) for n in PHOTOS] + [torch.rand(1, 3, 96, 96), torch.zeros(1, 3, 96, 96)])
    with torch.inference_mode():
        s = m(x)
    assert s.shape == (len(x),) and torch.isfinite(s).all()
    assert (s > 0).all() and (s < 100).all()
    # other image sizes work (global pooling), batching does not change a score
    with torch.inference_mode():
        assert m(photo("astronaut", 160)).shape == (1,)
        single = torch.cat([m(x[i : i + 1]) for i in range(len(x))])
    torch.testing.assert_close(single, s, rtol=1e-4, atol=1e-3)


def test_default_metric_records_its_training(default_metric):
    cfg = default_metric.config
    assert cfg["dataset"] == "embedded" and cfg["val"]["srocc"] > 0.5 and cfg["test"]["srocc"] > 0.5
    assert cfg["best_epoch"] <= cfg["epochs"]


def test_default_metric_passes_gradients_to_the_input_only(default_metric):
    x = photo("astronaut", 64).repeat(3, 1, 1, 1).requires_grad_(True)
    default_metric(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in default_metric.parameters())
    assert not default_metric.training and not default_metric.train().training  # frozen evaluators


def test_default_metric_scores_keep_fp32_resolution_under_bf16_autocast(default_metric):
    """Networks may run in bf16 (the sampler does on CUDA); the score itself must not be a bf16 number."""
    x = torch.rand(6, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    exact = default_metric(x)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        fast = default_metric(x)
    assert fast.dtype == torch.float32 and (fast != fast.bfloat16().float()).any()
    assert torch.allclose(fast, exact, atol=1.0)


def test_metric_rejects_non_batches(default_metric):
    with pytest.raises(ValueError, match="Bx3xHxW"):
        default_metric(torch.rand(3, 32, 32))


def test_pooled_statistics_match_welford():
    from msbiqa.models.metrics.tinyiqa import spatial_mean_var

    h = torch.rand(3, 5, 17, 11, generator=torch.Generator().manual_seed(0)) * 4 + 100  # a large mean: cancellation
    mean, var = spatial_mean_var(h)
    ref_var, ref_mean = torch.var_mean(h, dim=(2, 3), correction=0)
    torch.testing.assert_close(mean, ref_mean)
    torch.testing.assert_close(var, ref_var, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"arch": None}, "has no 'arch': make one with `msbiqa train-metric`"),
        ({"config": [1, 2]}, "'config' is a list, not a dict: make one with `msbiqa train-metric`"),
        ({"arch": [1, 2]}, "'arch' is a list, not a dict"),
        ({"arch": {"widths": [16] * 200000}}, "widths=[16, 16, 16, 16, 16, 16, ...] is not a list of 1..8 whole"),
        ({"arch": {"widths": [16], "hidden": 10**9}}, "hidden=1000000000 is not a whole number in 1..1024"),
        ({"arch": {"depth": 3}}, "unknown architecture setting 'depth'"),
    ],
)
def test_malformed_weights_files_are_refused_before_building(tmp_path, monkeypatch, changes, message):
    """Safe to load (weights_only) but not TinyIQA's: one line naming the file and the fix, before a network is
    built from what it says."""
    blob = {**torch.load(default_weights_path(), weights_only=True), **changes}
    path = tmp_path / "w.pt"
    torch.save({k: v for k, v in blob.items() if v is not None}, path)
    monkeypatch.setattr("msbiqa.models.metrics.tinyiqa.TinyIQANet", None)
    with pytest.raises(WeightsMismatchError, match=f"^{re.escape(str(path))}.*{re.escape(message)}"):
        load_tinyiqa(path)
    (tmp_path / "notes.pt").write_text("these are not weights\n")
    with pytest.raises(WeightsMismatchError, match=r"notes\.pt is not a readable torch weights file"):
        load_tinyiqa(tmp_path / "notes.pt")
