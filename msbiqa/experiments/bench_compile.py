"""Does torch.compile (inductor) or another fusion pay on the certification and training paths? Ratios to eager.

Paths, each built from the shipped weights:

* ``certify`` -- `DefendedMetric(load_metric(), sigma, denoiser).sample` on a real photo plus its certificate
  (what `certify` runs), for each defence: plain MS (no denoiser), DMS (DnCNN) and DMS-IQA (U-Net);
* ``train`` -- one Adam step (forward, backward, optimizer) of the DMS-IQA U-Net through TinyIQA with its
  objective, `msbiqa.models.denoiser_training`'s own step on a fixed batch of crops of the photo.

Variants: eager; ``compile`` (torch.compile of the denoiser and the metric, static shapes); ``compile+freezing``
(inductor's freezing: weights as constants, so batch norm folds into the convolutions and convolution weights
are prepacked; inference only); ``fused-adam`` and ``compile+fused-adam`` (Adam's single fused kernel; training
only). Each variant of a path is built and called once (its warm-up: the compile, reported in seconds apart from
the timings; the inductor cache is emptied at the start of each path, so the first compiled variant pays what a
first use pays and a later one reuses the kernels it shares, as on a user's machine), then all are timed in one
run, interleaved and repeated (median), so drifting machine load hits them alike. Compiled scores, certificates and
first-step losses are compared with eager ones; a variant is kept when it is at least KEEP_RATIO times faster and
equal to eager within float tolerance.
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import warnings
from collections.abc import Callable

import torch

from msbiqa.data.images import sample_photo
from msbiqa.experiments.bench_common import ALPHA, EPS, SEED, SIGMA, timed
from msbiqa.models.denoiser_training import TrainConfig, _step
from msbiqa.models.denoisers import ARCHITECTURE_NAMES, KINDS, load_denoiser
from msbiqa.models.losses import DenoiserObjective, LossWeights
from msbiqa.models.metrics import load_metric
from msbiqa.smoothing.certify import certificate_from_scores, order_statistic_ranks
from msbiqa.smoothing.defended import DefendedMetric

# certification behind each defence (none = plain MS) and the DMS-IQA training step; what each is compared with
# eager as (freezing: inference only; fused Adam: training only)
COMPILE_PATHS = ("none", "dms", "dms-iqa", "train")
COMPILE_VARIANTS = ("compile", "compile+freezing", "fused-adam", "compile+fused-adam")
KEEP_RATIO = 1.3  # the bar: a fusion is kept only when it is at least this much faster than eager
FLOAT_RTOL = 1e-4  # equal within float tolerance: |difference| <= this x the largest |eager value|
TRAIN_KIND = "dms-iqa"  # the training path trains this kind's denoiser with its objective
CERTIFY_VARIANTS = tuple(v for v in COMPILE_VARIANTS if "fused-adam" not in v)
TRAIN_VARIANTS = tuple(v for v in COMPILE_VARIANTS if "freezing" not in v)


def compile_options(variant: str, mode: str) -> dict | None:
    """torch.compile keyword arguments of `variant` (None: it compiles nothing). Shapes are static: the sampler's
    batches take two shapes (full and last), each compiled once in the warm-up. torch.compile takes a mode or
    inductor options, not both: freezing runs in the default mode."""
    if "compile" not in variant:
        return None
    if "freezing" in variant:
        return {"dynamic": False, "options": {"freezing": True}}
    return {"dynamic": False, "mode": mode}


@contextlib.contextmanager
def fresh_inductor_cache():
    """An empty inductor cache for the block (yields whether it is), so compiles in it pay what a first use pays."""
    try:
        from torch._inductor.runtime.cache_dir_utils import temporary_cache_dir
    except ImportError:  # another torch: the compile seconds may then profit from kernels cached earlier
        yield False
        return
    with tempfile.TemporaryDirectory(prefix="inductor-") as folder, temporary_cache_dir(folder):
        yield True


def defended_metric(defence: str, variant: str, mode: str, device: torch.device) -> DefendedMetric:
    """The shipped TinyIQA behind `defence` ("none" or a denoiser kind) at SIGMA, its networks compiled in place
    as `variant` says (`nn.Module.compile`: weights, names and digests stay those of the eager modules)."""
    metric = load_metric(device=device)
    denoiser = None if defence == "none" else load_denoiser(defence, sigma=SIGMA, device=device)
    options = compile_options(variant, mode)
    if options is not None:
        for module in (metric, denoiser):
            if module is not None:
                module.compile(**options)
    return DefendedMetric(metric, SIGMA, denoiser)


def certify_run(defended: DefendedMetric, image: torch.Tensor, n: int) -> Callable[[], dict]:
    """One certification the library's way (sample, then the certificate): returns its scores and certificate."""

    def run() -> dict:
        scores = defended.sample(image, n, seed=SEED)
        return {"scores": scores, "cert": certificate_from_scores(scores, sigma=SIGMA, eps=EPS, alpha=ALPHA)}

    return run


