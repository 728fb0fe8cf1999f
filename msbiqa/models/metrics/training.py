"""Train a base metric (TinyIQA or ResIQA) on a dataset's train split; pick the epoch on val; report val and
test correlations.

Plain supervised regression on clean images (MSE on MOS / 100, optionally plus a within-batch PLCC
term), horizontal flips (and optional random crops), AdamW with a cosine learning-rate schedule.
Seeded and deterministic on CPU: the same arguments, thread count and torch build give a bit-identical
weights file.

With `noise_sigma` > 0 the metric is trained for median smoothing at that sigma, as Cohen et al. train the base
classifier of randomized smoothing: every training image gets Gaussian noise (clamped to [0, 1]) and keeps its
clean image's MOS, and the epoch is chosen by the smoothed score's validation SROCC (the median of 4 noisy
draws per image, the fair test's per-epoch proxy in `msbiqa.models.validation`).
"""

from __future__ import annotations

import contextlib
import copy
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from msbiqa.models.metrics.learned import LearnedMetric, save_checkpoint
from msbiqa.models.metrics.resiqa import ResIQA, ResIQANet
from msbiqa.models.metrics.tinyiqa import TinyIQA, TinyIQANet
from msbiqa.models.validation import ProxySet
from msbiqa.settings import setting


