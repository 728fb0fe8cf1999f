"""Metric names and options are checked."""

import pytest

from msbiqa.models.metrics import load_metric


def test_unknown_names_and_options_are_refused():
    with pytest.raises(ValueError, match="unknown metric"):
        load_metric("koncept512")
    with pytest.raises(ValueError, match="not a pyiqa no-reference per-image metric"):
        load_metric("pyiqa:psnr")
    with pytest.raises(TypeError, match="only pyiqa metrics take options"):
        load_metric("niqe", pretrained=None)
