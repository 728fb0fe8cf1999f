"""White-box attacks on NR-IQA scores inside an l2 (or l_inf) ball: PGD / I-FGSM on the base metric and
EOT-PGD on the defended (smoothed) metric.

The defended score is a median over noise draws; for fixed draws its gradient is that of the one sample
sitting at the median (1 of k draws: sparse and high-variance). EOT-PGD therefore ascends the standard
differentiable surrogate: the mean of f(x + xi_j) over k fresh noise draws per step (expectation over
transformation, Athalye et al. 2018; Salman et al. 2019 attack smoothed classifiers the same way), with
f = metric o denoiser o clamp01 computed by the sampler's own forward pass, so the attacked function is
exactly the certified one.

Every step is projected back onto the ball and onto [0, 1]: projecting delta first and then clamping
x + delta only shrinks each coordinate of delta (x is in [0, 1]), so both constraints hold together.

`certificate_check` attacks the defended metric inside the certified l2 ball and re-estimates the smoothed
median at x + delta with fresh noise. The re-estimate is itself random, so a violation is *confirmed*
only when a distribution-free confidence interval of the true median (level beta per side) lies outside
[lower, upper]; see `summarize_check` for the rate this allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from msbiqa.certify import certificate_from_scores, certify, order_statistic_ranks
from msbiqa.sampler import ScoreFn, _forward, resolve_seed, sample_scores
from msbiqa.validate import check_alpha, check_eps, check_image, check_n, check_sigma

Objective = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
NORMS = ("l2", "linf")
DIRECTIONS = {"up": 1.0, "down": -1.0}


@dataclass
class AttackResult:
    """Perturbed images (Bx3xHxW, in [0, 1], inside the ball), the objective at x and at the returned
    images (for EOT: the k-draw mean, a noisy surrogate of the defended score), and ||delta|| per image."""

    images: torch.Tensor
    clean_scores: torch.Tensor
    scores: torch.Tensor
    norms: torch.Tensor
    norm: str
    eps: float
    direction: str
    seed: int


def check_images(images: torch.Tensor) -> torch.Tensor:
    """A batch Bx3xHxW in [0, 1] (a single 3xHxW image becomes a batch of one); each image checked."""
    if isinstance(images, torch.Tensor) and images.dim() == 4:
        for image in images:
            check_image(image)
        return images
    return check_image(images)


MODE_DEPENDENT = (nn.modules.batchnorm._NormBase, nn.modules.dropout._DropoutNd)


def check_eval(*modules) -> None:
    """Attacks need deterministic networks: batch-norm or dropout layers in training mode are refused."""
    for module in modules:
        if isinstance(module, nn.Module):
            for layer in module.modules():
                if isinstance(layer, MODE_DEPENDENT) and layer.training:
                    raise ValueError(f"{type(module).__name__} has a {type(layer).__name__} layer in training "
                                     "mode; call .eval() on it first")


def lp_norm(delta: torch.Tensor, norm: str) -> torch.Tensor:
    """Per-image l2 or l_inf norm of a Bx... tensor."""
    flat = delta.flatten(1)
    return flat.norm(dim=1) if norm == "l2" else flat.abs().amax(dim=1)


def project(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Project each perturbation onto the l2 or l_inf ball of radius eps."""
    if norm == "linf":
        return delta.clamp(-eps, eps)
    scale = (eps / lp_norm(delta, "l2").clamp_min(1e-12)).clamp(max=1.0)
    return delta * scale.view(-1, *([1] * (delta.dim() - 1)))


def _step(grad: torch.Tensor, norm: str) -> torch.Tensor:
    """Steepest-ascent direction of unit norm: grad / ||grad||_2 for l2, sign(grad) for l_inf."""
    if norm == "linf":
        return grad.sign()
    return grad / lp_norm(grad, "l2").clamp_min(1e-12).view(-1, *([1] * (grad.dim() - 1)))


