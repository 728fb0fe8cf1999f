"""The validation proxy of the fair test (docs/fair_test_rules.md, section 4): how well a denoiser defends a metric.

Every image of a split gets `draws` noisy copies clamp01(x + xi) drawn from a generator seeded with seed + the
image's index in the split, one draw at a time as the sampler draws them: every denoiser sees the same noise,
whatever the batching or the subset, and the first 4 of 32 draws are the 4 draws of per-epoch validation. Each
copy goes through the denoiser (output clamped to [0, 1]) and the base metric; the defended score of an image is
the median of its noisy scores. Reported: SROCC of the defended scores against MOS (sign-corrected for
lower-is-better metrics), the mean within-image SD of the noisy scores, the across-image SD of the defended
scores, their ratio (the normalised spread: scale-free, so compressing scores across images does not lower it)
and the PSNR of the denoised copies against the clean image.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from msbiqa.data.images import psnr
from msbiqa.data.subsets import spread
from msbiqa.smoothing.sampler import CPU_MAX_BATCH, fill_noisy, finite_scores, score_batch
from msbiqa.statistics.correlations import srocc
from msbiqa.statistics.uncertainty import Bootstrap, bootstrap

SEED = 20261206  # the rules' one fixed noise seed
TRAIN_DRAWS = 4  # per-epoch validation inside training
PROXY_DRAWS = 32  # the selection proxy
GPU_BATCH = 64  # noisy copies per forward pass on a GPU; on CPU the sampler's CPU_MAX_BATCH (16: 1.7x faster than 64)
TIE = 0.002  # best epoch: the earliest whose SROCC is within TIE of the highest


@dataclass
class ProxySet:
    """The validation images (3xHxW in [0, 1]), their MOS, their index in the split (seeds the noise) and the
    reference photo of each (for the cluster bootstrap; None when the dataset does not name it)."""

    images: list[torch.Tensor]
    mos: np.ndarray
    index: list[int]
    photos: list[str] | None = None

    @classmethod
    def from_dataset(cls, dataset, count: int | None = None) -> ProxySet:
        """`count` images spread over `dataset` (all when None); photos from the embedded set's `ref` column."""
        picks = spread(len(dataset), count)
        items = [dataset[i] for i in picks]
        table = getattr(dataset, "table", None)
        photos = [str(table["ref"].iloc[i]) for i in picks] if table is not None and "ref" in table else None
        return cls([item[0].float() for item in items], np.array([float(item[1]) for item in items]), picks, photos)


@dataclass
class ProxyScores:
    """Per image: the noisy scores (images x draws), and the mean PSNR of its denoised copies."""

    scores: np.ndarray
    psnr: np.ndarray
    higher_is_better: bool

    @property
    def defended(self) -> np.ndarray:
        """The defended score of each image: the median of its noisy scores."""
        return np.median(self.scores, axis=1)

    def srocc(self, mos: np.ndarray, idx: np.ndarray | None = None) -> float:
        """SROCC of the defended scores against MOS, positive when they agree whatever the metric's direction."""
        idx = np.arange(len(mos)) if idx is None else idx
        if len(idx) < 3:
            return float("nan")  # undefined: a split too small to rank (best_epoch never picks NaN)
        sign = 1.0 if self.higher_is_better else -1.0
        return sign * srocc(self.defended[idx], mos[idx])

    def summary(self, mos: np.ndarray) -> dict:
        """SROCC, within-image SD, across-image SD, normalised spread and PSNR (dB) over all images."""
        within = float(self.scores.std(axis=1, ddof=1).mean())
        across = float(self.defended.std(ddof=1)) if len(mos) > 1 else float("nan")
        return {
            "srocc": self.srocc(mos),
            "within_sd": within,
            "across_sd": across,
            "spread": within / across if across > 0 else float("inf"),
            "psnr": float(self.psnr.mean()),
        }


def noisy_copies(image: torch.Tensor, index: int, *, sigma: float, draws: int, seed: int = SEED) -> torch.Tensor:
    """`draws` copies clamp01(image + xi) of one 3xHxW image, noise from a generator seeded with seed + index."""
    generator = torch.Generator().manual_seed(seed + index)
    return fill_noisy(torch.empty((draws, *image.shape)), image, sigma, generator)


def _batches(proxy: ProxySet, sigma: float, draws: int, seed: int, size: int) -> Iterator[tuple[torch.Tensor, ...]]:
    """(noisy, clean) batches of at most `size` copies of images of one shape, in image and draw order."""
    noisy, clean = [], []
    for image, index in zip(proxy.images, proxy.index):
        for copy in noisy_copies(image, index, sigma=sigma, draws=draws, seed=seed):
            if noisy and (len(noisy) == size or noisy[0].shape != copy.shape):
                yield torch.stack(noisy), torch.stack(clean)
                noisy, clean = [], []
            noisy.append(copy)
            clean.append(image)
    if noisy:
        yield torch.stack(noisy), torch.stack(clean)