def train_batch(size: tuple[int, int], batch: int, device: torch.device) -> tuple:
    """A fixed training batch (noisy, clean, mos, None), as `denoiser_training` draws them: `batch` random crops
    of the sample photo at twice `size`, noise at SIGMA, clamped; MOS drawn uniformly on 0..100."""
    gen = torch.Generator().manual_seed(SEED)
    height, width = size
    photo = sample_photo(2 * height, 2 * width)[0]
    crops = []
    for _ in range(batch):
        top, left = (int(torch.randint(s + 1, (1,), generator=gen)) for s in size)
        crops.append(photo[:, top : top + height, left : left + width])
    clean = torch.stack(crops)
    noisy = (clean + SIGMA * torch.randn(clean.shape, generator=gen)).clamp(0.0, 1.0)
    mos = 100.0 * torch.rand(batch, generator=gen)
    return tuple(t.to(device) for t in (noisy, clean, mos)) + (None,)


def train_run(variant: str, batch: tuple, mode: str, device: torch.device, steps: int) -> Callable[[], dict]:
    """`steps` training steps of the shipped DMS-IQA U-Net (its training config's objective, margin and learning
    rate; the same starting weights for every variant): returns the loss parts of the first step (in the warm-up,
    the step from the shipped weights, which every variant takes alike)."""
    cfg = TrainConfig(kind=TRAIN_KIND, sigma=SIGMA)
    metric = load_metric(device=device)
    model = load_denoiser(TRAIN_KIND, sigma=SIGMA, device=device).train().requires_grad_(True)
    objective = DenoiserObjective(
        LossWeights(**cfg.weights),
        metric,
        margin=cfg.margin,
        rank_against=cfg.rank_against,
        min_gap=cfg.rank_min_gap,
    )
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True if "fused-adam" in variant else None)
    options = compile_options(variant, mode)
    if options is not None:
        model.denoise = torch.compile(model.denoise, **options)  # the step calls denoise, not forward
        metric.compile(**options)

    def run() -> dict:
        return [_step(model, objective, opt, batch, device, False, False)[0] for _ in range(steps)][0]

    return run


def interleaved(runs: dict[str, Callable[[], dict]], repeats: int, device: torch.device) -> dict[str, dict]:
    """Warm each run up once (timed: a compiled one compiles there), then call them in turn for `repeats` rounds.
    Per run: warm-up seconds, the round times and the warm-up's output."""
    out = {}
    for name, run in runs.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the sampler's cost warning, fooled by the compile
            seconds, first = timed(run, device)
        out[name] = {"warmup_s": seconds, "times": [], "first": first}
    for _ in range(repeats):
        for name, run in runs.items():
            out[name]["times"].append(timed(run, device)[0])
    return out


def _compare(ref: dict, got: dict) -> dict:
    """How far `got` (a run's output) lies from the eager `ref`: scores and certificate, or loss parts."""
    if "scores" in ref:
        keys = ("median", "lower", "upper")
        cert_diff = max(abs(getattr(got["cert"], k) - getattr(ref["cert"], k)) for k in keys)
        scale = float(ref["scores"].abs().max())
        return {
            "compared": "scores",
            "max_diff": float((got["scores"] - ref["scores"]).abs().max()),
            "cert_diff": cert_diff,
            "identical": all(getattr(got["cert"], k) == getattr(ref["cert"], k) for k in keys),
            "equal": cert_diff <= FLOAT_RTOL * scale,
        }
    diff = max(abs(got[k] - ref[k]) for k in ref)
    return {
        "compared": "first-step losses",
        "max_diff": diff,
        "cert_diff": float("nan"),
        "identical": got == ref,
        "equal": diff <= FLOAT_RTOL * max(abs(v) for v in ref.values()),
    }


