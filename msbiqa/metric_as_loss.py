"""A quality metric as a training loss: train a small enhancement CNN to maximise the base metric or the
defended one, then measure what really happened with full-reference scores against the pristine photos.

Maximising an undefended NR-IQA network tends to "hack" it: the score rises through adversarial textures
while fidelity to the pristine image falls. The defended loss is the EOT surrogate of the smoothed score
(mean of metric(denoiser(clamp01(y + xi))) over `draws` noise draws per step, see `msbiqa.attacks`), which
the network cannot raise with perturbations the noise and denoiser wash out.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from msbiqa.attacks import base_objective, check_eval, check_images, eot_objective
from msbiqa.sampler import sample_scores
from msbiqa.validate import check_n, check_sigma

OBJECTIVES = ("base", "defended")


class EnhanceNet(nn.Module):
    """Residual enhancement CNN: clamp01(x + body(x)), `depth` 3x3 convs of `width` channels with ReLUs.
    The last conv starts at zero, so training starts from the identity (the distorted image itself)."""

    def __init__(self, depth: int = 4, width: int = 32):
        super().__init__()
        if depth < 2 or width < 1:
            raise ValueError(f"EnhanceNet needs depth >= 2 and width >= 1, got depth={depth}, width={width}")
        layers: list[nn.Module] = []
        for i in range(depth - 1):
            layers += [nn.Conv2d(3 if i == 0 else width, width, 3, padding=1), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(width, 3, 3, padding=1))
        nn.init.zeros_(layers[-1].weight)
        nn.init.zeros_(layers[-1].bias)
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x + self.body(x)).clamp(0.0, 1.0)


def quality_sign_and_scale(metric) -> tuple[float, float]:
    """(+1 or -1 so that sign * score rises with quality, the metric's score span or 1 when unbounded)."""
    sign = 1.0 if getattr(metric, "higher_is_better", True) else -1.0
    lo, hi = getattr(metric, "score_range", (-math.inf, math.inf))
    return sign, (hi - lo) if math.isfinite(hi - lo) and hi > lo else 1.0


def train_enhancer(
    metric: nn.Module,
    images: torch.Tensor,
    *,
    objective: str = "base",
    sigma: float = 0.12,
    draws: int = 4,
    denoiser: nn.Module | None = None,
    steps: int = 100,
    batch_size: int = 8,
    lr: float = 1e-3,
    depth: int = 4,
    width: int = 32,
    seed: int = 0,
    progress: bool = True,
) -> tuple[EnhanceNet, pd.DataFrame]:
    """Train an EnhanceNet on `images` (Bx3xHxW distorted, in [0, 1]) to maximise quality as the metric sees
    it: the base score (objective="base") or the `draws`-sample EOT surrogate of the defended score.

    The metric and denoiser stay frozen (gradients flow through them to the network only). Returns the
    network (eval mode) and a history with the loss (-score / score span, lower is better) and the seconds
    of every step.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    images = check_images(images)
    steps, batch_size = check_n(steps, name="steps"), check_n(batch_size, name="batch_size")
    check_eval(metric, denoiser)
    if objective == "base":
        score = base_objective(metric)
    else:
        score = eot_objective(metric, sigma=check_sigma(sigma), samples=draws, denoiser=denoiser)
    sign, scale = quality_sign_and_scale(metric)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = EnhanceNet(depth, width).to(images.device)
    params = list(model.parameters())
    optimizer = torch.optim.Adam(params, lr=lr)
    noise = torch.Generator(device=images.device).manual_seed(seed)
    batches = torch.Generator().manual_seed(seed)
    history = []
    for step in tqdm(range(steps), desc=f"train ({objective} metric)", disable=not progress, leave=False):
        batch = images[torch.randint(len(images), (batch_size,), generator=batches).to(images.device)]
        start = time.perf_counter()
        loss = -(sign * score(model(batch), noise)).mean() / scale
        grads = torch.autograd.grad(loss, params)  # not .backward(): leaves the frozen networks' .grad alone
        for p, g in zip(params, grads):
            p.grad = g
        optimizer.step()
        if images.is_cuda:
            torch.cuda.synchronize(images.device)
        history.append({"step": step, "loss": float(loss.detach()), "seconds": time.perf_counter() - start})
    return model.eval(), pd.DataFrame(history)


def embedded_pairs(
    split: str, *, limit: int | None = None, seed: int = 0, **dataset_kwargs
) -> tuple[torch.Tensor, torch.Tensor, pd.DataFrame]:
    """(distorted, pristine, table) of the embedded set's `split`: every distorted image stacked with the
    pristine crop it was made from, and its label row; `limit` picks a seeded random subset."""
    from msbiqa.data import load_dataset

    ds = load_dataset("embedded", split=split, **dataset_kwargs)
    table = ds.table
    index = {(r.ref, r.crop): i for i, r in enumerate(table.itertuples()) if r.distortion == "pristine"}
    rows = np.flatnonzero(table["distortion"].to_numpy() != "pristine")
    if limit is not None and limit < len(rows):
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=check_n(limit, name="limit"), replace=False))
    distorted = torch.stack([ds[int(i)][0] for i in rows])
    pristine = torch.stack([ds[index[(table.at[i, "ref"], table.at[i, "crop"])]][0] for i in rows])
    return distorted, pristine, table.iloc[rows].reset_index(drop=True)


def psnr(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of [0, 1] images (capped at 100 dB for identical images)."""
    mse = (x - reference).pow(2).flatten(1).mean(1)
    return (10 * torch.log10(1.0 / mse.clamp_min(1e-10))).clamp(max=100.0)


@torch.no_grad()
def evaluate_enhancer(
    model: nn.Module | None,
    metric: nn.Module,
    distorted: torch.Tensor,
    pristine: torch.Tensor,
    *,
    sigma: float = 0.12,
    n: int = 100,
    denoiser: nn.Module | None = None,
    seed: int = 0,
    fr_scorer=None,
) -> pd.DataFrame:
    """Per image: the base score, the defended score (median of n samples, seeded per image), PSNR and the
    weight-free pyiqa FR metrics with their pseudo-MOS (msbiqa.data.pseudo_mos) of the enhanced image vs
    its pristine reference. model=None scores the distorted images themselves."""
    from msbiqa.data.pseudo_mos import FRScorer, pseudo_mos

    distorted, pristine = check_images(distorted), check_images(pristine)
    out = distorted if model is None else model(distorted)
    scorer = fr_scorer or FRScorer()
    fr = {name: m(out.cpu().float(), pristine.cpu().float()).reshape(-1).double().numpy()
          for name, m in scorer.metrics.items()}
    defended = [float(sample_scores(metric, y, sigma=sigma, n=n, seed=seed + i, denoiser=denoiser).median())
                for i, y in enumerate(out)]
    return pd.DataFrame({
        "base_score": metric(out).float().cpu().numpy(), "defended_score": defended,
        "psnr": psnr(out, pristine).cpu().numpy(), **fr, "pseudo_mos": pseudo_mos(fr),
    })


def compare_objectives(
    metric: nn.Module,
    train_images: torch.Tensor,
    test_distorted: torch.Tensor,
    test_pristine: torch.Tensor,
    *,
    sigma: float = 0.12,
    draws: int = 4,
    denoiser: nn.Module | None = None,
    steps: int = 100,
    n: int = 100,
    seed: int = 0,
    progress: bool = True,
    **train_kwargs,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Train one network per objective with the same seed, data and steps; evaluate each and the identity
    (no enhancement) on the test pairs. Returns one row per objective (means over test images, the change
    of each score vs the identity, seconds per step) and the training histories."""
    from msbiqa.data.pseudo_mos import FRScorer

    scorer = FRScorer()
    kw = dict(sigma=sigma, n=n, denoiser=denoiser, seed=seed, fr_scorer=scorer)
    rows = {"identity": evaluate_enhancer(None, metric, test_distorted, test_pristine, **kw).mean()}
    histories, cost = {}, {"identity": 0.0}
    for objective in OBJECTIVES:
        model, histories[objective] = train_enhancer(
            metric, train_images, objective=objective, sigma=sigma, draws=draws, denoiser=denoiser,
            steps=steps, seed=seed, progress=progress, **train_kwargs,
        )
        rows[objective] = evaluate_enhancer(model, metric, test_distorted, test_pristine, **kw).mean()
        cost[objective] = float(np.median(histories[objective]["seconds"]))
    table = pd.DataFrame(rows).T
    table = table.join((table - table.loc["identity"]).add_prefix("change_"))
    table["seconds_per_step"] = pd.Series(cost)
    table.index.name = "objective"
    return table, histories
