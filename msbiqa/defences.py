"""Certify a dataset under each defence: none, MS, DMS, DMS-IQA and binned randomized smoothing.

One row per (sigma, defence, image), appended to a CSV as it is computed, so an interrupted run resumes.
Every defence of one image uses the same noise seed (common random numbers), so differences between
defences are not sampling noise.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from msbiqa.binned_rs import certify_binned
from msbiqa.certify import certify, order_statistic_ranks
from msbiqa.metrics.base import default_device
from msbiqa.subsets import spread

DEFENCES = ("none", "ms", "dms", "dms-iqa", "binned-rs")
LABELS = {"none": "none", "ms": "MS", "dms": "DMS", "dms-iqa": "DMS-IQA", "binned-rs": "binned RS"}
KEY = ["sigma", "defence", "image"]
CONFIG = ["eps", "n", "alpha", "seed", "denoisers"]


def load_defence(defence: str, sigma: float, denoisers: str | Path = "shipped", device=None):
    """The denoiser a defence smooths through: None for none/MS/binned RS; DnCNN for DMS; U-Net for DMS-IQA.

    `denoisers` is "shipped" (msbiqa's weights) or a folder with files named as `msbiqa.train.weights_filename`.
    """
    if defence not in DEFENCES:
        raise ValueError(f"unknown defence {defence!r}; choose from {DEFENCES}")
    if defence not in ("dms", "dms-iqa"):
        return None
    from msbiqa.denoiser import load_denoiser

    if str(denoisers) == "shipped":
        return load_denoiser(defence, sigma=sigma, device=device)
    from msbiqa.train import weights_filename

    return load_denoiser(Path(denoisers) / weights_filename(defence, sigma), sigma=sigma, device=device)


def certify_one(metric, image: torch.Tensor, defence: str, denoiser, *, sigma: float, eps: float, n: int,
                alpha: float, seed: int, device, n0: int, n_bins: int) -> dict:
    """Score and certificate of one image under one defence, as a flat row (NaN where not defined).

    none: the base score, nothing certified. MS / DMS / DMS-IQA: median smoothing. binned RS: the top
    bin's centre; certified when its l2 radius reaches eps, then the score cannot move (delta = 0).
    """
    if defence == "none":
        with torch.inference_mode():
            score = float(metric(image.to(device)[None]).float())
        return {"score": score, "lower": np.nan, "upper": np.nan, "delta": np.nan, "width": np.nan,
                "certified": False, "radius": np.nan}
    if defence == "binned-rs":
        c = certify_binned(metric, image, sigma=sigma, eps=eps, n=n, n0=n0, n_bins=n_bins, alpha=alpha,
                           seed=seed, device=device)
        ok = c.certified
        return {"score": c.prediction, "lower": c.prediction if ok else np.nan,
                "upper": c.prediction if ok else np.nan, "delta": c.delta if ok else np.nan,
                "width": 0.0 if ok else np.nan, "certified": ok, "radius": c.radius}
    c = certify(metric, image, sigma=sigma, eps=eps, n=n, alpha=alpha, seed=seed, denoiser=denoiser, device=device)
    return {"score": c.median, "lower": c.lower, "upper": c.upper, "delta": c.delta, "width": c.width,
            "certified": True, "radius": np.nan}


def certify_dataset(
    metric,
    dataset,
    *,
    defences=DEFENCES,
    sigmas=(0.12,),
    eps: float = 0.05,
    n: int = 100,
    alpha: float = 0.001,
    images: int | None = None,
    seed: int = 0,
    denoisers: str | Path = "shipped",
    n0: int | None = None,
    n_bins: int = 10,
    out_csv: str | Path | None = None,
    device=None,
    progress: bool = True,
) -> pd.DataFrame:
    """Per-image certificates of `images` images spread evenly over `dataset` (all when None), for every
    sigma x defence.

    Columns: sigma, defence, image, mos, score, lower, upper, delta, width, certified, radius, seconds,
    and the configuration (eps, n, alpha, seed, denoisers). binned RS selects its bin with n0 extra draws
    (default max(16, n // 8)). Rows already in `out_csv` with the same configuration are not recomputed.
    """
    for defence in defences:
        if defence not in DEFENCES:
            raise ValueError(f"unknown defence {defence!r}; choose from {DEFENCES}")
    for sigma in sigmas:
        order_statistic_ranks(n, float(sigma), eps, alpha)  # fail before any sampling
    device = default_device(device)
    metric = metric.to(device).eval()
    picks = spread(len(dataset), images)
    n0 = max(16, n // 8) if n0 is None else n0
    config = {"eps": float(eps), "n": int(n), "alpha": float(alpha), "seed": int(seed), "denoisers": str(denoisers)}
    done = _read_done(out_csv, config)
    rows = done.to_dict("records")
    seen = set(map(tuple, done[KEY].astype(str).to_numpy()))
    jobs = [(float(s), d) for s in sigmas for d in defences]
    bar = tqdm(total=len(jobs) * len(picks), desc="certify dataset", unit="cert", disable=not progress)
    for sigma, defence in jobs:
        todo = [i for i in picks if (str(sigma), defence, str(dataset.names[i])) not in seen]
        bar.update(len(picks) - len(todo))
        denoiser = load_defence(defence, sigma, denoisers, device) if todo else None
        for i in todo:
            image, mos, name = dataset[i]
            start = time.perf_counter()
            row = certify_one(metric, image, defence, denoiser, sigma=sigma, eps=eps, n=n, alpha=alpha,
                              seed=seed + i, device=device, n0=n0, n_bins=n_bins)
            row = {"sigma": sigma, "defence": defence, "image": name, "mos": float(mos), **row,
                   "seconds": time.perf_counter() - start, **config}
            rows.append(row)
            if out_csv is not None:
                _append(out_csv, row)
            bar.set_postfix(defence=defence, sigma=sigma)
            bar.update(1)
    bar.close()
    table = pd.DataFrame(rows)
    wanted = (table["defence"].isin(defences) & table["sigma"].isin([float(s) for s in sigmas])
              & table["image"].astype(str).isin([str(dataset.names[i]) for i in picks]))
    return table[wanted].reset_index(drop=True)


def denoising_quality(denoiser, metric, images: torch.Tensor, *, sigma: float, seed: int = 0) -> dict:
    """Mean PSNR (dB) of noisy and denoised copies of `images` (Bx3xHxW, one seeded draw each) against the
    clean images, and the mean |metric(denoised) - metric(clean)| that DMS-IQA's target loss keeps small."""
    device = next(denoiser.parameters()).device
    clean = images.to(device)
    gen = torch.Generator().manual_seed(seed)
    noisy = (clean + sigma * torch.randn(clean.shape, generator=gen).to(device)).clamp(0.0, 1.0)
    with torch.inference_mode():
        denoised = denoiser(noisy).clamp(0.0, 1.0)
        score_error = (metric(denoised) - metric(clean)).abs().mean()

    def psnr(x):
        return float((10 * torch.log10(1.0 / (x - clean).pow(2).flatten(1).mean(1).clamp_min(1e-10))).mean())

    return {"psnr_noisy": psnr(noisy), "psnr_denoised": psnr(denoised), "score_abs_error": float(score_error)}


def _read_done(out_csv, config: dict) -> pd.DataFrame:
    """Rows of `out_csv` computed with `config` (an empty frame when there are none)."""
    if out_csv is None or not Path(out_csv).is_file():
        return pd.DataFrame(columns=KEY)
    done = pd.read_csv(out_csv, dtype={"image": str, "denoisers": str})
    same = np.logical_and.reduce([done[k] == v for k, v in config.items()])
    return done[same]


def _append(out_csv, row: dict) -> None:
    path = Path(out_csv)
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([row]).to_csv(path, mode="a", header=not path.is_file(), index=False)
