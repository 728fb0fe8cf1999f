"""One certification run: a dataset's images certified under each defence at each sigma, one row per (sigma,
defence, image) appended to a resumable CSV as it is computed.

`Certification` holds what a run computes (the parameters every caller shares); `certify_dataset` computes it
through an engine (this process or a Ray cluster). Every defence of one image uses the same noise seed (common
random numbers), so differences between defences are not sampling noise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from msbiqa.data.subsets import spread
from msbiqa.experiments.defences import DEFENCES, KNOWN, NOISE_TRAINED, check_defences, load_defence
from msbiqa.experiments.engine_work import Job, Work
from msbiqa.experiments.engines import LocalEngine
from msbiqa.experiments.resumable import ResultsFile
from msbiqa.fingerprint import weights_digest
from msbiqa.settings import setting
from msbiqa.smoothing.certify import Bounds
from msbiqa.smoothing.defended import DefendedMetric
from msbiqa.smoothing.validate import check_seed


def image_count(text: str) -> int | None:
    """An image count from the command line: a positive whole number, or 'all' (None)."""
    if text == "all":
        return None
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"images must be a positive whole number or 'all', got {text!r}")
    return int(text)


@dataclass
class Certification:
    """What one certification run computes: every sigma x defence on `images` images of a split, certified as
    `bounds` says (eps, n, alpha), noise seeded by seed + image index."""

    defences: list[str] = setting(list(DEFENCES), "defences", choices=KNOWN)
    sigmas: list[float] = setting([0.12], "noise levels (the denoisers need weights for each)")
    bounds: Bounds = setting(Bounds(), "the certificate: eps, n, alpha")
    images: int | None = setting(
        None, "images spread evenly over each split ('all' for every image)", parse=image_count
    )
    seed: int = setting(0, "noise seed (common random numbers across defences)")
    denoisers: str = setting("shipped", "'shipped' or a folder of KIND-sigmaS.pt files (or METRIC/KIND-sigmaS.pt)")
    foreign_denoisers: bool = setting(False, "use DMS-IQA denoisers trained through another metric (rows name it)")
    n_bins: int = setting(10, "score bins of binned RS")
    n0: int | None = None  # binned RS's selection draws; None: max(16, n // 8)


KEY = ["sigma", "defence", "image", "denoiser", "denoiser_digest"]


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
    bin_range: tuple[float, float],
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
        c = defended.certify_binned(
            image, eps, n=n, alpha=alpha, seed=seed, n0=n0, n_bins=n_bins, score_range=bin_range, device=device
        )
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


def run_constants(metric, dataset, *, eps: float, n: int, alpha: float, seed: int, device) -> dict:
    """Everything besides sigma, defence and image that changes a row: the dataset (title, split and image
    size), the metric (name and weights digest), eps, n, alpha, seed and the precision networks run at."""
    bf16 = device.type == "cuda" or torch.is_autocast_enabled("cpu")
    return {
        "dataset": str(getattr(dataset, "title", type(dataset).__name__)),
        "image_size": str(getattr(dataset, "resize", None) or "native"),
        "metric": str(getattr(metric, "name", type(metric).__name__)),
        "metric_digest": weights_digest(metric),
        "eps": float(eps),
        "n": int(n),
        "alpha": float(alpha),
        "seed": int(seed),
        "precision": "bf16" if bf16 else "fp32",
    }


def observed_range(metric, dataset, picks: list[int], device) -> tuple[float, float]:
    """Bin range of binned RS: the span of the base metric's clean scores over the certified images, widened by
    10 % on each side (the stated rule; a metric's nominal range can be approximate or unbounded)."""
    with torch.inference_mode():
        scores = [float(metric(dataset[i][0].to(device)[None]).float()) for i in picks]
    lo, hi = min(scores), max(scores)
    pad = 0.1 * (hi - lo) or max(abs(hi), 1.0) * 1e-3
    return lo - pad, hi + pad


def identity(defended: DefendedMetric, defence: str) -> dict:
    """The key columns naming the network a defence brings besides the run's base metric: its denoiser's name and
    weights digest, or for MS over a noise-trained metric (ms-noisy) that metric's."""
    if defence in NOISE_TRAINED:
        return {"denoiser": "none (noise-trained metric)", "denoiser_digest": weights_digest(defended.metric)}
    return {"denoiser": defended.denoiser_name, "denoiser_digest": weights_digest(defended.denoiser)}


def certify_row(defended: DefendedMetric, job: Job, item, device, *, seed: int, bin_range, **options) -> dict:
    """The row of one job (sigma, defence, dataset index) for item = dataset[index], seeded with seed + index
    whatever the engine; `options` as `certify_one`. `seconds` is the time it took on the machine that ran it."""
    sigma, defence, index = job
    image, mos, name = item
    start = time.perf_counter()
    row = certify_one(defended, defence, image, seed=seed + index, device=device, bin_range=bin_range, **options)
    return {
        "sigma": sigma,
        "defence": defence,
        "image": name,
        **identity(defended, defence),
        "mos": float(mos),
        **row,
        "bin_lo": bin_range[0],
        "bin_hi": bin_range[1],
        "seconds": time.perf_counter() - start,
    }


def certify_dataset(
    metric,
    dataset,
    run: Certification | None = None,
    *,
    out_csv: str | Path | None = None,
    device=None,
    progress: bool = True,
    engine=None,
) -> pd.DataFrame:
    """Per-image certificates of `run.images` images spread evenly over `dataset` (all when None), for every
    sigma x defence of `run` (each listed once), in that order.

    Columns: sigma, defence, image, denoiser, denoiser_digest, mos, score, lower, upper, delta, width, certified,
    radius, bin_lo, bin_hi, seconds, and the run's constants (`run_constants`). binned RS selects its bin with
    n0 extra draws (default max(16, n // 8)) among n_bins bins over `observed_range`. Rows already in `out_csv`
    with the same key and constants are not recomputed (rows of other denoisers in it stay there, not returned);
    the file is locked while this runs. A DMS-IQA denoiser trained through another metric is refused unless
    `run.foreign_denoisers` (its rows then name it).
    `engine` computes the rows: `LocalEngine()` (default, this process) or a `RayEngine` (see
    `msbiqa.experiments.engines`); for a fixed seed both give the same rows, but for `seconds`.
    """
    run = run or Certification()
    defences, sigmas = check_defences(dict.fromkeys(run.defences)), list(dict.fromkeys(float(s) for s in run.sigmas))
    eps, n, alpha, seed = run.bounds.eps, run.bounds.n, run.bounds.alpha, run.seed
    for sigma in sigmas:
        run.bounds.check(sigma)  # fail before any sampling
    engine = engine or LocalEngine()
    here, device = engine.devices(device)  # where this process loads the networks, where they certify
    metric = metric.to(here).eval()
    picks = spread(len(dataset), run.images)
    check_seed(seed + max(picks), name="seed + image index")
    n0 = max(16, n // 8) if run.n0 is None else run.n0
    constants = run_constants(metric, dataset, eps=eps, n=n, alpha=alpha, seed=seed, device=device)
    defended = {
        (s, d): load_defence(d, metric, s, run.denoisers, here, foreign=run.foreign_denoisers)
        for s in sigmas
        for d in defences
    }  # every file checked before the first image is scored
    bins = observed_range(metric, dataset, picks, here) if "binned-rs" in defences else (np.nan, np.nan)
    certify = partial(certify_row, eps=eps, n=n, alpha=alpha, seed=seed, n0=n0, n_bins=run.n_bins, bin_range=bins)
    with ResultsFile(out_csv, KEY, constants) as results:
        identities = {pair: list(identity(smoothed, pair[1]).values()) for pair, smoothed in defended.items()}
        jobs = [(s, d, i) for s, d in defended for i in picks]
        todo = [job for job in jobs if not results.is_done([*job[:2], dataset.names[job[2]], *identities[job[:2]]])]
        with tqdm(
            total=len(jobs), initial=len(jobs) - len(todo), desc="certify dataset", unit="cert", disable=not progress
        ) as bar:
            for row in engine.run(Work(dataset, todo, defended, certify), device):
                results.append(row)
                bar.set_postfix(defence=row["defence"], sigma=row["sigma"])
                bar.update(1)
        table = results.table(dtype={"image": str, "denoiser": str, "denoiser_digest": str})
    order = {(s, d, str(dataset.names[i]), *identities[s, d]): k for k, (s, d, i) in enumerate(jobs)}
    columns = [table[c] for c in KEY]
    columns[2] = columns[2].astype(str)
    rank = pd.Series([order.get(key, -1) for key in zip(*columns)])  # other denoisers' rows in the file left out
    return table.iloc[rank[rank >= 0].sort_values(kind="stable").index].reset_index(drop=True)
