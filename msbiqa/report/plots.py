"""Figure helpers for the notebooks: save a figure, show images, draw a score histogram with its certificate, plot
estimates with their bootstrap intervals, draw training curves."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from msbiqa.files import write_atomic


def save_figure(fig, out: str | Path, name: str, dpi: int = 120) -> Path:
    """Write `out/name.png` and return its path (the figure stays open for display)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return write_atomic(out / f"{name}.png", buffer.getvalue())


def show_images(images, titles=None, ncols: int | None = None, size: float = 2.0):
    """A grid of 3xHxW tensors in [0, 1]; returns the figure."""
    images = list(images)
    ncols = ncols or len(images)
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, img) in enumerate(zip(axes.flat, images)):
        ax.imshow(torch.as_tensor(img).detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy())
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    fig.tight_layout()
    return fig


def score_limits(*values, pad: float = 0.04) -> tuple[float, float]:
    """(low, high) covering every finite value given (arrays, tensors or numbers), widened by `pad` of the span
    on each side: one score axis for several histograms, so that their widths compare."""
    flat = np.concatenate([np.asarray(torch.as_tensor(v).cpu(), dtype=float).reshape(-1) for v in values])
    flat = flat[np.isfinite(flat)]
    lo, hi = float(flat.min()), float(flat.max())
    margin = pad * (hi - lo) or 0.5
    return lo - margin, hi + margin


def plot_certificate(ax, scores, cert, title: str | None = None, *, base=None, xlim=None, bins: int = 40, legend=True):
    """Histogram of the noisy scores with their median (the defended score), the certified interval shaded and,
    given `base`, the undefended score as a dashed line. `xlim` fixes the score axis and the bins, so histograms
    at different sigma compare; `cert` None draws no interval (nothing certified). The default title holds sigma,
    eps, n, the interval and delta."""
    scores = np.asarray(torch.as_tensor(scores).cpu(), dtype=float)
    ax.hist(scores, bins=np.linspace(*xlim, bins + 1) if xlim is not None else bins, color="0.7", edgecolor="white")
    if cert is not None:
        ax.axvspan(cert.lower, cert.upper, color="tab:green", alpha=0.25, label="certified interval at ε")
    ax.axvline(float(np.median(scores)), color="tab:red", lw=2, label="median = defended score")
    if base is not None:
        ax.axvline(float(base), color="k", ls="--", lw=1, label="undefended score")
    if title is None and cert is not None:
        title = (
            f"σ={cert.sigma:g}, ε={cert.eps:g}, n={cert.n}: [{cert.lower:.3g}, {cert.upper:.3g}], δ={cert.delta:.3g}"
        )
    ax.set_title(title or "", fontsize=9)
    ax.set(xlabel="score of a noisy sample", ylabel="noisy samples")
    if xlim is not None:
        ax.set_xlim(xlim)
    if legend:
        ax.legend(fontsize=8)
    return ax


def noisy_samples(defended, image: torch.Tensor, count: int, seed: int = 0):
    """`count` noisy copies clamp01(x + xi) of a 3xHxW image at the defended metric's sigma, and their denoised
    versions (None without a denoiser), on the CPU, for display."""
    noisy = defended.add_noise(image.expand(count, -1, -1, -1).cpu(), torch.Generator().manual_seed(seed))
    if defended.denoiser is None:
        return noisy, None
    device = next(defended.denoiser.parameters()).device
    with torch.inference_mode():
        return noisy, defended.denoiser(noisy.to(device)).clamp(0.0, 1.0).cpu()


def plot_intervals(ax, table, statistic: str, x: str, hue: str | None = None, label: str | None = None):
    """Point estimates of `statistic` per row of an interval table (`msbiqa.statistics.evidence`) with the 95 %
    image-bootstrap interval as a thick bar and the photo-bootstrap interval, where present, as a thin one.

    `x` is categorical (evenly spaced, in order of appearance) unless numeric; rows of one `hue` value share a
    colour and are dodged sideways so that their intervals do not overlap.
    """
    hues = list(dict.fromkeys(table[hue])) if hue else [None]
    numeric = np.issubdtype(np.asarray(table[x]).dtype, np.number)
    ticks = sorted(set(table[x])) if numeric else list(dict.fromkeys(table[x]))
    step = min(np.diff(ticks)) if numeric and len(ticks) > 1 else 1.0
    width = 0.6 * step / max(len(hues), 1)
    for k, value in enumerate(hues):
        rows = table if hue is None else table[table[hue] == value]
        base = np.array([t if numeric else ticks.index(t) for t in rows[x]], dtype=float)
        pos = base + (k - (len(hues) - 1) / 2) * width
        est = rows[statistic].to_numpy(float)
        image = np.abs(np.vstack([rows[f"{statistic}_lo"], rows[f"{statistic}_hi"]]).astype(float) - est)
        line = ax.errorbar(pos, est, yerr=image, fmt="o", capsize=3, lw=2, label=str(value) if hue else label)
        lo, hi = rows.get(f"{statistic}_photo_lo"), rows.get(f"{statistic}_photo_hi")
        if lo is not None and np.isfinite(lo.to_numpy(float)).any():
            photo = np.abs(np.vstack([lo, hi]).astype(float) - est)
            ax.errorbar(pos, est, yerr=photo, fmt="none", lw=0.8, capsize=6, color=line[0].get_color(), alpha=0.7)
    if not numeric:
        ax.set_xticks(range(len(ticks)), [str(t) for t in ticks])
    return ax


def plot_validation_curves(axes, histories: dict[str, list[dict]], chosen: dict[str, int | None]):
    """Per-epoch validation SROCC (first axes) and normalised spread (second) of each labelled training history
    (`val_srocc`, `val_spread` of each epoch), the kept epoch starred."""
    for label, history in histories.items():
        epochs = [h["epoch"] for h in history]
        for ax, column in zip(axes, ["val_srocc", "val_spread"]):
            values = [h[column] for h in history]
            (line,) = ax.plot(epochs, values, marker="o", label=label)
            if chosen.get(label) in epochs:
                k = epochs.index(chosen[label])
                ax.plot(epochs[k], values[k], marker="*", markersize=14, color=line.get_color(), linestyle="none")
    axes[0].set(ylabel="validation SROCC (vs MOS)")
    axes[1].set(ylabel="normalised spread (within / across SD)")
    epochs = sorted({h["epoch"] for history in histories.values() for h in history})
    for ax in axes:
        ax.set(xlabel="epoch", xticks=epochs)
    axes[0].legend(fontsize=8)
    return axes