def pgd(
    objective: Objective,
    images: torch.Tensor,
    *,
    eps: float,
    steps: int = 20,
    step_size: float | None = None,
    norm: str = "l2",
    direction: str = "up",
    random_start: bool = False,
    keep_best: bool = True,
    seed: int | None = 0,
    progress: bool = False,
    desc: str = "PGD",
) -> AttackResult:
    """Projected gradient ascent of `direction` * objective over ||delta||_norm <= eps, x + delta in [0, 1].

    `objective(x, generator)` maps a batch to B differentiable scores. Without random start and with
    norm="linf" this is I-FGSM. keep_best returns, per image, the best iterate by the objective's own value
    (right for a deterministic objective; a noisy one would pick lucky draws), else the last iterate.
    step_size defaults to 2.5 * eps / steps (Madry et al. 2018).
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'up' (raise the score) or 'down' (lower it), got {direction!r}")
    x = check_images(images).detach()
    eps, steps = check_eps(eps), check_n(steps, name="steps")
    step_size = 2.5 * eps / steps if step_size is None else float(step_size)
    sign, seed = DIRECTIONS[direction], resolve_seed(seed)
    generator = torch.Generator(device=x.device).manual_seed(seed)

    delta = torch.zeros_like(x)
    if random_start and eps > 0:
        start = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        if norm == "linf":
            start = start.sign() * torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        delta = project(start * eps, eps, norm)
    adv = (x + delta).clamp(0.0, 1.0)

    with torch.no_grad():
        clean = objective(x, generator).detach()
    best, best_val = adv.clone(), torch.full_like(clean, -torch.inf)
    for _ in tqdm(range(steps), desc=desc, disable=not progress, leave=False):
        adv.requires_grad_(True)
        value = objective(adv, generator)
        if not value.requires_grad:
            raise ValueError("the score has no gradient w.r.t. the image: white-box attacks need a differentiable "
                             "metric (and denoiser); run them with gradients enabled")
        (grad,) = torch.autograd.grad(value.sum(), adv)
        if keep_best:
            best, best_val = _keep_best(best, best_val, adv.detach(), sign * value.detach())
        with torch.no_grad():
            delta = project(adv + step_size * _step(sign * grad, norm) - x, eps, norm)
            adv = (x + delta).clamp(0.0, 1.0)
    with torch.no_grad():
        final = sign * objective(adv, generator)
    best, best_val = _keep_best(best, best_val, adv, final) if keep_best else (adv, final)
    return AttackResult(
        images=best, clean_scores=clean, scores=sign * best_val, norms=lp_norm(best - x, norm),
        norm=norm, eps=eps, direction=direction, seed=seed,
    )


def _keep_best(best, best_val, candidate, value):
    """Per image, keep whichever of (best, candidate) has the larger signed objective."""
    better = value > best_val
    mask = better.view(-1, *([1] * (best.dim() - 1)))
    return torch.where(mask, candidate, best), torch.where(better, value, best_val)


def base_objective(metric: ScoreFn) -> Objective:
    """The undefended metric itself (the generator is unused: the objective is deterministic)."""
    return lambda x, generator: _forward(metric, x, None)


def eot_objective(
    metric: ScoreFn, *, sigma: float, samples: int = 8, denoiser: nn.Module | None = None
) -> Objective:
    """Differentiable surrogate of the defended score: mean of f(clamp01(x + xi_j)) over `samples` fresh
    draws xi_j ~ N(0, sigma^2 I) per call, f = metric o denoiser as in the sampler."""
    sigma, samples = check_sigma(sigma), check_n(samples, name="samples")

    def objective(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        b = x.shape[0]
        noise = torch.randn((b * samples, *x.shape[1:]), generator=generator, device=x.device, dtype=x.dtype)
        noisy = (x.repeat_interleave(samples, dim=0) + sigma * noise).clamp(0.0, 1.0)
        return _forward(metric, noisy, denoiser).view(b, samples).mean(dim=1)

    return objective


def attack_metric(metric: ScoreFn, images: torch.Tensor, *, eps: float, **kwargs) -> AttackResult:
    """PGD (or I-FGSM with norm="linf") on the undefended metric; kwargs as for `pgd`."""
    check_eval(metric)
    return pgd(base_objective(metric), images, eps=eps, desc="PGD (base)", **kwargs)


def attack_defended(
    metric: ScoreFn,
    images: torch.Tensor,
    *,
    eps: float,
    sigma: float,
    samples: int = 8,
    denoiser: nn.Module | None = None,
    **kwargs,
) -> AttackResult:
    """EOT-PGD on the defended metric: ascend the `samples`-draw mean of metric(denoiser(clamp01(x + xi))).
    Returns the last iterate; its score is a fresh `samples`-draw mean."""
    check_eval(metric, denoiser)
    objective = eot_objective(metric, sigma=sigma, samples=samples, denoiser=denoiser)
    return pgd(objective, images, eps=eps, keep_best=False, desc="EOT-PGD (defended)", **kwargs)


# --- certificate check: attack the defended metric inside the certified ball, then re-estimate -------------


def median_interval(scores: torch.Tensor, beta: float) -> tuple[float, float, float]:
    """(median, lo, hi) of `scores` with [lo, hi] a distribution-free confidence interval of the true median,
    each side failing with probability <= beta: the certifier's order-statistic bounds at eps = 0 (p = 1/2)."""
    interval = certificate_from_scores(scores, sigma=1.0, eps=0.0, alpha=beta)
    return interval.median, interval.lower, interval.upper


