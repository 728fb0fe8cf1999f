"""The denoisers' claim check: no defence vs MS vs DMS vs DMS-IQA vs binned RS at each sigma, eps = sigma / 2.

Per sigma, the same images are certified under each defence with the same noise seed (common random numbers,
via `msbiqa.defences.certify_dataset`); the summary has SROCC / PLCC / KROCC of the (defended) scores vs
MOS and the mean certified delta = max(upper - median, median - lower).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pandas as pd
import torch

from msbiqa.defences import DEFENCES, certify_dataset
from msbiqa.evaluate import correlations
from msbiqa.tables import summarize_certificates


def compare_denoisers(
    metric,
    dataset,
    *,
    sigmas=(0.06, 0.12, 0.25),
    defences=DEFENCES,
    eps_ratio: float = 0.5,
    n: int = 500,
    alpha: float = 0.001,
    seed: int = 0,
    images: int | None = None,
    denoisers: str | Path = "shipped",
    out_csv: str | Path | None = None,
    cpu_bf16: bool = False,
    device=None,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary, per_image) for each sigma x defence, certifying eps = eps_ratio * sigma.

    `images` certifies that many images spread evenly over `dataset` (all when None), the same for every
    sigma and defence. `cpu_bf16` runs networks on CPU under bf16 autocast, as the sampler does on CUDA
    (2-3x faster on CPUs with AMX; the certified function is then the bf16 one). `out_csv` keeps the
    per-image rows, so an interrupted run resumes; the summary has one row per (sigma, eps, defence):
    images, srocc, plcc, krocc, certified fraction, mean / median delta, mean width, seconds per image.
    """
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if cpu_bf16 else contextlib.nullcontext()
    with autocast:
        per_image = pd.concat([
            certify_dataset(metric, dataset, defences=defences, sigmas=(sigma,), eps=eps_ratio * sigma, n=n,
                            alpha=alpha, images=images, seed=seed, denoisers=denoisers, out_csv=out_csv,
                            device=device, progress=progress)
            for sigma in sigmas
        ], ignore_index=True)
    summary = summarize_certificates(per_image, ["sigma", "eps", "defence"], correlations)
    return summary, per_image
