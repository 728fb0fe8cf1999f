"""A quality metric as a training loss: train a small enhancement CNN to maximise the base metric or the
defended one, then measure what really happened with full-reference scores against the pristine photos.

Maximising an undefended NR-IQA network tends to "hack" it: the score rises through adversarial textures
while fidelity to the pristine image falls. The defended loss is the EOT surrogate of the smoothed score
(mean of metric(denoiser(clamp01(y + xi))) over `draws` noise draws per step, see `msbiqa.experiments.attacks`), which
the network cannot raise with perturbations the noise and denoiser wash out.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from msbiqa.data.images import psnr
from msbiqa.data.pseudo_mos import FRScorer, pseudo_mos
from msbiqa.experiments.attacks import base_objective, check_eval, check_images, eot_objective
from msbiqa.models.metrics.base import score_span
from msbiqa.smoothing.defended import DefendedMetric
from msbiqa.smoothing.validate import check_count

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


def train_enhancer(
    defended: DefendedMetric,
    images: torch.Tensor,
    *,
    objective: str = "base",
    draws: int = 4,
    steps: int = 100,
    batch_size: int = 8,
    lr: float = 1e-3,
    depth: int = 4,
    width: int = 32,
    seed: int = 0,
    progress: bool = True,
) -> tuple[EnhanceNet, pd.DataFrame]:
    """Train an EnhanceNet on `images` (Bx3xHxW distorted, in [0, 1]) to maximise quality as the metric sees
    it: the base score of `defended.metric` (objective="base") or the `draws`-sample EOT surrogate of the
    defended score (objective="defended").

    The metric and denoiser stay frozen (gradients flow through them to the network only). Returns the
    network (eval mode) and a history with the loss (-score / score span, lower is better) and the seconds
    of every step.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    images = check_images(images)
    steps, batch_size = check_count(steps, name="steps"), check_count(batch_size, name="batch_size")
    check_eval(defended.metric, defended.denoiser)
    score = base_objective(defended.metric) if objective == "base" else eot_objective(defended, draws)
    sign, scale = (1.0 if defended.higher_is_better else -1.0), score_span(defended)

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


@torch.no_grad()
def evaluate_enhancer(
    model: nn.Module | None,
    defended: DefendedMetric,
    distorted: torch.Tensor,
    pristine: torch.Tensor,
    *,
    n: int = 100,
    seed: int = 0,
    fr_scorer: FRScorer | None = None,
) -> pd.DataFrame:
    """Per image: the base score, the defended score (median of n samples, seeded per image), PSNR and the
    full-reference metrics with their pseudo-MOS (msbiqa.data.pseudo_mos, on 8-bit images as the labels) of
    the enhanced image vs its pristine reference. model=None scores the distorted images themselves."""
    distorted, pristine = check_images(distorted), check_images(pristine)
    out = distorted if model is None else model(distorted)
    scorer = fr_scorer or FRScorer()
    fr = scorer.pairs(out, pristine)
    medians = [defended.median(y, n, seed=seed + i) for i, y in enumerate(out)]
    return pd.DataFrame(
        {
            "base_score": defended.metric(out).float().cpu().numpy(),
            "defended_score": medians,
            "psnr": psnr(out, pristine).cpu().numpy(),
            **fr,
            "pseudo_mos": pseudo_mos(fr),
        }
    )


def compare_objectives(
    defended: DefendedMetric,
    train_images: torch.Tensor,
    test_distorted: torch.Tensor,
    test_pristine: torch.Tensor,
    *,
    draws: int = 4,
    steps: int = 100,
    n: int = 100,
    seed: int = 0,
    progress: bool = True,
    **train_kwargs,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Train one network per objective with the same seed, data and steps; evaluate each and the identity
    (no enhancement) on the test pairs. Returns one row per objective (means over test images, the change
    of each score vs the identity, seconds per step) and the training histories."""
    kw = dict(n=n, seed=seed, fr_scorer=FRScorer())
    rows = {"identity": evaluate_enhancer(None, defended, test_distorted, test_pristine, **kw).mean()}
    histories, cost = {}, {"identity": 0.0}
    for objective in OBJECTIVES:
        model, histories[objective] = train_enhancer(
            defended,
            train_images,
            objective=objective,
            draws=draws,
            steps=steps,
            seed=seed,
            progress=progress,
            **train_kwargs,
        )
        rows[objective] = evaluate_enhancer(model, defended, test_distorted, test_pristine, **kw).mean()
        cost[objective] = float(np.median(histories[objective]["seconds"]))
    table = pd.DataFrame(rows).T
    table = table.join((table - table.loc["identity"]).add_prefix("change_"))
    table["seconds_per_step"] = pd.Series(cost)
    table.index.name = "objective"
    return table, histories
