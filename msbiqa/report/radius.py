"""The radius visualisation: the certified interval of one set of noisy scores for every l2 radius eps, and the
figure notebook 00's sliders redraw around it (samples, histogram, radius), which also says why a value cannot
be certified."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from msbiqa.report.plots import plot_certificate
from msbiqa.smoothing.certify import certificate_from_scores
from msbiqa.smoothing.theory import delta_vs_eps, largest_eps


def radius_table(scores, sigma: float, alpha: float, eps_max: float, points: int = 81) -> pd.DataFrame:
    """Median and certified interval (rows of `delta_vs_eps`) on a grid of radii from 0 to eps_max, ending at
    the largest radius the n scores can certify when that is smaller."""
    grid = np.linspace(0.0, eps_max, points)
    limit = largest_eps(len(scores), sigma, alpha)
    if limit is not None and limit < eps_max:
        grid = np.append(grid[grid < limit], limit * (1 - 1e-9))  # just inside: the rank search is exact
    return delta_vs_eps(scores, sigma, grid, alpha)


def plot_radius(ax, scores, *, sigma: float, alpha: float, eps: float, eps_max: float, base=None):
    """The certified interval [lower, upper] (x, the score axis) for every radius (y) up to eps_max, the median,
    the undefended score `base`, the chosen eps, and the radii n samples cannot certify greyed out."""
    scores = np.asarray(torch.as_tensor(scores).cpu(), dtype=float)
    table = radius_table(scores, sigma, alpha, eps_max)
    if len(table):
        ax.fill_betweenx(table["eps"], table["lower"], table["upper"], color="tab:green", alpha=0.25, lw=0)
        ax.plot(table["lower"], table["eps"], color="tab:green", lw=1)
        ax.plot(table["upper"], table["eps"], color="tab:green", lw=1)
    limit, top = largest_eps(len(scores), sigma, alpha), 1.04 * eps_max  # top: the chosen eps_max stays visible
    if limit is None or limit < eps_max:
        ax.axhspan(limit or 0.0, top, color="0.85", label=f"ε that n={len(scores)} cannot certify at α={alpha:g}")
    ax.axvline(float(np.median(scores)), color="tab:red", lw=2)
    if base is not None:
        ax.axvline(float(base), color="k", ls="--", lw=1)
    ax.axhline(eps, color="tab:blue", lw=1.5, label=f"chosen ε={eps:g}")
    ax.set(ylim=(0, top), xlabel="score", ylabel="ε (l2 radius)")
    ax.set_title("certified interval for every radius ε", fontsize=9)
    return ax


def certificate_figure(
    scores,
    *,
    sigma: float,
    eps: float,
    alpha: float,
    base=None,
    images=(),
    title: str = "",
    xlim=None,
    eps_max: float = 0.2,
):
    """The sliders' figure for one defence at one sigma: up to two example images (`(image, caption)` pairs,
    e.g. a noisy and a denoised sample) on the left; on the right the histogram of the n `scores` with the median,
    the certified interval at eps and the undefended score, above the radius visualisation on the same score
    axis. Returns (figure, reason): reason is None when eps is certified, else the certifier's message (n too
    small for eps/sigma at alpha, and what to change), which the histogram shows in place of the interval."""
    try:
        cert, reason = certificate_from_scores(scores, sigma=sigma, eps=eps, alpha=alpha), None
    except ValueError as err:
        cert, reason = None, str(err)
    fig = plt.figure(figsize=(11.5, 6.2))
    grid = fig.add_gridspec(2, 2, width_ratios=(1, 2.7), hspace=0.4, wspace=0.12)
    for row, (image, caption) in enumerate(list(images)[:2]):
        ax = fig.add_subplot(grid[row, 0])
        ax.imshow(torch.as_tensor(image).detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy())
        ax.set_title(caption, fontsize=9)
        ax.axis("off")
    hist = fig.add_subplot(grid[0, 1])
    plot_certificate(hist, scores, cert, base=base, xlim=xlim, legend=False)
    if reason is not None:
        hist.set_title(f"σ={sigma:g}, ε={eps:g}, n={len(scores)}: not certified", fontsize=9, color="tab:red")
        hist.text(
            0.5,
            0.5,
            textwrap.fill(reason, 70),
            transform=hist.transAxes,
            ha="center",
            va="center",
            fontsize=8,
            color="tab:red",
            bbox={"facecolor": "white", "edgecolor": "tab:red", "alpha": 0.9},
        )
    radius = fig.add_subplot(grid[1, 1], sharex=hist)
    plot_radius(radius, scores, sigma=sigma, alpha=alpha, eps=eps, eps_max=eps_max, base=base)
    handles = [h for ax in (hist, radius) for h in ax.get_legend_handles_labels()[0]]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.suptitle(f"{title}: σ={sigma:g}, ε={eps:g}, n={len(scores)}, α={alpha:g}".lstrip(": "), fontsize=11)
    fig.subplots_adjust(left=0.02, right=0.98, top=0.9, bottom=0.14)
    return fig, reason
