"""Metric names and options are checked; the two shipped learned metrics rank pristine above degraded photos."""

import pytest
import torch
from support import PHOTOS, blurred, noised, photo

from msbiqa.models.metrics import load_metric


def test_unknown_names_and_options_are_refused():
    with pytest.raises(ValueError, match="unknown metric"):
        load_metric("koncept512")
    with pytest.raises(ValueError, match="not a pyiqa no-reference per-image metric"):
        load_metric("pyiqa:psnr")
    with pytest.raises(TypeError, match="only pyiqa metrics take options"):
        load_metric("niqe", pretrained=None)


@pytest.mark.parametrize("metric", ["tinyiqa", "resiqa"])
@pytest.mark.parametrize("name", PHOTOS)
def test_shipped_learned_metrics_rank_pristine_above_degraded(metric, name):
    shipped = load_metric(metric, device="cpu")
    x = photo(name, 96)
    with torch.inference_mode():
        clean, blur, noise = shipped(torch.cat([x, blurred(x, 3.0), noised(x, 0.2)])).tolist()
    assert clean > blur + 5 and clean > noise + 5, (clean, blur, noise)