def stack_split(ds) -> tuple[torch.Tensor, torch.Tensor]:
    """All images of `ds` as one NxCxHxW tensor (centre-cropped to the smallest H and W) and their MOS."""
    images = [ds[i][0] for i in range(len(ds))]
    h = min(im.shape[-2] for im in images)
    w = min(im.shape[-1] for im in images)
    crops = [im[:, (im.shape[-2] - h) // 2 :][:, :h, (im.shape[-1] - w) // 2 :][:, :, :w] for im in images]
    return torch.stack(crops), torch.tensor(np.asarray(ds.mos, dtype=np.float32))


@torch.inference_mode()
def predict(net: torch.nn.Module, images: torch.Tensor, batch_size: int = 128) -> np.ndarray:
    """Scores of a stacked split, in order."""
    was_training = net.training
    net.eval()
    out = torch.cat([net(images[i : i + batch_size]) for i in range(0, len(images), batch_size)])
    net.train(was_training)
    return out.double().numpy()


@contextlib.contextmanager
def deterministic(threads: int):
    """Deterministic kernels and a fixed CPU thread count (float sums depend on it), restored afterwards."""
    saved = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(saved[0])
        torch.use_deterministic_algorithms(saved[1])


ARCHS = {"tinyiqa": (TinyIQANet, TinyIQA), "resiqa": (ResIQANet, ResIQA)}  # network and metric of each


@dataclass
class MetricTrainConfig:
    """The recipe of a base-metric training run; the defaults reproduce the shipped TinyIQA weights file."""

    arch: str = setting("tinyiqa", "network to train", choices=tuple(ARCHS))
    epochs: int = setting(30, "epochs")
    lr: float = setting(3e-3, "peak learning rate (cosine decay)")
    batch_size: int = setting(32, "images per batch")
    weight_decay: float = setting(1e-4, "AdamW weight decay")
    widths: list[int] | None = setting(
        None, "channels of the conv stages (default: the network's, tinyiqa 16 32 32 64, resiqa 16 32 48 64)"
    )
    hidden: int | None = setting(None, "width of the score head (default: the network's, 64)")
    crop: int | None = setting(None, "random training crops of this side (default: whole images)")
    plcc_weight: float = setting(0.0, "weight of the within-batch PLCC loss term")
    noise_sigma: float = setting(
        0.0, "train on noisy copies clamp01(x + N(0, sigma^2)) and select by the smoothed val SROCC (0: clean)"
    )
    seed: int = setting(0, "seed of init, order and augmentation")
    threads: int = setting(1, "CPU threads (bit-identical results need the same count)")


def train_base_metric(
    train_ds,
    val_ds,
    config: MetricTrainConfig | None = None,
    *,
    test_ds=None,
    dataset: str = "",
    recipe: dict | None = None,
    out_path=None,
    progress: bool = True,
) -> tuple[LearnedMetric, dict]:
    """Train the network `config.arch` as `config` says; return the val-selected metric and its record (also saved to
    `out_path` if given).

    The record holds the arguments, the dataset name and `recipe` (how it was built), the selected epoch and the
    SROCC/PLCC/KROCC on val (and test if given); it goes into the weights file. Wall time is returned in
    the record's "runtime_s" but not saved, so that the file stays reproducible.
    """
    from msbiqa.statistics.correlations import correlations

    c = config or MetricTrainConfig()
    if not c.noise_sigma >= 0:
        raise ValueError(f"noise_sigma must be >= 0 (0 trains on clean images), got {c.noise_sigma}")
    epochs, lr, batch_size, weight_decay, crop, seed = c.epochs, c.lr, c.batch_size, c.weight_decay, c.crop, c.seed
    plcc_weight, threads = c.plcc_weight, c.threads
    if c.arch not in ARCHS:
        raise ValueError(f"unknown network {c.arch!r}; choose one of {', '.join(ARCHS)}")
    net_class, metric_class = ARCHS[c.arch]
    sizes = {k: v for k, v in (("widths", c.widths), ("hidden", c.hidden)) if v is not None}
    start = time.perf_counter()
    with deterministic(threads):
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        x_train, y_train = stack_split(train_ds)
        x_val, y_val = stack_split(val_ds)
        net = net_class(**sizes)
        optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
        steps_per_epoch = -(-len(x_train) // batch_size)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)
        proxy = ProxySet.from_dataset(val_ds) if c.noise_sigma else None
        best = (-np.inf, 0, None)
        history = []
        bar = tqdm(range(1, epochs + 1), desc=f"train {net.spec.title}", unit="epoch", disable=not progress)
        for epoch in bar:
            net.train()
            order = torch.randperm(len(x_train), generator=generator)
            total = 0.0
            for i in range(0, len(order), batch_size):
                idx = order[i : i + batch_size]
                batch = augment(x_train[idx], crop, generator)
                if c.noise_sigma:
                    batch = (batch + c.noise_sigma * torch.randn(batch.shape, generator=generator)).clamp(0.0, 1.0)
                loss = batch_loss(net(batch), y_train[idx], plcc_weight)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                total += loss.item() * len(idx)
            val_srocc = selection_srocc(net, x_val, y_val, proxy, c.noise_sigma)
            train_mse = round(total / len(x_train), 6)
            history.append({"epoch": epoch, "train_mse": train_mse, "val_srocc": round(val_srocc, 4)})
            if val_srocc > best[0]:
                best = (val_srocc, epoch, copy.deepcopy(net.state_dict()))
            bar.set_postfix(mse=f"{total / len(x_train):.4f}", val_srocc=f"{val_srocc:.3f}", best=best[1])
        if best[2] is None:
            raise ValueError(
                f"no epoch of {epochs} had a defined validation SROCC (NaN scores: the training diverged); lower --lr "
                f"(was {lr:g}) or check the validation split's MOS"
            )
        net.load_state_dict(best[2])
        net.eval()
        record = {
            "dataset": dataset or getattr(train_ds, "title", ""),
            "recipe": recipe,
            "n_train": len(x_train),
            "n_val": len(x_val),
            "image_size": list(x_train.shape[-2:]),
            "epochs": epochs,
            "lr": lr,
            "batch_size": batch_size,
            "weight_decay": weight_decay,
            **({"arch": c.arch} if c.arch != "tinyiqa" else {}),  # absent: the shipped TinyIQA file stays the same
            **net.arch,
            "crop": crop,
            "plcc_weight": plcc_weight,
            "seed": seed,
            "threads": threads,
            "torch": torch.__version__.split("+")[0],
            **({"noise_sigma": c.noise_sigma} if c.noise_sigma else {}),  # absent: the shipped file stays the same
            "best_epoch": best[1],
            "val": _rounded(correlations(predict(net, x_val), y_val.numpy())),
            "history": history,
        }
        if test_ds is not None:
            x_test, y_test = stack_split(test_ds)
            record["n_test"] = len(x_test)
            record["test"] = _rounded(correlations(predict(net, x_test), y_test.numpy()))
    if out_path is not None:
        save_checkpoint(net, record, out_path)
    record["runtime_s"] = round(time.perf_counter() - start, 1)
    return metric_class(net, record), record


def selection_srocc(net, x_val: torch.Tensor, y_val: torch.Tensor, proxy, noise_sigma: float) -> float:
    """The validation SROCC an epoch is chosen by: of the clean scores, or with `noise_sigma` of the median of
    TRAIN_DRAWS noisy scores per image of the val `proxy` set (the same draws every epoch)."""
    from msbiqa.models.validation import TRAIN_DRAWS, proxy_scores
    from msbiqa.statistics.correlations import correlations

    if not noise_sigma:
        return float(correlations(predict(net, x_val), y_val.numpy())["srocc"])
    was_training = net.training
    net.eval()
    scores = proxy_scores(None, net, proxy, sigma=noise_sigma, draws=TRAIN_DRAWS)
    net.train(was_training)
    return float(scores.srocc(proxy.mos))


def augment(x: torch.Tensor, crop: int | None, generator: torch.Generator) -> torch.Tensor:
    """Per-image random crop (crop x crop; None keeps the full image) and random horizontal flip."""
    n, _, h, w = x.shape
    ch, cw = (h, w) if crop is None else (min(crop, h), min(crop, w))
    top = torch.randint(0, h - ch + 1, (n,), generator=generator).tolist()
    left = torch.randint(0, w - cw + 1, (n,), generator=generator).tolist()
    flip = (torch.rand(n, generator=generator) < 0.5).tolist()
    out = [x[i, :, y : y + ch, z : z + cw] for i, (y, z) in enumerate(zip(top, left))]
    return torch.stack([o.flip(-1) if f else o for o, f in zip(out, flip)])


def batch_loss(pred: torch.Tensor, mos: torch.Tensor, plcc_weight: float) -> torch.Tensor:
    """MSE on the 0..1 scale, plus `plcc_weight` * (1 - PLCC) / 2 within the batch (a scale-free ranking term)."""
    loss = F.mse_loss(pred / 100.0, mos / 100.0)
    if plcc_weight:
        p, m = pred - pred.mean(), mos - mos.mean()
        plcc = (p * m).sum() / (p.norm() * m.norm() + 1e-8)
        loss = loss + plcc_weight * (1.0 - plcc) / 2.0
    return loss


def _rounded(corr: dict) -> dict:
    return {k: round(float(v), 4) for k, v in corr.items()}