def violations(lower, upper, adv_median, adv_lo, adv_hi) -> tuple[np.ndarray, np.ndarray]:
    """Boolean arrays (point, confirmed): the re-estimated median at x + delta lies outside [lower, upper]
    (point), or its whole confidence interval [adv_lo, adv_hi] does (confirmed)."""
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    adv_median, adv_lo, adv_hi = (np.asarray(a, float) for a in (adv_median, adv_lo, adv_hi))
    point = (adv_median > upper) | (adv_median < lower)
    confirmed = (adv_lo > upper) | (adv_hi < lower)
    return point, confirmed


def summarize_check(table: pd.DataFrame, *, alpha: float, beta: float) -> dict:
    """Violation counts and rates next to what alpha allows, and the undefended vs defended score moves.

    A confirmed violation needs a failed certificate bound (probability <= alpha per side) or a failed
    median interval (<= beta per side), so each row leaves [lower, upper] with probability <= 2 (alpha + beta)
    and the expected count is <= rows * 2 (alpha + beta) whatever the dependence between rows; Markov's
    inequality turns that into p_value_bound = P[count >= observed] for a correct certificate. Point
    violations have no such bound: when an attack drives the true median close to a bound, the noisy
    re-estimate crosses it often, so they are reported but not tested.
    """
    rows = len(table)
    confirmed, point = int(table["confirmed_violation"].sum()), int(table["point_violation"].sum())
    allowed = 2.0 * (alpha + beta)
    base, defended = table["base_change"].abs(), table["defended_change"].abs()
    return {
        "images": int(table["image"].nunique()), "rows": rows, "alpha": alpha, "beta": beta,
        "confirmed_violations": confirmed, "confirmed_rate": confirmed / rows,
        "allowed_rate": allowed, "expected_count_max": rows * allowed,
        "p_value_bound": min(1.0, rows * allowed / confirmed) if confirmed else 1.0,
        "exceeds_allowed": bool(confirmed > 0 and rows * allowed / confirmed < 0.05),
        "point_violations": point, "point_rate": point / rows,
        "mean_abs_base_change": float(base.mean()), "max_abs_base_change": float(base.max()),
        "mean_abs_defended_change": float(defended.mean()), "max_abs_defended_change": float(defended.max()),
        "mean_delta": float(table["delta"].mean()),
        "base_change_exceeds_delta_rate": float((base > table["delta"]).mean()),
    }


