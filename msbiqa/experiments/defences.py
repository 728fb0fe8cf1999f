"""The defences of the method's tables, each a `DefendedMetric` of the base metric at one sigma:

none (the bare metric, nothing certified), MS (median smoothing, no denoiser), DMS (DnCNN trained with MSE),
DMS-IQA (U-Net trained with MSE + rank + target through the metric) and binned RS (randomized smoothing of
the binned score, the metric itself smoothed). The ablation adds the other two cells of architecture x loss:
dncnn-full (DnCNN, MSE + rank + target) and unet-mse (U-Net, MSE), each a denoiser kind of the same name. Beyond
the paper, dms-generic is DMS through a generic denoiser: the dms kind trained on pristine crops only, read from
a denoiser folder's generic/ subfolder, and ms-noisy is MS over the base metric retrained with Gaussian noise at
sigma (`msbiqa train-metric --noise-sigma`), read from a denoiser folder's METRIC-noiseS.pt (neither is shipped).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from msbiqa.data.images import psnr
from msbiqa.models.denoisers import KINDS, load_denoiser, weights_filename
from msbiqa.models.metrics import load_metric
from msbiqa.smoothing.defended import DefendedMetric

DEFENCES = ("none", "ms", "dms", "dms-iqa", "binned-rs")  # the method's main table
ABLATION_DEFENCES = ("dncnn-full", "unet-mse")  # with dms and dms-iqa: architecture x loss, one factor at a time
# beyond the paper: DMS through a generic denoiser (DnCNN, MSE, pristine crops only), MS over the base metric
# retrained with noise at sigma
REFERENCES = ("dms-generic", "ms-noisy")
TRAINING_PHASES = {"dms-generic": "generic", "ms-noisy": "noisy-metric"}  # each reference's train_fair_test.sh phase
KNOWN = DEFENCES + ABLATION_DEFENCES + REFERENCES
GENERIC = {"dms-generic": ("dms", "generic")}  # defence -> (denoiser kind, subfolder of a denoiser folder)
DEFENCE_NAMES = {
    "none": "none",
    "ms": "MS",
    "dms": "DMS",
    "dms-iqa": "DMS-IQA",
    "binned-rs": "binned RS",
    "dncnn-full": "DnCNN, full loss",
    "unet-mse": "U-Net, MSE",
    "dms-generic": "generic DMS",
    "ms-noisy": "MS, noise-trained metric",
}
DENOISED = ("dms", "dms-iqa", *ABLATION_DEFENCES, "dms-generic")  # the defences through a denoiser
NOISE_TRAINED = ("ms-noisy",)  # the defences over the base metric retrained with noise
REPLICATED = DENOISED + NOISE_TRAINED  # the defences whose network comes from a denoiser folder (a training seed)


def check_defences(defences) -> list[str]:
    """`defences` as a list, each one of KNOWN (the main table's and the ablation's)."""
    unknown = [d for d in defences if d not in KNOWN]
    if unknown:
        raise ValueError(f"unknown defence(s) {unknown}; choose from {KNOWN}")
    return list(defences)


def load_defence(
    defence: str, metric, sigma: float, denoisers: str | Path = "shipped", device=None, *, foreign: bool = False
) -> DefendedMetric:
    """`metric` defended as `defence` at `sigma`: through the denoiser of that kind for DMS, DMS-IQA, the
    ablation's dncnn-full and unet-mse and the generic DMS; for ms-noisy, MS over the metric retrained with noise
    (`noise_trained_metric`); no denoiser else.

    `denoisers` is "shipped" (msbiqa's weights) or a folder with files named as `weights_filename(kind, sigma)`,
    in a subfolder named after the metric (`metric_folder`) when one is there (denoisers trained per metric).
    A denoiser trained through another metric (DMS-IQA, dncnn-full) is refused unless `foreign`.
    """
    check_defences([defence])
    if defence in NOISE_TRAINED:
        return DefendedMetric(noise_trained_metric(metric, sigma, denoisers, device), sigma, None)
    denoiser = resolve_denoiser(defence if defence in DENOISED else None, metric, sigma, denoisers, device)
    return DefendedMetric(metric, sigma, denoiser, foreign_denoiser=foreign)


def resolve_denoiser(denoiser: str | Path | None, metric, sigma: float, denoisers: str | Path = "shipped", device=None):
    """The denoiser a notebook or command names: None (plain MS), a kind ("dms", "dms-iqa": the shipped file,
    or the one in the `denoisers` folder, trained for `metric` when its subfolder has one), or a weights file."""
    if denoiser is None:
        return None
    source = denoiser
    if str(denoiser) in REFERENCES:
        require_trained(str(denoiser), denoisers)
    if str(denoiser) in DENOISED and str(denoisers) != "shipped":
        source = defence_file(denoisers, metric, str(denoiser), sigma)
    return load_denoiser(source, sigma=sigma, device=device)


def noise_trained_metric(metric, sigma: float, folder: str | Path, device=None):
    """`metric` retrained with noise at `sigma` (ms-noisy's base metric): the same network loaded from the
    folder's METRIC-noiseS.pt (`defence_file`), which `msbiqa train-metric --noise-sigma S` writes."""
    require_trained("ms-noisy", folder)
    return load_metric(str(metric.name), weights=defence_file(folder, metric, "ms-noisy", sigma), device=device)


def require_trained(defence: str, folder: str | Path) -> None:
    """Refuse "shipped" as the folder of a reference that ships no weights, naming the training that makes them."""
    if str(folder) == "shipped":
        raise FileNotFoundError(
            f"{defence} has no shipped weights: train it (scripts/train_fair_test.sh {TRAINING_PHASES[defence]}) "
            "and name the folders that hold it (claim --replicates, compare --denoisers)"
        )


def defence_file(folder: str | Path, metric, defence: str, sigma: float) -> Path:
    """The weights file of a replicated defence in a denoiser folder: its kind's file (`denoiser_file`), for the
    generic DMS in the folder's generic/ subfolder, for MS over a noise-trained metric METRIC-noiseS.pt."""
    if defence in NOISE_TRAINED:
        return Path(folder) / f"{metric_folder(metric)}-noise{float(sigma):g}.pt"
    kind, sub = GENERIC.get(defence, (defence, ""))
    return denoiser_file(Path(folder) / sub, metric, kind, sigma)


def metric_specific(kind: str) -> bool:
    """Whether denoisers of `kind` are trained through the base metric (rank/target losses), hence per metric."""
    return KINDS[kind].loss.through_metric


def metric_folder(metric) -> str:
    """Folder name of the denoisers trained for `metric` (its name, file-system safe: pyiqa:cnniqa -> pyiqa-cnniqa)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", str(getattr(metric, "name", metric)))


def denoiser_file(folder: str | Path, metric, kind: str, sigma: float) -> Path:
    """The weights file of `kind` at `sigma` in `folder`: `folder/<metric>/` first, then `folder/` itself."""
    name = weights_filename(kind, sigma)
    per_metric = Path(folder) / metric_folder(metric) / name
    return per_metric if per_metric.is_file() else Path(folder) / name


def denoising_quality(defended: DefendedMetric, images, *, seed: int = 0) -> dict:
    """Mean PSNR (dB) of noisy and denoised copies of `images` (3xHxW tensors of any sizes, one seeded draw
    each) against the clean images, and the mean |metric(denoised) - metric(clean)| that DMS-IQA's target
    loss keeps small."""
    denoiser, metric = defended.denoiser, defended.metric
    device = next(denoiser.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    rows = []
    with torch.inference_mode():
        for image in images:
            clean = image.to(device)[None]
            noise = torch.randn(clean.shape, generator=gen).to(device)
            noisy = (clean + defended.sigma * noise).clamp(0.0, 1.0)
            denoised = denoiser(noisy).clamp(0.0, 1.0)
            error = float((metric(denoised) - metric(clean)).abs())
            rows.append((float(psnr(noisy, clean)), float(psnr(denoised, clean)), error))
    noisy_db, denoised_db, score_error = (sum(column) / len(rows) for column in zip(*rows))
    return {"psnr_noisy": noisy_db, "psnr_denoised": denoised_db, "score_abs_error": score_error}
