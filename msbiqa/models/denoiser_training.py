"""Train denoisers for (denoised) median smoothing: DMS (DnCNN, MSE) and DMS-IQA (U-Net, MSE + rank + target).

Each step takes random crops of clean training images x (random horizontal flips), adds
xi ~ N(0, sigma^2), clamps (as the sampler does) and minimises the combined objective of
`msbiqa.models.losses` on D(clamp01(x + xi)). The base metric is frozen. All randomness (init, crops, flips,
noise, order) comes from the seed; a second noise draw per crop (the consistency loss) is drawn only when that
loss is weighted, so runs without it keep their random stream. Every epoch is validated on a split with the
proxy of `msbiqa.models.validation` (its own fixed noise, so validation never moves the training stream), and
the saved weights are those of the best validated epoch (or the last, `select="last"`). A checkpoint after
every epoch holds model, optimiser, schedule, generator, the best state so far and the gradient shares, so an
interrupted run resumes to the same weights as an uninterrupted one.
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from msbiqa.data.source import DataSource
from msbiqa.devices import default_device
from msbiqa.files import FileLock, write_atomic
from msbiqa.fingerprint import weights_digest
from msbiqa.models.denoisers import KINDS, LIMITS, Denoiser, build_denoiser, load_weights, save_denoiser
from msbiqa.models.losses import RANK_REFERENCES, DenoiserObjective, LossWeights, gradient_shares
from msbiqa.models.metrics.base import load_tensors
from msbiqa.models.validation import SEED, TIE, TRAIN_DRAWS, ProxySet, best_epoch, proxy_scores
from msbiqa.settings import setting

SELECTIONS = ("best", "last")


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
    data: DataSource = setting(DataSource(split="train"), "the training data (validation reads its --val-split)")
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
    w_consistency: float | None = setting(None, "consistency-loss weight (default 0)")
    rank_against: str = setting(
        "mos", "ranking loss orders by: mos, or clean (the metric's scores of clean images)", choices=RANK_REFERENCES
    )
    rank_min_gap: float = setting(0.0, "ranking pairs need a reference difference of at least this (0 = all pairs)")
    val_split: str | None = setting("val", "split validated after every epoch (none: no validation, last epoch kept)")
    val_images: int | None = setting(None, "validation images spread over the split (default: all)")
    val_draws: int = setting(TRAIN_DRAWS, "noise draws per validation image")
    val_seed: int = setting(SEED, "seed of the validation noise (the same draws for every denoiser)")
    select: str = setting(
        "best", "weights kept: best (validated epoch, docs/fair_test_rules.md) or last", choices=SELECTIONS
    )
    arch: str = field(init=False)
    hparams: dict = field(init=False)
    weights: dict = field(init=False)

    def __post_init__(self):
        if self.data.root:  # recorded as an absolute path: the weights file says which folder it read
            self.data = replace(self.data, root=str(Path(self.data.root).expanduser().resolve()))
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
        given = {"mse": self.w_mse, "rank": self.w_rank, "target": self.w_target, "consistency": self.w_consistency}
        self.weights = {**weights.to_dict(), **{k: float(v) for k, v in given.items() if v is not None}}
        if not (self.sigma > 0 and self.epochs >= 1 and self.batch_size >= 1 and self.crops_per_image >= 1):
            raise ValueError("sigma must be > 0 and epochs, batch_size, crops_per_image >= 1")
        if self.val_split is not None and self.val_split.lower() == "none":
            self.val_split = None
        if self.val_draws < 2 or (self.val_images is not None and self.val_images < 3):
            raise ValueError("validation needs val_draws >= 2 (a within-image SD) and val_images >= 3 (a SROCC)")
        if self.select not in SELECTIONS or self.rank_against not in RANK_REFERENCES:
            raise ValueError(f"select must be one of {SELECTIONS} and rank_against one of {RANK_REFERENCES}")

    @property
    def validates(self) -> bool:
        return self.val_split is not None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    model: Denoiser
    history: list[dict]
    seconds: float
    config: TrainConfig
    chosen_epoch: int | None = None  # the epoch whose weights `model` holds once training is complete


def _noisy(clean: torch.Tensor, sigma: float, gen: torch.Generator) -> torch.Tensor:
    return (clean + sigma * torch.randn(clean.shape, generator=gen)).clamp(0.0, 1.0)


def _batches(images: list[torch.Tensor], mos: torch.Tensor, cfg: TrainConfig, gen: torch.Generator):
    """One epoch of (noisy, clean, mos, second) CPU batches drawn with `gen`; `second` (another noise draw of the
    same crops) only when the consistency loss is weighted, else None and nothing more is drawn."""
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
        noisy = _noisy(clean, cfg.sigma, gen)
        second = _noisy(clean, cfg.sigma, gen) if cfg.weights["consistency"] else None
        yield noisy, clean, mos[idx], second


def _load_data(cfg: TrainConfig, dataset) -> tuple[list[torch.Tensor], torch.Tensor]:
    if dataset is None:
        dataset = _load_split(cfg, cfg.data.split)
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


def _load_split(cfg: TrainConfig, split: str):
    return replace(cfg.data, split=split).load()


def _load_proxy(cfg: TrainConfig, val_dataset) -> ProxySet | None:
    """The validation images (`val_dataset`, else cfg.val_split of the training data), or None without validation."""
    if not cfg.validates:
        return None
    dataset = val_dataset if val_dataset is not None else _load_split(cfg, cfg.val_split)
    return ProxySet.from_dataset(dataset, cfg.val_images)


def _warmup_cosine(total: int):
    """Learning-rate factor: linear warm-up over the first 5% of steps, then cosine decay to 0."""
    warm = max(1, total // 20)
    return lambda t: min(1.0, (t + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(t, total) / total))


def _save_checkpoint(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(path, buffer.getvalue())  # an interruption never leaves a half-written checkpoint


def _step(model, objective, opt, batch, device, amp: bool, measure: bool) -> tuple[dict, dict | None]:
    """One Adam step on a batch: (loss parts and total, gradient shares of the weighted terms when `measure`)."""
    noisy, clean, mos, second = (t.to(device) if t is not None else None for t in batch)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        raw = model.denoise(noisy)
        terms = objective.terms(raw, clean, mos, model.denoise(second) if second is not None else None)
        weighted = objective.weighted(terms)
        total = sum(weighted.values())
    shares = gradient_shares(weighted, model.parameters()) if measure else None
    opt.zero_grad(set_to_none=True)
    total.backward()
    opt.step()
    return {**{k: float(v.detach()) for k, v in terms.items()}, "loss": float(total.detach())}, shares


def _epoch(model, objective, opt, sched, bar, cfg: TrainConfig, device, run: dict) -> dict:
    """One epoch of steps over the batches of `bar`: the mean loss parts; the gradient shares of the run's first and
    last batch go into run["shares"]."""
    epoch, steps, sums = run["epoch"], bar.total, {}
    for i, batch in enumerate(bar):
        ends = {"first": epoch == 0 and i == 0, "last": epoch == cfg.epochs - 1 and i == steps - 1}
        parts, shares = _step(model, objective, opt, batch, device, cfg.amp, any(ends.values()))
        sched.step()
        run["shares"].update({where: shares for where, hit in ends.items() if hit})
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + v
        bar.set_postfix(loss=f"{parts['loss']:.4g}")
    return {k: v / steps for k, v in sums.items()}


def _validate(model, metric, proxy: ProxySet, cfg: TrainConfig, device) -> dict:
    """The per-epoch validation numbers (prefixed val_) of the model as it is now."""
    model.eval()
    result = proxy_scores(model, metric, proxy, sigma=cfg.sigma, draws=cfg.val_draws, seed=cfg.val_seed, device=device)
    model.train()
    return {f"val_{k}": v for k, v in result.summary(proxy.mos).items()}


def _candidates(kept: dict, history: list[dict], model) -> dict:
    """Copies of the states of the epochs that may still be chosen (`best_epoch`): those within the tie of the
    highest SROCC so far, since a later, higher SROCC can make any of them the earliest within the tie."""
    values = {h["epoch"]: h["val_srocc"] for h in history}
    kept = {**kept, history[-1]["epoch"]: {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
    floor = max((v for v in values.values() if not math.isnan(v)), default=math.inf) - TIE
    return {e: state for e, state in kept.items() if values[e] >= floor}


def same_run(stored: dict, current: dict, defaults: dict) -> bool:
    """Whether a checkpoint's config describes the run `current` describes. A setting the checkpoint lacks (added to
    TrainConfig after it was written) matches only at its default, so a code update never blocks a resume that
    trains the same thing; any other difference, or a setting the current code lacks, does not match."""
    if set(stored) - set(current):
        return False
    for key, value in current.items():
        if key not in stored:
            if value != defaults.get(key):
                return False
        elif isinstance(value, dict) and isinstance(stored[key], dict):
            if not same_run(stored[key], value, defaults.get(key) if isinstance(defaults.get(key), dict) else {}):
                return False
        elif stored[key] != value:
            return False
    return True


def train_denoiser(
    cfg: TrainConfig,
    *,
    out: str | Path | None = None,
    checkpoint: str | Path | None = None,
    device: str | torch.device | None = None,
    metric: torch.nn.Module | None = None,
    dataset=None,
    val_dataset=None,
    stop_after: int | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train a denoiser as `cfg` says; write its weights to `out` (with the config, loss and validation history,
    the chosen epoch and the gradient shares of the first and last batch).

    `checkpoint` (default: `out` + ".ckpt") is written after every epoch and resumed from when present;
    it is removed once `out` is written. While this call runs it holds `checkpoint` + ".lock": a second run into
    the same files is refused instead of overwriting the first one's epochs. `stop_after` ends this call after that
    many epochs in total (to split a long run); `metric` / `dataset` / `val_dataset` override the ones named in
    `cfg` (tests, notebooks). The base metric is loaded for validation even when the objective never calls it.
    """
    if checkpoint is None and out is not None:
        checkpoint = Path(str(out) + ".ckpt")
    if checkpoint is None:
        return _train(cfg, out, None, device, metric, dataset, val_dataset, stop_after, progress)
    Path(checkpoint).parent.mkdir(parents=True, exist_ok=True)
    busy = f"{checkpoint} is being trained by another run ({{owner}}); wait for it to finish or choose another --out"
    with FileLock(Path(str(checkpoint) + ".lock"), busy):
        return _train(cfg, out, checkpoint, device, metric, dataset, val_dataset, stop_after, progress)