def rows_of(path: dict, measured: dict[str, dict]) -> list[dict]:
    """One row per variant of a measured path: median ms per unit, ratio eager/variant, compile seconds (warm-up
    minus a timed call), difference from eager and whether it is kept."""
    eager = statistics.median(measured["eager"]["times"])
    rows = []
    for variant, m in measured.items():
        median = statistics.median(m["times"])
        ratio = eager / median
        row = {
            **path,
            "variant": variant,
            "ms_per_unit": 1e3 * median / path["units"],
            "ms_per_unit_min": 1e3 * min(m["times"]) / path["units"],
            "repeats": len(m["times"]),
            "ratio": ratio,
            "compile_s": m["warmup_s"] - median if variant != "eager" else float("nan"),
            **_compare(measured["eager"]["first"], m["first"]),
        }
        row["keep"] = variant != "eager" and ratio >= KEEP_RATIO and row["equal"]
        rows.append(row)
    return rows


def run_compile_bench(
    paths: list[str],
    variants: list[str],
    size: tuple[int, int],
    n: int,
    train_batch_size: int,
    repeats: int,
    *,
    mode: str = "default",
    device: str | torch.device = "cpu",
    train_steps: int = 2,
    on_update: Callable[[list[dict]], None] | None = None,
) -> list[dict]:
    """Measure eager and each of `variants` that a path supports, path by path: certification of a `size` photo
    with `n` noise samples for each defence in `paths`, and `train_steps` training steps on batches of
    `train_batch_size` crops of `size` for "train". Returns the rows (`rows_of`); `on_update` gets them after each
    path. Dynamo's compiled code is reset between paths (its per-function recompile limit would otherwise send
    later variants back to eager)."""
    unknown = sorted({*paths} - set(COMPILE_PATHS)) + sorted({*variants} - set(COMPILE_VARIANTS))
    if unknown:
        raise ValueError(
            f"unknown compile paths or variants {unknown}; paths: {COMPILE_PATHS}, variants: {COMPILE_VARIANTS}"
        )
    if n < 1 or repeats < 1 or train_steps < 1 or ("train" in paths and train_batch_size < 2):
        raise ValueError("the compile benchmark needs n, repeats, train steps >= 1 and a training batch >= 2")
    if any(p != "train" for p in paths):
        order_statistic_ranks(n, SIGMA, EPS, ALPHA)  # n must certify: refuse it before any compile
    device = torch.device(device)
    image = sample_photo(*size, device)
    rows: list[dict] = []
    for name in paths:
        torch._dynamo.reset()
        train = name == "train"
        supported = TRAIN_VARIANTS if train else CERTIFY_VARIANTS
        chosen = ["eager", *(v for v in variants if v in supported)]
        if train:
            batch = train_batch(size, train_batch_size, device)
            runs = {v: train_run(v, batch, mode, device, train_steps) for v in chosen}
            arch = KINDS[TRAIN_KIND].arch
            units, unit = train_steps, "step"
        else:
            runs = {v: certify_run(defended_metric(name, v, mode, device), image, n) for v in chosen}
            arch = KINDS[name].arch if name != "none" else None
            units, unit = n, "sample"
        path = {
            "path": "train" if train else "certify",
            "defence": TRAIN_KIND if train else name,
            "denoiser": ARCHITECTURE_NAMES[arch] if arch else "none",
            "height": size[0],
            "width": size[1],
            "n": train_batch_size if train else n,
            "unit": unit,
            "units": units,
            "mode": mode,
        }
        with fresh_inductor_cache() as fresh:
            rows += rows_of({**path, "fresh_cache": fresh}, interleaved(runs, repeats, device))
        if on_update:
            on_update(rows)
    return rows


def verdicts(rows: list[dict]) -> list[str]:
    """One line per path: the fastest kept variant, or that none reached KEEP_RATIO with equal results."""
    lines = []
    for key in dict.fromkeys((r["path"], r["defence"]) for r in rows):
        mine = [r for r in rows if (r["path"], r["defence"]) == key and r["variant"] != "eager"]
        if not mine:
            continue
        kept = [r for r in mine if r["keep"]]
        best = max(kept or mine, key=lambda r: r["ratio"])
        what = f"{key[0]} {key[1]}"
        if kept:
            lines.append(f"{what}: keep {best['variant']} ({best['ratio']:.2f}x eager, equal within float tolerance)")
        else:
            why = f"below {KEEP_RATIO}x" if best["ratio"] < KEEP_RATIO else "results differ beyond float tolerance"
            lines.append(f"{what}: keep eager (best {best['variant']} {best['ratio']:.2f}x eager: {why})")
    return lines
