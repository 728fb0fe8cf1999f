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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from msbiqa.smoothing.defended import DefendedMetric
from msbiqa.smoothing.sampler import ScoreFn, resolve_seed, score_batch
from msbiqa.smoothing.validate import check_count, check_eps, check_image, check_n

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
                    raise ValueError(
                        f"{type(module).__name__} has a {type(layer).__name__} layer in training "
                        "mode; call .eval() on it first"
                    )


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
    eps, steps = check_eps(eps), check_count(steps, name="steps")
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
            raise ValueError(
                "the score has no gradient w.r.t. the image: white-box attacks need a differentiable "
                "metric (and denoiser); run them with gradients enabled"
            )
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
        images=best,
        clean_scores=clean,
        scores=sign * best_val,
        norms=lp_norm(best - x, norm),
        norm=norm,
        eps=eps,
        direction=direction,
        seed=seed,
    )


def _keep_best(best, best_val, candidate, value):
    """Per image, keep whichever of (best, candidate) has the larger signed objective."""
    better = value > best_val
    mask = better.view(-1, *([1] * (best.dim() - 1)))
    return torch.where(mask, candidate, best), torch.where(better, value, best_val)


def base_objective(metric: ScoreFn) -> Objective:
    """The undefended metric itself (the generator is unused: the objective is deterministic)."""
    return lambda x, generator: score_batch(metric, x)


def eot_objective(defended: DefendedMetric, samples: int = 8) -> Objective:
    """Differentiable surrogate of the defended score: mean of f(clamp01(x + xi_j)) over `samples` fresh
    draws xi_j ~ N(0, sigma^2 I) per call, f = metric o denoiser as in the sampler."""
    samples = check_n(samples, name="samples")

    def objective(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return defended(x.repeat_interleave(samples, dim=0), generator).view(x.shape[0], samples).mean(dim=1)

    return objective


def attack_metric(metric: ScoreFn, images: torch.Tensor, *, eps: float, **kwargs) -> AttackResult:
    """PGD (or I-FGSM with norm="linf") on the undefended metric; kwargs as for `pgd`."""
    check_eval(metric)
    return pgd(base_objective(metric), images, eps=eps, desc="PGD (base)", **kwargs)


def attack_defended(
    defended: DefendedMetric, images: torch.Tensor, *, eps: float, samples: int = 8, **kwargs
) -> AttackResult:
    """EOT-PGD on the defended metric: ascend the `samples`-draw mean of metric(denoiser(clamp01(x + xi))).
    Returns the last iterate; its score is a fresh `samples`-draw mean."""
    check_eval(defended.metric, defended.denoiser)
    return pgd(eot_objective(defended, samples), images, eps=eps, keep_best=False, desc="EOT-PGD (defended)", **kwargs)
