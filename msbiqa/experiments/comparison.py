"""Certify a dataset under each defence at each sigma, and tabulate how well the defended scores follow MOS.

One row per (sigma, defence, image), appended to a CSV as it is computed, so an interrupted run resumes.
Every defence of one image uses the same noise seed (common random numbers), so differences between
defences are not sampling noise. The summary has SROCC / PLCC / KROCC of the (defended) scores vs MOS and
the mean certified delta = max(upper - median, median - lower).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from msbiqa.data.subsets import spread
from msbiqa.experiments.defences import DEFENCES, check_defences, load_defence
from msbiqa.experiments.resumable import ResultsFile
from msbiqa.report.correlations import correlations
from msbiqa.report.tables import summarize_certificates
from msbiqa.settings import setting
from msbiqa.smoothing.certify import order_statistic_ranks
from msbiqa.smoothing.defended import DefendedMetric
from msbiqa.smoothing.validate import default_device

KEY = ["sigma", "defence", "image"]


def certify_one(
    defended: DefendedMetric,
    defence: str,
    image: torch.Tensor,
    *,
    eps: float,
    n: int,
    alpha: float,
    seed: int,
    device,
    n0: int,
    n_bins: int,
) -> dict:
    """Score and certificate of one image under one defence, as a flat row (NaN where not defined).

    none: the base score, nothing certified. MS / DMS / DMS-IQA: median smoothing. binned RS: the top
    bin's centre; certified when its l2 radius reaches eps, then the score cannot move (delta = 0).
    """
    if defence == "none":
        with torch.inference_mode():
            score = float(defended.metric(image.to(device)[None]).float())
        return {
            "score": score,
            "lower": np.nan,
            "upper": np.nan,
            "delta": np.nan,
            "width": np.nan,
            "certified": False,
            "radius": np.nan,
        }
    if defence == "binned-rs":
        c = defended.certify_binned(image, eps, n=n, alpha=alpha, seed=seed, n0=n0, n_bins=n_bins, device=device)
        ok = c.certified
        return {
            "score": c.prediction,
            "lower": c.prediction if ok else np.nan,
            "upper": c.prediction if ok else np.nan,
            "delta": c.delta if ok else np.nan,
            "width": 0.0 if ok else np.nan,
            "certified": ok,
            "radius": c.radius,
        }
    c = defended.certify(image, eps, n=n, alpha=alpha, seed=seed, device=device)
    return {
        "score": c.median,
        "lower": c.lower,
        "upper": c.upper,
        "delta": c.delta,
        "width": c.width,
        "certified": True,
        "radius": np.nan,
    }


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
    defences = check_defences(defences)
    for sigma in sigmas:
        order_statistic_ranks(n, float(sigma), eps, alpha)  # fail before any sampling
    device = default_device(device)
    metric = metric.to(device).eval()
    picks = spread(len(dataset), images)
    n0 = max(16, n // 8) if n0 is None else n0
    config = {"eps": float(eps), "n": int(n), "alpha": float(alpha), "seed": int(seed), "denoisers": str(denoisers)}
    results = ResultsFile(out_csv, KEY, config)
    jobs = [(float(s), d) for s in sigmas for d in defences]
    bar = tqdm(total=len(jobs) * len(picks), desc="certify dataset", unit="cert", disable=not progress)
    for sigma, defence in jobs:
        todo = [i for i in picks if not results.is_done([sigma, defence, dataset.names[i]])]
        bar.update(len(picks) - len(todo))
        defended = load_defence(defence, metric, sigma, denoisers, device) if todo else None
        for i in todo:
            image, mos, name = dataset[i]
            start = time.perf_counter()
            row = certify_one(
                defended, defence, image, eps=eps, n=n, alpha=alpha, seed=seed + i, device=device, n0=n0, n_bins=n_bins
            )
            results.append(
                {
                    "sigma": sigma,
                    "defence": defence,
                    "image": name,
                    "mos": float(mos),
                    **row,
                    "seconds": time.perf_counter() - start,
                }
            )
            bar.set_postfix(defence=defence, sigma=sigma)
            bar.update(1)
    bar.close()
    table = results.table(dtype={"image": str, "denoisers": str})
    wanted = (
        table["defence"].isin(defences)
        & table["sigma"].isin([float(s) for s in sigmas])
        & table["image"].astype(str).isin([str(dataset.names[i]) for i in picks])
    )
    return table[wanted].reset_index(drop=True)


@dataclass
class Comparison:
    """What `compare_defences` certifies: every sigma x defence at eps = eps_ratio * sigma."""

    sigmas: list[float] = setting([0.06, 0.12, 0.25], "noise levels")
    defences: list[str] = setting(list(DEFENCES), "defences to compare", choices=DEFENCES)
    eps_ratio: float = setting(0.5, "certify eps = ratio x sigma")
    n: int = setting(500, "noise samples per certificate")
    alpha: float = setting(0.001, "failure probability of each bound")
    seed: int = setting(0, "noise seed")
    images: int | None = setting(None, "images spread evenly over the split (default: all)")
    denoisers: str = setting("shipped", "'shipped' or a folder of KIND-sigmaS.pt files")
    cpu_bf16: bool = setting(
        False, "bf16 autocast on CPU (2-3x faster on CPUs with AMX; the certified function is then the bf16 one)"
    )


def compare_defences(
    metric,
    dataset,
    config: Comparison | None = None,
    *,
    out_csv: str | Path | None = None,
    device=None,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary, per_image) for each sigma x defence of `config`, certifying eps = eps_ratio * sigma.

    The same images (spread evenly over `dataset`) for every sigma and defence. `out_csv` keeps the per-image
    rows, so an interrupted run resumes; the summary has one row per (sigma, eps, defence): images, srocc,
    plcc, krocc, certified fraction, mean / median delta, mean width, seconds per image.
    """
    c = config or Comparison()
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if c.cpu_bf16 else contextlib.nullcontext()
    with autocast:
        per_image = pd.concat(
            [
                certify_dataset(
                    metric,
                    dataset,
                    defences=c.defences,
                    sigmas=(sigma,),
                    eps=c.eps_ratio * sigma,
                    n=c.n,
                    alpha=c.alpha,
                    images=c.images,
                    seed=c.seed,
                    denoisers=c.denoisers,
                    out_csv=out_csv,
                    device=device,
                    progress=progress,
                )
                for sigma in c.sigmas
            ],
            ignore_index=True,
        )
    summary = summarize_certificates(per_image, ["sigma", "eps", "defence"], correlations)
    return summary, per_image