def _train(cfg, out, checkpoint, device, metric, dataset, val_dataset, stop_after, progress) -> TrainResult:
    """`train_denoiser`'s work, with the checkpoint (if any) locked."""
    device = default_device(device)
    w = LossWeights(**cfg.weights)
    if not (w.through_metric or cfg.validates):
        metric = None  # MSE-only training (DMS) without validation never calls the base metric
    elif metric is None:
        from msbiqa.models.metrics import load_metric

        metric = load_metric(cfg.metric, weights=cfg.metric_weights, device=device)
    if metric is not None:
        metric = metric.to(device).eval().requires_grad_(False)
    images, mos = _load_data(cfg, dataset)
    proxy = _load_proxy(cfg, val_dataset)
    objective = DenoiserObjective(w, metric, margin=cfg.margin, rank_against=cfg.rank_against, min_gap=cfg.rank_min_gap)

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
    run = {"epoch": 0, "history": [], "seconds": 0.0, "val_seconds": 0.0, "kept": {}, "shares": {}}
    if checkpoint is not None and Path(checkpoint).is_file():
        state = load_tensors(checkpoint)
        if not same_run(state["config"], cfg.to_dict(), TrainConfig().to_dict()):
            raise ValueError(
                f"checkpoint {checkpoint} was written by a different configuration; "
                f"delete it or rerun with {state['config']}"
            )
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        run = state["run"]

    last = cfg.epochs if stop_after is None else min(cfg.epochs, stop_after)
    keep_best = cfg.select == "best" and proxy is not None
    model.train()
    objective.train()
    while run["epoch"] < last:
        start = time.perf_counter()
        bar = tqdm(
            _batches(images, mos, cfg, gen),
            total=steps,
            desc=f"{cfg.kind} epoch {run['epoch'] + 1}/{cfg.epochs}",
            unit="batch",
            disable=not progress,
            leave=False,
        )
        means = _epoch(model, objective, opt, sched, bar, cfg, device, run)
        run["epoch"] = epoch = run["epoch"] + 1
        run["seconds"] += time.perf_counter() - start
        row = {"epoch": epoch, **means}
        if proxy is not None:
            start = time.perf_counter()
            row.update(_validate(model, metric, proxy, cfg, device))
            run["val_seconds"] += time.perf_counter() - start
        run["history"].append(row)
        if keep_best:
            run["kept"] = _candidates(run["kept"], run["history"], model)
        if progress:
            tqdm.write(
                f"{cfg.kind} sigma={cfg.sigma} epoch {epoch}: "
                + ", ".join(f"{k}={v:.4g}" for k, v in row.items() if k != "epoch")
            )
        if checkpoint is not None:
            state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict()}
            _save_checkpoint(
                Path(checkpoint), {"config": cfg.to_dict(), **state, "generator": gen.get_state(), "run": run}
            )

    history = run["history"]
    chosen = None
    if run["epoch"] == cfg.epochs:
        chosen = best_epoch(history) if keep_best else cfg.epochs
        if chosen in run["kept"]:
            model.load_state_dict(run["kept"][chosen])
    model.eval()
    model.config = {
        **cfg.to_dict(),
        "base_metric": getattr(metric, "name", cfg.metric) if w.through_metric else None,
        "base_metric_digest": weights_digest(metric) if w.through_metric else None,
        "val_metric": getattr(metric, "name", cfg.metric) if proxy is not None else None,
        "val_images_used": len(proxy.images) if proxy is not None else 0,
        "history": history,
        "chosen_epoch": chosen,
        "gradient_shares": run["shares"],
        "train_seconds": round(run["seconds"], 1),
        "val_seconds": round(run["val_seconds"], 1),
        "device": device.type,
        "torch": str(torch.__version__),
    }
    if out is not None and chosen is not None:
        save_denoiser(model, out, model.config)
        if checkpoint is not None:
            Path(checkpoint).unlink(missing_ok=True)
    return TrainResult(model, history, run["seconds"], cfg, chosen)