def proxy_scores(
    denoiser: nn.Module | None,
    metric: nn.Module,
    proxy: ProxySet,
    *,
    sigma: float,
    draws: int = PROXY_DRAWS,
    seed: int = SEED,
    batch_size: int | None = None,
    device: str | torch.device = "cpu",
) -> ProxyScores:
    """The noisy scores of every image through `denoiser` (None: plain median smoothing) and `metric`, both left
    in the mode they are in (callers put them in eval mode)."""
    scores, psnrs = [], []
    batch_size = batch_size or (CPU_MAX_BATCH if torch.device(device).type == "cpu" else GPU_BATCH)
    with torch.inference_mode():
        for noisy, clean in _batches(proxy, sigma, draws, seed, batch_size):
            noisy, clean = noisy.to(device), clean.to(device)
            denoised = noisy if denoiser is None else denoiser(noisy).float().clamp(0.0, 1.0)
            scores.append(score_batch(metric, denoised))
            psnrs.append(psnr(denoised, clean))
    shape = (len(proxy.images), draws)
    return ProxyScores(
        finite_scores(torch.cat(scores)).cpu().numpy().reshape(shape).astype(np.float64),
        torch.cat(psnrs).cpu().numpy().reshape(shape).mean(axis=1),
        bool(getattr(metric, "higher_is_better", True)),
    )


def best_epoch(history: list[dict], key: str = "val_srocc", tie: float = TIE) -> int:
    """The epoch the rules keep: the highest validation SROCC, the earliest among epochs within `tie` of it (an
    undefined SROCC never wins)."""
    values = np.array([h[key] for h in history], dtype=float)
    if np.isnan(values).all():
        return int(history[-1]["epoch"])
    best = np.nanmax(values)
    return int(history[int(np.flatnonzero(values >= best - tie)[0])]["epoch"])


def budget_check(history: list[dict], chosen: int | None, key: str = "val_srocc") -> dict:
    """Whether the budget was enough (docs/fair_test_rules.md, section 2): the kept epoch, the number of epochs,
    best_is_last (the kept epoch is the last: possibly under-trained), last3_range (max - min of `key` over the
    last three epochs: how flat the curve ended) and kept_KEY (`key` at the kept epoch). Empty for weights trained
    without validation."""
    last = int(history[-1]["epoch"]) if history else None
    validated = [h for h in history if key in h]
    if not validated:
        return {
            "chosen_epoch": chosen,
            "epochs": last,
            "best_is_last": None,
            "last3_range": np.nan,
            f"kept_{key}": np.nan,
        }
    kept = [h[key] for h in validated if h["epoch"] == chosen]
    return {
        "chosen_epoch": chosen,
        "epochs": last,
        "best_is_last": chosen == last,
        "last3_range": float(np.ptp([h[key] for h in validated[-3:]])),
        f"kept_{key}": float(kept[0]) if kept else np.nan,
    }


def evaluate(
    denoiser: nn.Module | None,
    metric: nn.Module,
    proxy: ProxySet,
    *,
    sigma: float,
    draws: int = PROXY_DRAWS,
    seed: int = SEED,
    config: Bootstrap | None = None,
    device: str | torch.device = "cpu",
) -> dict:
    """The selection proxy of a finished denoiser: `summary` numbers with 95 % bootstrap intervals of SROCC over
    images (srocc_lo/hi) and over reference photos (srocc_photo_lo/hi; NaN when photos are unknown or fewer
    than 2)."""
    result = proxy_scores(denoiser, metric, proxy, sigma=sigma, draws=draws, seed=seed, device=device)
    config = config or Bootstrap(seed=seed)
    row = {"images": len(proxy.images), "draws": draws, **result.summary(proxy.mos)}
    by_image = bootstrap(lambda idx: result.srocc(proxy.mos, idx), len(proxy.mos), config=config)
    row.update(srocc_lo=by_image.low, srocc_hi=by_image.high, srocc_photo_lo=np.nan, srocc_photo_hi=np.nan)
    if proxy.photos is not None and len(set(proxy.photos)) >= 2:
        by_photo = bootstrap(
            lambda idx: result.srocc(proxy.mos, idx), len(proxy.mos), clusters=proxy.photos, config=config
        )
        row.update(srocc_photo_lo=by_photo.low, srocc_photo_hi=by_photo.high)
    return row