def certificate_check(
    metric: ScoreFn,
    images,
    *,
    sigma: float,
    eps: float,
    n: int = 1000,
    alpha: float = 0.001,
    beta: float | None = None,
    attack_eps: float | None = None,
    denoiser: nn.Module | None = None,
    steps: int = 20,
    eot_samples: int = 8,
    step_size: float | None = None,
    names: list[str] | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> tuple[pd.DataFrame, dict]:
    """For each image: certify at x; EOT-PGD (l2, eps) on the defended metric up and down; re-estimate the
    defended median at x + delta with n fresh draws (new seed) and check it against [lower, upper]; run the
    same PGD on the undefended metric for contrast. One row per image and direction, and a summary.

    beta: per-side failure probability of the re-estimated median's confidence interval (default alpha).
    attack_eps: the attacks' radius (default eps); a larger one shows that the check does find violations.
    Changes are (score at x + delta) - (score at x); defended ones use the certificate's median at x.
    """
    sigma, eps, alpha = check_sigma(sigma), check_eps(eps), check_alpha(alpha)
    beta = alpha if beta is None else check_alpha(beta)
    attack_eps = eps if attack_eps is None else check_eps(attack_eps)
    order_statistic_ranks(check_n(n), sigma, eps, alpha)  # fail before any work when n is too small
    check_eval(metric, denoiser)
    common = dict(sigma=sigma, n=n, batch_size=batch_size, denoiser=denoiser)
    rows = []
    for i, image in enumerate(tqdm(images, desc="certificate check", unit="image", disable=not progress)):
        x = check_image(image).to(device or image.device)
        s = [int(v) for v in np.random.SeedSequence([seed, i]).generate_state(7)]
        cert = certify(metric, x, eps=eps, alpha=alpha, seed=s[0], **common)
        for d, direction in enumerate(("up", "down")):
            pgd_args = dict(eps=attack_eps, steps=steps, step_size=step_size, norm="l2", direction=direction)
            base = attack_metric(metric, x, seed=s[1 + d], **pgd_args)
            eot = attack_defended(metric, x, sigma=sigma, samples=eot_samples, denoiser=denoiser,
                                  seed=s[3 + d], **pgd_args)
            fresh = sample_scores(metric, eot.images[0], seed=s[5 + d], desc="re-estimate", **common)
            adv_median, adv_lo, adv_hi = median_interval(fresh, beta)
            rows.append({
                "image": names[i] if names else i, "direction": direction,
                "base_clean": float(base.clean_scores[0]), "base_adv": float(base.scores[0]),
                "base_change": float(base.scores[0] - base.clean_scores[0]), "base_norm": float(base.norms[0]),
                "median": cert.median, "lower": cert.lower, "upper": cert.upper,
                "delta": cert.delta, "width": cert.width,
                "adv_median": adv_median, "adv_median_lo": adv_lo, "adv_median_hi": adv_hi,
                "defended_change": adv_median - cert.median, "eot_norm": float(eot.norms[0]),
                "eot_clean": float(eot.clean_scores[0]), "eot_adv": float(eot.scores[0]),
            })
    table = pd.DataFrame(rows)
    point, confirmed = violations(table["lower"], table["upper"], table["adv_median"],
                                  table["adv_median_lo"], table["adv_median_hi"])
    table["point_violation"], table["confirmed_violation"] = point, confirmed
    summary = summarize_check(table, alpha=alpha, beta=beta)
    summary.update(eps=eps, attack_eps=attack_eps, sigma=sigma, n=n, steps=steps, eot_samples=eot_samples,
                   denoiser=type(denoiser).__name__ if denoiser is not None else None)
    return table, summary
