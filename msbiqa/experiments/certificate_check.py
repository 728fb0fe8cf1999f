"""Does the certificate hold under attack? For each image: certify the defended score at x, attack the defended
metric inside the certified l2 ball (EOT-PGD, up and down), and re-estimate the smoothed median at x + delta
with fresh noise. The re-estimate is itself random, so a violation is *confirmed* only when a distribution-free
confidence interval of the true median (level beta per side) lies outside [lower, upper]; see
`summarize_check` for the rate this allows. PGD on the undefended metric runs alongside, for contrast.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from msbiqa.experiments.attacks import attack_defended, attack_metric, check_eval
from msbiqa.experiments.resumable import ResultsFile
from msbiqa.fingerprint import weights_digest
from msbiqa.smoothing.certify import certificate_from_scores, order_statistic_ranks
from msbiqa.smoothing.defended import DefendedMetric
from msbiqa.smoothing.validate import check_alpha, check_eps, check_image, check_n


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
        "images": int(table["image"].nunique()),
        "rows": rows,
        "alpha": alpha,
        "beta": beta,
        "confirmed_violations": confirmed,
        "confirmed_rate": confirmed / rows,
        "allowed_rate": allowed,
        "expected_count_max": rows * allowed,
        "p_value_bound": min(1.0, rows * allowed / confirmed) if confirmed else 1.0,
        "exceeds_allowed": bool(confirmed > 0 and rows * allowed / confirmed < 0.05),
        "point_violations": point,
        "point_rate": point / rows,
        "mean_abs_base_change": float(base.mean()),
        "max_abs_base_change": float(base.max()),
        "mean_abs_defended_change": float(defended.mean()),
        "max_abs_defended_change": float(defended.max()),
        "mean_delta": float(table["delta"].mean()),
        "base_change_exceeds_delta_rate": float((base > table["delta"]).mean()),
    }


def certificate_check(
    defended: DefendedMetric,
    images,
    *,
    eps: float,
    n: int = 1000,
    alpha: float = 0.001,
    beta: float | None = None,
    attack_eps: float | None = None,
    steps: int = 20,
    eot_samples: int = 8,
    step_size: float | None = None,
    names: list[str] | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    out_csv: str | Path | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> tuple[pd.DataFrame, dict]:
    """For each image: certify at x; EOT-PGD (l2, eps) on the defended metric up and down; re-estimate the
    defended median at x + delta with n fresh draws (new seed) and check it against [lower, upper]; run the
    same PGD on the undefended metric for contrast. One row per image and direction, and a summary.

    beta: per-side failure probability of the re-estimated median's confidence interval (default alpha).
    attack_eps: the attacks' radius (default eps); a larger one shows that the check does find violations.
    Changes are (score at x + delta) - (score at x); defended ones use the certificate's median at x.
    `out_csv` keeps the rows as they are computed (checked writable before any work), so a killed run resumes
    with the images it had not finished.
    """
    eps, alpha = check_eps(eps), check_alpha(alpha)
    beta = alpha if beta is None else check_alpha(beta, name="beta")
    attack_eps = eps if attack_eps is None else check_eps(attack_eps)
    order_statistic_ranks(check_n(n), defended.sigma, eps, alpha)  # fail before any work when n is too small
    check_eval(defended.metric, defended.denoiser)
    names = [str(name) for name in names] if names else [str(i) for i in range(len(images))]
    constants = {
        "metric": defended.name,
        "metric_digest": weights_digest(defended.metric),
        "denoiser": defended.denoiser_name,
        "denoiser_digest": weights_digest(defended.denoiser),
        "sigma": defended.sigma,
        "eps": eps,
        "n": n,
        "alpha": alpha,
        "beta": beta,
        "attack_eps": attack_eps,
        "steps": steps,
        "eot_samples": eot_samples,
        "step_size": step_size,
        "seed": seed,
    }
    settings = {**constants, "batch_size": batch_size}
    with ResultsFile(out_csv, ["image", "direction"], constants) as results:
        for i, image in enumerate(tqdm(images, desc="certificate check", unit="image", disable=not progress)):
            if not (results.is_done([names[i], "up"]) and results.is_done([names[i], "down"])):
                for row in _check_one(defended, image, i, names[i], settings, device):
                    if not results.is_done([names[i], row["direction"]]):
                        results.append(row)
        table = results.table(dtype={"image": str})
    table = table[table["image"].isin(names)].reset_index(drop=True)
    point, confirmed = violations(
        table["lower"], table["upper"], table["adv_median"], table["adv_median_lo"], table["adv_median_hi"]
    )
    table["point_violation"], table["confirmed_violation"] = point, confirmed
    summary = summarize_check(table, alpha=alpha, beta=beta)
    summary.update(
        eps=eps,
        attack_eps=attack_eps,
        sigma=defended.sigma,
        n=n,
        steps=steps,
        eot_samples=eot_samples,
        denoiser=defended.denoiser_name if defended.denoiser is not None else None,
    )
    return table, summary


def _check_one(defended: DefendedMetric, image, i: int, name: str, settings: dict, device) -> list[dict]:
    """The two rows (up, down) of image number i: certificate at x, PGD and EOT-PGD, re-estimate at x + delta."""
    eps, n, alpha, beta, batch_size = (settings[k] for k in ("eps", "n", "alpha", "beta", "batch_size"))
    attack_eps, steps, step_size = settings["attack_eps"], settings["steps"], settings["step_size"]
    rows = []
    x = check_image(image).to(device or image.device)
    s = [int(v) for v in np.random.SeedSequence([settings["seed"], i]).generate_state(7)]
    cert = defended.certify(x, eps, n=n, alpha=alpha, seed=s[0], batch_size=batch_size)
    for d, direction in enumerate(("up", "down")):
        pgd_args = dict(eps=attack_eps, steps=steps, step_size=step_size, norm="l2", direction=direction)
        base = attack_metric(defended.metric, x, seed=s[1 + d], **pgd_args)
        eot = attack_defended(defended, x, samples=settings["eot_samples"], seed=s[3 + d], **pgd_args)
        fresh = defended.sample(eot.images[0], n, seed=s[5 + d], batch_size=batch_size, desc="re-estimate")
        adv_median, adv_lo, adv_hi = median_interval(fresh, beta)
        rows.append(
            {
                "image": name,
                "direction": direction,
                "base_clean": float(base.clean_scores[0]),
                "base_adv": float(base.scores[0]),
                "base_change": float(base.scores[0] - base.clean_scores[0]),
                "base_norm": float(base.norms[0]),
                "median": cert.median,
                "lower": cert.lower,
                "upper": cert.upper,
                "delta": cert.delta,
                "width": cert.width,
                "adv_median": adv_median,
                "adv_median_lo": adv_lo,
                "adv_median_hi": adv_hi,
                "defended_change": adv_median - cert.median,
                "eot_norm": float(eot.norms[0]),
                "eot_clean": float(eot.clean_scores[0]),
                "eot_adv": float(eot.scores[0]),
            }
        )
    return rows
