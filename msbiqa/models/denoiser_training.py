"""Train denoisers for (denoised) median smoothing: DMS (DnCNN, MSE) and DMS-IQA (U-Net, MSE + rank + target).

Each step takes random crops of clean training images x (random horizontal flips), adds
xi ~ N(0, sigma^2), clamps (as the sampler does) and minimises the combined objective of
`msbiqa.models.losses` on D(clamp01(x + xi)). The base metric is frozen. All randomness (init, crops, flips,
noise, order) comes from the seed; a checkpoint after every epoch holds model, optimiser, schedule and
generator state, so an interrupted run resumes to the same weights as an uninterrupted one.
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from msbiqa.devices import default_device
from msbiqa.files import write_atomic
from msbiqa.fingerprint import weights_digest
from msbiqa.models.denoisers import KINDS, LIMITS, Denoiser, build_denoiser, load_weights, save_denoiser
from msbiqa.models.losses import DenoiserObjective, LossWeights
from msbiqa.models.metrics.base import load_tensors
from msbiqa.settings import setting


@dataclass
class TrainConfig:
    """Everything that determines a trained denoiser; stored in its weights file.

    The architecture, its hyper-parameters and the loss weights are the kind's (see `KINDS`), unless `depth`,
    `width` or a `w_*` weight is given; they are resolved into `arch`, `hparams` and `weights`.
    """

    kind: str = setting(
        "dms",
        "dms: DnCNN, MSE; dms-iqa: U-Net, MSE + rank + target; dncnn-full, unet-mse: the ablation's other two",
        choices=sorted(KINDS),
    )
    sigma: float = setting(0.12, "training noise std on [0, 1] images")
    metric: str | None = setting(None, "base metric of the rank/target losses (default: the project's)")
    metric_weights: str | None = setting(None, "weights file of the base metric (default: shipped)")
    dataset: str = setting("embedded", "dataset: embedded, koniq10k, spaq, clive, pyiqa")
    root: str | None = setting(
        None, "dataset folder (not needed for embedded); relative paths are to the current folder"
    )
    split: str = setting("train", "split: train, val, test, all")
    meta_info: str | None = setting(
        None, "pyiqa's meta-info CSV (image path relative to --root, MOS, ..., a split column); --dataset pyiqa only"
    )
    epochs: int = setting(10, "epochs")
    batch_size: int = setting(16, "crops per batch")
    crop: int = setting(48, "crop side in pixels; 0 = whole images (all of one size)")
    crops_per_image: int = setting(4, "random crops of each image per epoch")
    lr: float = setting(1e-3, "peak learning rate (warm-up, then cosine decay)")
    margin: float = setting(0.01, "ranking hinge margin as a fraction of the metric's score range")
    seed: int = setting(0, "seed of init, crops, noise and order")
    amp: bool = setting(False, "bf16 autocast (CUDA, or CPUs with AMX/AVX512-BF16)")
    init: str | None = setting(None, "weights file of the same architecture to start from")
    depth: int | None = setting(None, "DnCNN layers / U-Net downsamplings (default 10 / 3)")
    width: int | None = setting(None, "DnCNN channels / U-Net base channels (default 24 / 16)")
    w_mse: float | None = setting(None, "MSE weight (default 1)")
    w_rank: float | None = setting(None, "ranking-loss weight (default: 0 for MSE kinds, 4 for dms-iqa, dncnn-full)")
    w_target: float | None = setting(None, "target-loss weight (default: 0 for MSE kinds, 256 for the full loss)")
    arch: str = field(init=False)
    hparams: dict = field(init=False)
    weights: dict = field(init=False)

    def __post_init__(self):
        self.root = str(Path(self.root).expanduser().resolve()) if self.root else None
        if self.kind not in KINDS:
            raise ValueError(f"unknown denoiser kind {self.kind!r}; choose one of {sorted(KINDS)}")
        self.arch, hparams, weights = KINDS[self.kind]  # a Kind record unpacks in this order
        size_key = "channels" if self.arch == "dncnn" else "width"
        given = {"depth": self.depth, size_key: self.width}
        self.hparams = {**hparams, **{k: v for k, v in given.items() if v is not None}}
        for option, key in (("depth", "depth"), ("width", size_key)):
            lo, hi = LIMITS[self.arch][key]
            if not lo <= self.hparams[key] <= hi:
                raise ValueError(f"--{option} {self.hparams[key]}: a {self.arch} denoiser takes {lo}..{hi}")
        given = {"mse": self.w_mse, "rank": self.w_rank, "target": self.w_target}
        self.weights = {**weights.to_dict(), **{k: float(v) for k, v in given.items() if v is not None}}
        if not (self.sigma > 0 and self.epochs >= 1 and self.batch_size >= 1 and self.crops_per_image >= 1):
            raise ValueError("sigma must be > 0 and epochs, batch_size, crops_per_image >= 1")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    model: Denoiser
    history: list[dict]
    seconds: float
    config: TrainConfig


def _batches(images: list[torch.Tensor], mos: torch.Tensor, cfg: TrainConfig, gen: torch.Generator):
    """One epoch of (noisy, clean, mos) CPU batches drawn with `gen`."""
    order = torch.randperm(len(images) * cfg.crops_per_image, generator=gen) % len(images)
    for start in range(0, len(order), cfg.batch_size):
        idx = order[start : start + cfg.batch_size].tolist()
        crops = []
        for i in idx:
            img = images[i]
            if cfg.crop:
                top = int(torch.randint(img.shape[1] - cfg.crop + 1, (1,), generator=gen))
                left = int(torch.randint(img.shape[2] - cfg.crop + 1, (1,), generator=gen))
                img = img[:, top : top + cfg.crop, left : left + cfg.crop]
            if torch.rand((), generator=gen) < 0.5:
                img = img.flip(-1)
            crops.append(img)
        clean = torch.stack(crops)
        noisy = (clean + cfg.sigma * torch.randn(clean.shape, generator=gen)).clamp(0.0, 1.0)
        yield noisy, clean, mos[idx]


def _load_data(cfg: TrainConfig, dataset) -> tuple[list[torch.Tensor], torch.Tensor]:
    if dataset is None:
        from msbiqa.data import load_dataset, meta_info_option

        dataset = load_dataset(
            cfg.dataset, root=cfg.root, split=cfg.split, **meta_info_option(cfg.dataset, cfg.meta_info)
        )
    items = [dataset[i] for i in range(len(dataset))]
    images = [item[0].float().contiguous() for item in items]
    if len(images) < 2:
        raise ValueError(f"need at least 2 training images, got {len(images)}")
    small = min(min(img.shape[1:]) for img in images)
    if cfg.crop > small:
        raise ValueError(f"crop={cfg.crop} is larger than the smallest training image side ({small}); lower --crop")
    if not cfg.crop and len({tuple(img.shape) for img in images}) > 1:
        raise ValueError("training on whole images (crop=0) needs images of one size; set a crop size")
    return images, torch.tensor([float(item[1]) for item in items])


def _warmup_cosine(total: int):
    """Learning-rate factor: linear warm-up over the first 5% of steps, then cosine decay to 0."""
    warm = max(1, total // 20)
    return lambda t: min(1.0, (t + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(t, total) / total))


def _save_checkpoint(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(path, buffer.getvalue())  # an interruption never leaves a half-written checkpoint


def train_denoiser(
    cfg: TrainConfig,
    *,
    out: str | Path | None = None,
    checkpoint: str | Path | None = None,
    device: str | torch.device | None = None,
    metric: torch.nn.Module | None = None,
    dataset=None,
    stop_after: int | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train a denoiser as `cfg` says; write its weights to `out` (with the config and loss history).

    `checkpoint` (default: `out` + ".ckpt") is written after every epoch and resumed from when present;
    it is removed once `out` is written. `stop_after` ends this call after that many epochs in total
    (to split a long run); `metric` / `dataset` override the ones named in `cfg` (tests, notebooks).
    """
    device = default_device(device)
    if checkpoint is None and out is not None:
        checkpoint = Path(str(out) + ".ckpt")
    w = LossWeights(**cfg.weights)
    if not w.through_metric:
        metric = None  # MSE-only training (DMS) never calls the base metric
    elif metric is None:
        from msbiqa.models.metrics import load_metric

        metric = load_metric(cfg.metric, weights=cfg.metric_weights, device=device)
    metric_name = getattr(metric, "name", cfg.metric) if metric is not None else None
    images, mos = _load_data(cfg, dataset)
    objective = DenoiserObjective(w, metric.to(device) if metric is not None else None, margin=cfg.margin)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = build_denoiser(cfg.arch, **cfg.hparams)
    if cfg.init:
        load_weights(model, cfg.init)
    model.to(device)
    gen = torch.Generator().manual_seed(cfg.seed)
    steps = math.ceil(len(images) * cfg.crops_per_image / cfg.batch_size)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _warmup_cosine(steps * cfg.epochs))
    epoch, history, seconds = 0, [], 0.0
    if checkpoint is not None and Path(checkpoint).is_file():
        state = load_tensors(checkpoint)
        if state["config"] != cfg.to_dict():
            raise ValueError(
                f"checkpoint {checkpoint} was written by a different configuration; "
                f"delete it or rerun with {state['config']}"
            )
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        epoch, history, seconds = state["epoch"], state["history"], state["seconds"]

    last = cfg.epochs if stop_after is None else min(cfg.epochs, stop_after)
    model.train()
    objective.train()
    while epoch < last:
        start, sums = time.perf_counter(), {}
        bar = tqdm(
            _batches(images, mos, cfg, gen),
            total=steps,
            desc=f"{cfg.kind} epoch {epoch + 1}/{cfg.epochs}",
            unit="batch",
            disable=not progress,
            leave=False,
        )
        for noisy, clean, batch_mos in bar:
            noisy, clean, batch_mos = noisy.to(device), clean.to(device), batch_mos.to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.amp):
                total, parts = objective(model.denoise(noisy), clean, batch_mos)
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            sched.step()
            parts["loss"] = float(total.detach())
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
            bar.set_postfix(loss=f"{parts['loss']:.4g}")
        epoch += 1
        seconds += time.perf_counter() - start
        history.append({"epoch": epoch, **{k: v / steps for k, v in sums.items()}})
        if progress:
            tqdm.write(
                f"{cfg.kind} sigma={cfg.sigma} epoch {epoch}: "
                + ", ".join(f"{k}={v:.4g}" for k, v in history[-1].items() if k != "epoch")
            )
        if checkpoint is not None:
            _save_checkpoint(
                Path(checkpoint),
                {
                    "config": cfg.to_dict(),
                    "epoch": epoch,
                    "history": history,
                    "seconds": seconds,
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "generator": gen.get_state(),
                },
            )

    model.eval()
    model.config = {
        **cfg.to_dict(),
        "base_metric": metric_name,
        "base_metric_digest": weights_digest(metric) if metric is not None else None,
        "history": history,
        "train_seconds": round(seconds, 1),
        "device": device.type,
        "torch": str(torch.__version__),
    }
    if out is not None and epoch == cfg.epochs:
        save_denoiser(model, out, model.config)
        if checkpoint is not None:
            Path(checkpoint).unlink(missing_ok=True)
    return TrainResult(model, history, seconds, cfg)
