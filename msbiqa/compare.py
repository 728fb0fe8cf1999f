"""The denoisers' claim check: no defence vs MS vs DMS vs DMS-IQA at each sigma, with eps = sigma / 2.

Per sigma, every image is certified under each defence with the same noise seed (common random numbers,
via `msbiqa.defences.certify_dataset`); the summary has SROCC / PLCC / KROCC of the (defended) scores vs
MOS and the mean certified delta = max(upper - median, median - lower).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from msbiqa.defences import certify_dataset
from msbiqa.evaluate import correlations
from msbiqa.tables import summarize_certificates

DEFENCES = ("none", "ms", "dms", "dms-iqa")


class RandomSubset:
    """`count` images of `dataset` drawn without replacement by `seed`, in dataset order; same interface.

    A random subset, not the first `count` images: datasets are usually ordered by photo and distortion.
    """

    def __init__(self, dataset, count: int, seed: int = 0):
        count = min(int(count), len(dataset))
        self.dataset = dataset
        self.index = np.sort(np.random.default_rng(seed).choice(len(dataset), count, replace=False))
        self.names = [dataset.names[i] for i in self.index]
        self.mos = np.asarray(dataset.mos)[self.index]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int):
        return self.dataset[int(self.index[i])]


def compare_denoisers(
    metric,
    dataset,
    *,
    sigmas=(0.06, 0.12, 0.25),
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

    `images` certifies a random subset of that many images (seeded by `seed`), the same for every sigma.
    `cpu_bf16` runs networks on CPU under bf16 autocast, as the sampler does on CUDA (2-3x faster on CPUs
    with AMX; the certified function is then the bf16 one). `out_csv` keeps the per-image rows, so an
    interrupted run resumes; the summary has one row per (sigma, eps, defence): images, srocc, plcc, krocc,
    certified fraction, mean / median delta, mean width.
    """
    if images is not None:
        dataset = RandomSubset(dataset, images, seed)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if cpu_bf16 else contextlib.nullcontext()
    with autocast:
        per_image = pd.concat([
            certify_dataset(metric, dataset, defences=DEFENCES, sigmas=(sigma,), eps=eps_ratio * sigma, n=n,
                            alpha=alpha, seed=seed, denoisers=denoisers, out_csv=out_csv, device=device,
                            progress=progress)
            for sigma in sigmas
        ], ignore_index=True)
    summary = summarize_certificates(per_image, ["sigma", "eps", "defence"], correlations)
    return summary, per_image
