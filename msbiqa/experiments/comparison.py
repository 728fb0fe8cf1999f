"""Certify a dataset under each defence at each sigma, and tabulate how well the defended scores follow MOS.

`msbiqa compare`'s computation: one `certify_dataset` run per sigma at eps = eps_ratio * sigma, then one summary
row per (sigma, eps, defence) with SROCC / PLCC / KROCC vs MOS, the mean certified delta and fidelity, each with
its bootstrap intervals (`msbiqa.experiments.evidence_tables`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import torch

from msbiqa.experiments.certification import Certification, certify_dataset
from msbiqa.experiments.evidence_tables import evidence_rows, summarize
from msbiqa.settings import setting
from msbiqa.smoothing.certify import Bounds
from msbiqa.statistics.uncertainty import Bootstrap

SKIPPED = ("eps",)  # a comparison certifies eps = eps_ratio * sigma: its Certification's eps is not an option


@dataclass
class Comparison:
    """What `compare_defences` certifies: every sigma x defence of `run` at eps = eps_ratio * sigma."""

    run: Certification = setting(
        Certification(sigmas=[0.06, 0.12, 0.25], bounds=Bounds(n=500)), "what is certified (eps: from eps_ratio)"
    )
    eps_ratio: float = setting(0.5, "certify eps = ratio x sigma")
    cpu_bf16: bool = setting(
        False, "bf16 autocast on CPU (2-3x faster on CPUs with AMX; the certified function is then the bf16 one)"
    )
    bootstrap: Bootstrap = setting(Bootstrap(resamples=1000), "how intervals are computed")


def compare_defences(
    metric,
    dataset,
    config: Comparison | None = None,
    *,
    out_csv: str | Path | None = None,
    device=None,
    progress: bool = True,
    engine=None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary, per_image) for each sigma x defence of `config`, certifying eps = eps_ratio * sigma.

    The same images (spread evenly over `dataset`) for every sigma and defence. `out_csv` keeps the per-image
    rows, so an interrupted run resumes; the summary has one row per (sigma, eps, defence): images, photos (where
    the dataset has reference photos), srocc, plcc, krocc (sign-corrected), mean delta and fidelity, each with
    its bootstrap intervals, the certified fraction, median delta and seconds per image
    (`msbiqa.statistics.evidence.interval_table`). `engine` as in `certify_dataset`.
    """
    c = config or Comparison()
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if c.cpu_bf16 else contextlib.nullcontext()
    with autocast:
        per_image = pd.concat(
            [
                certify_dataset(
                    metric,
                    dataset,
                    replace(c.run, sigmas=[sigma], bounds=replace(c.run.bounds, eps=c.eps_ratio * sigma)),
                    out_csv=out_csv,
                    device=device,
                    progress=progress,
                    engine=engine,
                )
                for sigma in c.run.sigmas
            ],
            ignore_index=True,
        )
    summary = summarize(evidence_rows(per_image, dataset), ["sigma", "eps", "defence"], metric, comparison_bootstrap(c))
    return summary, per_image


def comparison_bootstrap(config: Comparison) -> Bootstrap:
    """The comparison's bootstrap, seeded with its noise seed."""
    return replace(config.bootstrap, seed=config.run.seed)
