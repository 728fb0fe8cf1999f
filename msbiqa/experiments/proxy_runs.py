"""The validation proxy (`msbiqa.models.validation.evaluate`) of finished denoisers, one resumable CSV row per
weights file: what `msbiqa validate-denoisers` writes and `msbiqa choose-objective` reads."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from msbiqa.experiments.resumable import ResultsFile
from msbiqa.fingerprint import weights_digest
from msbiqa.models.denoisers import DEFAULT_SIGMA, load_denoiser
from msbiqa.models.validation import PROXY_DRAWS, SEED, ProxySet, evaluate
from msbiqa.statistics.uncertainty import Bootstrap


def validate_files(
    names: list[str],
    metric: nn.Module,
    proxy: ProxySet,
    *,
    out_csv: str | Path | None,
    constants: dict,
    sigma: float | None = None,
    draws: int = PROXY_DRAWS,
    seed: int = SEED,
    config: Bootstrap | None = None,
    device: str | torch.device = "cpu",
) -> list[dict]:
    """`evaluate` each denoiser (a weights file, a shipped name, or "none" for plain median smoothing) at `sigma`
    (default: the sigma it was trained at; 0.12 for "none"), one row each appended to `out_csv` as it finishes;
    rows already there for the same file contents, sigma and `constants` are reused (a killed run resumes)."""
    rows = []
    metric = metric.to(device).eval()
    with ResultsFile(out_csv, ["denoiser", "digest", "sigma"], constants) as results:
        for name in names:
            denoiser = None if name == "none" else load_denoiser(name, sigma=sigma, device=device)
            trained = getattr(denoiser, "config", {})
            at = float(sigma if sigma is not None else trained.get("sigma") or DEFAULT_SIGMA)
            key = (str(name), weights_digest(denoiser), at)
            if results.is_done(key):
                continue
            row = evaluate(denoiser, metric, proxy, sigma=at, draws=draws, seed=seed, config=config, device=device)
            info = {"kind": trained.get("kind"), "seed": trained.get("seed"), "epoch": trained.get("chosen_epoch")}
            rows.append(results.append({**dict(zip(results.key, key)), **info, **row}))
    return rows
