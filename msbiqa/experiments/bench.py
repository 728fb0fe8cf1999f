"""Speed of certification: msbiqa's batched sampler against a per-sample loop, and how cost scales.

Two ways to score the n noisy copies of one image, timed in the same run, interleaved and repeated
(median of the repeats), with the same networks:

* ``naive`` -- the public-code style loop: for each sample draw noise, clamp, denoise, score one image in
  fp32 and copy the score to the host with ``.item()``;
* ``batched`` -- msbiqa's path, `sample_scores` + `certificate_from_scores` (what `certify` runs): noise drawn
  in place on the device, batched, bf16 autocast + channels_last on CUDA, scores kept on the device.

Both draw the same noise for the same seed, so the naive scores are also an fp32 reference: each base row
reports how far the batched scores and certificate lie from it. Weights are random (speed does not depend
on them) and nothing is downloaded.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from msbiqa.data.images import sample_photo
from msbiqa.experiments.bench_allocator import run_allocator_bench
from msbiqa.experiments.bench_allocator import summarize as summarize_allocator
from msbiqa.experiments.bench_common import ALPHA, EPS, SEED, SIGMA, timed
from msbiqa.experiments.bench_compile import (
    COMPILE_PATHS,
    COMPILE_VARIANTS,
    FLOAT_RTOL,
    KEEP_RATIO,
    run_compile_bench,
    verdicts,
)
from msbiqa.files import write_atomic
from msbiqa.models.denoisers import DnCNN, UNet
from msbiqa.report.tables import to_markdown
from msbiqa.settings import setting
from msbiqa.smoothing.certify import certificate_from_scores, order_statistic_ranks
from msbiqa.smoothing.defended import DefendedMetric
from msbiqa.smoothing.sampler import auto_batch_size

BF16_REL_TOL = 2.0**-6  # four bf16 units of rounding (2^-8) relative to the score's magnitude
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class BackboneScore(nn.Module):
    """An ImageNet backbone with a one-output head as a score function: [0, 1] images -> (B,) scores."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std).reshape(-1)


def _small_cnn() -> tuple[str, nn.Module]:
    """The project's default metric when its weights load, else pyiqa's CNNIQA with random weights."""
    from msbiqa.models.metrics import load_metric

    try:
        metric = load_metric(device="cpu")
    except FileNotFoundError:
        metric = load_metric("pyiqa:cnniqa", pretrained=None, device="cpu")
    return metric.name, metric


def _resnet18() -> tuple[str, nn.Module]:
    from torchvision.models import resnet18

    return "resnet18", BackboneScore(resnet18(weights=None, num_classes=1))


def _inception_resnet_v2() -> tuple[str, nn.Module]:
    """KonCept512's backbone (its small MLP head is negligible next to it)."""
    import timm

    net = timm.create_model("inception_resnet_v2", pretrained=False, num_classes=1)
    return "inception-resnet-v2", BackboneScore(net)


MODELS: dict[str, Callable[[], tuple[str, nn.Module]]] = {
    "small-cnn": _small_cnn,
    "resnet18": _resnet18,
    "inception-resnet-v2": _inception_resnet_v2,
}
DENOISERS: dict[str, Callable[[], nn.Module | None]] = {"none": lambda: None, "dncnn": DnCNN, "unet": UNet}


def parse_size(text: str) -> tuple[int, int]:
    """'96' -> (96, 96); '384x512' -> (384, 512) as (height, width)."""
    parts = str(text).lower().split("x")
    try:
        h, w = (int(parts[0]),) * 2 if len(parts) == 1 else (int(parts[0]), int(parts[1]))
    except (ValueError, IndexError):
        raise ValueError(f"image size {text!r} must be S or HxW in pixels, e.g. 96 or 384x512") from None
    if len(parts) > 2 or h < 8 or w < 8:
        raise ValueError(f"image size {text!r} must be S or HxW with sides >= 8 pixels")
    return h, w


def naive_scores(defended: DefendedMetric, image: torch.Tensor, *, n: int, seed: int) -> torch.Tensor:
    """The public-code style baseline: one sample at a time, fp32, each score sent to the host with .item().

    Draws the same noise as msbiqa's sampler for the same seed (one draw per sample from a generator on the
    image's device), so sample i here and there are the same noisy image.
    """
    generator = torch.Generator(device=image.device).manual_seed(seed)
    scores = []
    with torch.no_grad():
        for _ in range(n):
            noise = torch.empty_like(image).normal_(0.0, defended.sigma, generator=generator)
            scores.append(defended.score_noisy((image + noise).clamp(0.0, 1.0)).reshape(-1)[0].item())
    return torch.tensor(scores, dtype=torch.float32)


def _prepare(module: nn.Module | None, device: torch.device, compile_mode: str | None):
    """Eval mode, frozen, on `device` (channels_last weights on CUDA); returns (plain, used-by-batched)."""
    if module is None:
        return None, None
    module = module.eval().requires_grad_(False).to(device)
    if device.type == "cuda":
        module = module.to(memory_format=torch.channels_last)
    return module, (torch.compile(module, mode=compile_mode) if compile_mode else module)


def fit_line(xs: list[float], ys: list[float]) -> dict:
    """Least-squares line y = slope * x + intercept and its R^2."""
    slope, intercept = np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)
    pred = slope * np.asarray(xs) + intercept
    ss_tot = float(np.sum((np.asarray(ys) - np.mean(ys)) ** 2))
    r2 = 1.0 - float(np.sum((np.asarray(ys) - pred) ** 2)) / ss_tot if ss_tot > 0 else 1.0
    return {"slope": float(slope), "intercept": float(intercept), "r2": r2}


def _batch_size(text: str) -> int | None:
    """A batch size option: a positive integer, or 'auto' (None: the sampler's automatic choice)."""
    if text == "auto":
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"--batch-size takes positive integers or 'auto', got {text!r}") from None


@dataclass
class BenchPlan:
    """What to measure. The first size and n are the base point: every model x denoiser runs there, the naive
    loop and the batched path at each batch size, interleaved. The first model is also swept, batched at the
    first batch size, over the other n (at the first size) and the other sizes (at the first n), with each
    denoiser, to fit how cost grows."""

    device: str = setting("cpu", "cpu or cuda")
    sizes: list[tuple[int, int]] = setting(
        [(96, 96), (64, 64), (128, 128)],
        "image sizes, S or HxW (cuda plan: 384x512 192x256 288x384)",
        flag="--size",
        parse=parse_size,
        metavar="S",
    )
    ns: list[int] = setting([100, 50, 200], "noise samples per image (cuda plan: 1000 250 500)", flag="--n")
    models: list[str] = setting(
        ["small-cnn", "resnet18"],
        "score networks (cuda plan: inception-resnet-v2 resnet18 small-cnn)",
        choices=sorted(MODELS),
    )
    denoisers: list[str] = setting(["none", "unet", "dncnn"], "denoisers", choices=sorted(DENOISERS))
    repeats: int = setting(3, "timed repeats per point, median reported")
    naive_n: int | None = setting(
        None, "samples the naive loop runs (default: the same n; cuda plan: 100); ratios compare time per sample"
    )
    batch_sizes: list[int | None] = setting(
        [None],
        "batch sizes of the batched path, each measured at the base point ('auto': the sampler's choice)",
        flag="--batch-size",
        parse=_batch_size,
        metavar="B",
    )
    compile_mode: str | None = setting(
        None,
        "torch.compile the networks of the batched path with this mode (default, reduce-overhead)",
        flag="--compile",
        metavar="MODE",
    )
    threads: int | None = setting(None, "torch CPU threads (default: torch's; the compile part: 1)")
    parts: list[str] = setting(
        ["speed", "allocator"],
        "what to measure: speed (batched vs naive, scaling), allocator (glibc default vs tuned malloc, CPU only), "
        "compile (eager vs torch.compile and other fusions on the shipped networks, certifying and training)",
        flag="--part",
        choices=["speed", "allocator", "compile"],
    )
    allocator_sizes: list[tuple[int, int]] = setting(
        [(96, 96), (400, 600)],
        "image sizes of the allocator comparison (the embedded size and a real photo's)",
        flag="--allocator-size",
        parse=parse_size,
        metavar="S",
    )
    allocator_ns: list[int] = setting(
        [64, 16], "noise samples per allocator measurement, one per size", flag="--allocator-n"
    )
    compile_paths: list[str] = setting(
        list(COMPILE_PATHS),
        "paths of the compile part: certification with no denoiser (plain MS), dms or dms-iqa, and the dms-iqa "
        "training step",
        choices=COMPILE_PATHS,
    )
    compile_variants: list[str] = setting(
        list(COMPILE_VARIANTS),
        "what the compile part compares with eager, each where it applies (freezing: certification; fused-adam: "
        "training); compile uses --compile MODE (default: default)",
        choices=COMPILE_VARIANTS,
    )
    compile_size: tuple[int, int] = setting(
        (96, 96), "image (and training crop) size of the compile part", parse=parse_size, metavar="S"
    )
    compile_n: int = setting(100, "noise samples per certification in the compile part")
    train_batch: int = setting(16, "crops per training step in the compile part")
    cert_tol: float = 0.1  # certificate vs fp32 reference: ok within cert_tol x score spread or BF16_REL_TOL x |score|

    def check(self) -> BenchPlan:
        unknown = [m for m in self.models if m not in MODELS] + [d for d in self.denoisers if d not in DENOISERS]
        if unknown:
            raise ValueError(
                f"unknown model/denoiser {unknown}; models: {sorted(MODELS)}, denoisers: {sorted(DENOISERS)}"
            )
        if self.compile_n < 1 or self.train_batch < 2:
            raise ValueError("--compile-n must be >= 1 and --train-batch >= 2 (the ranking loss needs pairs)")
        if len(self.allocator_sizes) != len(self.allocator_ns) or min(self.allocator_ns) < 1:
            raise ValueError("--allocator-n takes one positive n per --allocator-size")
        if not (self.sizes and self.ns and self.models and self.denoisers and self.batch_sizes) or self.repeats < 1:
            raise ValueError("a benchmark needs at least one size, n, model, denoiser and batch size, and repeats >= 1")
        if any(b is not None and b < 1 for b in self.batch_sizes) or (self.threads is not None and self.threads < 1):
            raise ValueError("batch sizes and threads must be positive integers")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError("--device cuda asked for, but torch sees no CUDA device")
        ns = {*self.ns, min(self.naive_n or self.ns[0], self.ns[0])}
        if "compile" in self.parts and any(p != "train" for p in self.compile_paths):
            ns.add(self.compile_n)
        for n in ns:
            order_statistic_ranks(n, SIGMA, EPS, ALPHA)  # every n, the naive one too, must certify
        return self


def default_plan(device: str = "cpu", quick: bool = False) -> BenchPlan:
    """CPU: ~96 px, n in the hundreds. CUDA: the GPU target, 384x512 with n = 1000, KonCept512's backbone
    first. Quick: a CI-sized CPU run of a few seconds."""
    if quick:
        return BenchPlan(
            device=device,
            sizes=[(32, 32), (24, 24), (40, 40)],
            ns=[20, 30, 40],
            models=["small-cnn"],
            denoisers=["none", "unet"],
            repeats=1,
            allocator_sizes=[(32, 32), (40, 60)],
            allocator_ns=[8, 4],
        )
    if device.startswith("cuda"):
        return BenchPlan(
            device=device,
            sizes=[(384, 512), (192, 256), (288, 384)],
            ns=[1000, 250, 500],
            models=["inception-resnet-v2", "resnet18", "small-cnn"],
            denoisers=["unet", "dncnn", "none"],
            naive_n=100,
            parts=["speed"],
        )
    return BenchPlan(device=device)


@dataclass
class Pair:
    """A model x denoiser on a device: plain networks for the naive loop, maybe compiled ones for the batched path."""

    model: str
    denoiser: str
    device: torch.device
    plain: DefendedMetric
    fast: DefendedMetric

    def naive(self, image: torch.Tensor, n: int) -> torch.Tensor:
        return naive_scores(self.plain, image, n=n, seed=SEED)

    def batched(self, image: torch.Tensor, n: int, batch_size: int | None) -> torch.Tensor:
        """One certification the library's way (`certify`'s body); returns the scores."""
        scores = self.fast.sample(image, n, seed=SEED, batch_size=batch_size)
        certificate_from_scores(scores, sigma=SIGMA, eps=EPS, alpha=ALPHA, seed=SEED)
        return scores

    def batch(self, image: torch.Tensor, n: int, batch_size: int | None) -> int:
        return batch_size or auto_batch_size(self.fast.score_noisy, image, n)


def _cpu_name() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def load_avg() -> list[float]:
    """The machine's 1, 5 and 15 minute load averages: other jobs sharing it inflate wall times."""
    return [round(x, 2) for x in os.getloadavg()]


def environment(device: torch.device) -> dict:
    """Where the numbers come from: device name, torch version, threads and the machine's load."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
    return {
        "device": device.type,
        "device_name": name,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_avg": load_avg(),
        "sigma": SIGMA,
        "eps": EPS,
        "alpha": ALPHA,
        "seed": SEED,
    }


def run_benchmark(plan: BenchPlan, on_update: Callable[[dict], None] | None = None) -> dict:
    """Run `plan`; returns {"env", "rows", "scaling", "skipped"}. `on_update` gets the partial result after
    each model x denoiser pair (so a run cut short still leaves its numbers)."""
    plan.check()
    device = torch.device(plan.device)
    threads = torch.get_num_threads()
    torch.set_num_threads(plan.threads or threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    result = {"env": environment(device), "rows": [], "scaling": [], "skipped": [], "allocator": [], "compile": []}
    try:
        if "speed" in plan.parts:
            _speed(plan, device, result, on_update)
    finally:
        torch.set_num_threads(threads)
    if "allocator" in plan.parts:
        _allocator(plan, device, result)
        if on_update:
            on_update(result)
    if "compile" in plan.parts:
        _compile(plan, device, result, on_update)
    return result


def _speed(plan: BenchPlan, device: torch.device, result: dict, on_update) -> None:
    """The base point of every model x denoiser and the first model's sweeps, appended to `result`."""
    for m_index, model_key in enumerate(plan.models):
        try:
            model_name, model = MODELS[model_key]()
        except (ImportError, FileNotFoundError) as err:
            result["skipped"].append(f"{model_key}: {type(err).__name__}: {err}")
            continue
        model, model_b = _prepare(model, device, plan.compile_mode)
        for denoiser_key in plan.denoisers:
            if device.type == "cuda":  # the sampler sizes batches from free memory: start each pair alike
                torch.cuda.empty_cache()
            denoiser, denoiser_b = _prepare(DENOISERS[denoiser_key](), device, plan.compile_mode)
            pair = Pair(
                model_name,
                denoiser_key,
                device,
                DefendedMetric(model, SIGMA, denoiser),
                DefendedMetric(model_b, SIGMA, denoiser_b),
            )
            base = _base_point(plan, pair)
            result["rows"] += base
            if m_index == 0:
                rows, fits = _sweeps(plan, pair, base[1])
                result["rows"] += rows
                result["scaling"] += fits
            result["env"]["load_avg_end"] = load_avg()
            if on_update:
                on_update(result)


def _allocator(plan: BenchPlan, device: torch.device, result: dict) -> None:
    """glibc's default malloc vs the tuned one (`bench_allocator`), CPU only: the allocator is a host matter."""
    if device.type != "cpu":
        result["skipped"].append(f"allocator: a CPU comparison, not run on {device.type}")
        return
    rows = run_allocator_bench(
        plan.allocator_sizes, plan.allocator_ns, plan.batch_sizes[:1], plan.repeats, plan.threads
    )
    result["allocator"] = summarize_allocator(rows)
    result["env"]["load_avg_end"] = load_avg()


def _compile(plan: BenchPlan, device: torch.device, result: dict, on_update) -> None:
    """Eager vs torch.compile and other fusions (`bench_compile`), plan.threads or 1 torch thread."""

    def update(rows: list[dict]) -> None:
        result["compile"] = rows
        result["compile_verdicts"] = verdicts(rows)
        result["env"]["load_avg_end"] = load_avg()
        if on_update:
            on_update(result)

    threads = torch.get_num_threads()
    torch.set_num_threads(plan.threads or 1)
    result["env"]["compile_threads"] = torch.get_num_threads()
    try:
        run_compile_bench(
            plan.compile_paths,
            plan.compile_variants,
            plan.compile_size,
            plan.compile_n,
            plan.train_batch,
            plan.repeats,
            mode=plan.compile_mode or "default",
            device=device,
            on_update=update,
        )
    finally:
        torch.set_num_threads(threads)


def _row(
    plan: BenchPlan,
    pair: Pair,
    size: tuple[int, int],
    n: int,
    method: str,
    times: list[float],
    warmup: float,
    batch: int,
) -> dict:
    seconds = statistics.median(times)
    batched = method == "batched"
    cuda = pair.device.type == "cuda"
    if batched:
        precision = "bf16+channels_last" if cuda else "fp32"  # as msbiqa.smoothing.sampler runs it
    else:
        precision = "fp32 (tf32 convs)" if cuda and torch.backends.cudnn.allow_tf32 else "fp32"
    return {
        "model": pair.model,
        "denoiser": pair.denoiser,
        "height": size[0],
        "width": size[1],
        "n": n,
        "method": method,
        "batch": batch,
        "precision": precision,
        "compile": (plan.compile_mode or "none") if batched else "none",
        "samples_per_s": n / seconds,
        "ms_per_sample": 1e3 * seconds / n,
        "s_per_image": seconds,
        "s_per_image_min": min(times),
        "repeats": len(times),
        "warmup_s": warmup,
    }


def _base_point(plan: BenchPlan, pair: Pair) -> list[dict]:
    """The naive loop and the batched path at each batch size, interleaved. Batched rows carry the ratio of
    time per sample and how far their scores and certificate lie from the naive fp32 ones (same samples)."""
    size, n = plan.sizes[0], plan.ns[0]
    image = sample_photo(*size, pair.device)
    k = min(plan.naive_n or n, n)
    warm_naive = timed(lambda: pair.naive(image, min(k, 3)), pair.device)[0]
    warm = [timed(lambda b=b: pair.batched(image, n, b), pair.device)[0] for b in plan.batch_sizes]
    t_naive, t_batched, scores = [], [[] for _ in plan.batch_sizes], [None] * len(plan.batch_sizes)
    for _ in range(plan.repeats):
        dt, ref = timed(lambda: pair.naive(image, k), pair.device)
        t_naive.append(dt)
        for i, b in enumerate(plan.batch_sizes):
            dt, scores[i] = timed(lambda b=b: pair.batched(image, n, b), pair.device)
            t_batched[i].append(dt)
    naive = _row(plan, pair, size, k, "naive", t_naive, warm_naive, 1)
    naive["ratio_vs_naive"] = 1.0
    rows = [naive]
    cert_ref = certificate_from_scores(ref, sigma=SIGMA, eps=EPS, alpha=ALPHA)
    spread = float(ref.std()) if k > 1 else 0.0
    for b, times, w, s in zip(plan.batch_sizes, t_batched, warm, scores):
        row = _row(plan, pair, size, n, "batched", times, w, pair.batch(image, n, b))
        cert = certificate_from_scores(s[:k], sigma=SIGMA, eps=EPS, alpha=ALPHA)
        diff = max(abs(getattr(cert, key) - getattr(cert_ref, key)) for key in ("median", "lower", "upper"))
        row.update(
            ratio_vs_naive=naive["ms_per_sample"] / row["ms_per_sample"],
            max_score_diff=float((s[:k] - ref).abs().max()),
            cert_diff=diff,
            score_spread=spread,
            score_abs_max=float(ref.abs().max()),
            cert_ok=bool(diff <= max(plan.cert_tol * spread, BF16_REL_TOL * float(ref.abs().max()))),
        )
        rows.append(row)
    return rows


def _sweeps(plan: BenchPlan, pair: Pair, base: dict) -> tuple[list[dict], list[dict]]:
    """Batched cost over the other n (first size) and the other sizes (first n): rows and linear fits."""
    size0, n0, b = plan.sizes[0], plan.ns[0], plan.batch_sizes[0]
    points = [(size0, n) for n in plan.ns[1:]] + [(size, n0) for size in plan.sizes[1:]]
    images = {size: sample_photo(*size, pair.device) for size, _ in points}
    warm = {p: timed(lambda p=p: pair.batched(images[p[0]], p[1], b), pair.device)[0] for p in points}
    times: dict[tuple, list[float]] = {p: [] for p in points}
    for _ in range(plan.repeats):  # round-robin, so drifting machine load hits every point alike
        for p in points:
            times[p].append(timed(lambda p=p: pair.batched(images[p[0]], p[1], b), pair.device)[0])
    rows = [
        _row(plan, pair, size, n, "batched", times[(size, n)], warm[(size, n)], pair.batch(images[size], n, b))
        for size, n in points
    ]
    fits = []
    by_n = [base] + [r for r in rows if (r["height"], r["width"]) == size0]
    by_px = [base] + [r for r in rows if (r["height"], r["width"]) != size0]
    for axis, pts, x_of in (("n", by_n, lambda r: r["n"]), ("pixels", by_px, lambda r: r["height"] * r["width"])):
        if len(pts) >= 2:
            fit = fit_line([x_of(r) for r in pts], [r["s_per_image"] for r in pts])
            per = f"{fit['slope'] * 1e3:.3g} ms/sample" if axis == "n" else f"{fit['slope'] * 1e6:.3g} s/Mpx"
            fits.append(
                {
                    "model": pair.model,
                    "denoiser": pair.denoiser,
                    "axis": axis,
                    "x": [x_of(r) for r in pts],
                    "s_per_image": [r["s_per_image"] for r in pts],
                    "slope_per_unit": per,
                    **fit,
                }
            )
    return rows, fits


ROW_COLUMNS = {  # key -> (header, format)
    "model": ("model", "{}"),
    "denoiser": ("denoiser", "{}"),
    "size": ("size", "{}"),
    "n": ("n", "{}"),
    "method": ("method", "{}"),
    "batch": ("batch", "{}"),
    "precision": ("precision", "{}"),
    "compile": ("compile", "{}"),
    "samples_per_s": ("samples/s", "{:.1f}"),
    "s_per_image": ("s/image", "{:.3f}"),
    "ratio_vs_naive": ("x naive", "{:.1f}"),
    "max_score_diff": ("max|dscore|", "{:.2g}"),
    "cert_diff": ("|dcert|", "{:.2g}"),
    "score_spread": ("spread", "{:.2g}"),
    "cert_ok": ("cert ok", "{}"),
}
FIT_COLUMNS = {
    "model": ("model", "{}"),
    "denoiser": ("denoiser", "{}"),
    "axis": ("axis", "{}"),
    "x": ("points", "{}"),
    "s_per_image": ("s/image", "{}"),
    "slope_per_unit": ("slope", "{}"),
    "intercept": ("intercept s", "{:.3f}"),
    "r2": ("R^2", "{:.4f}"),
}

ALLOCATOR_COLUMNS = {
    "size": ("size", "{}"),
    "n": ("n", "{}"),
    "batch": ("batch", "{}"),
    "default_wall_ms": ("default wall", "{:.1f}"),
    "default_user_ms": ("default user", "{:.1f}"),
    "default_sys_ms": ("default sys", "{:.1f}"),
    "tuned_wall_ms": ("tuned wall", "{:.1f}"),
    "tuned_user_ms": ("tuned user", "{:.1f}"),
    "tuned_sys_ms": ("tuned sys", "{:.1f}"),
    "ratio": ("ratio", "{:.2f}"),
    "tuned_allocator": ("tuned as", "{}"),
    "same_scores": ("same scores", "{}"),
}

COMPILE_COLUMNS = {
    "path": ("path", "{}"),
    "defence": ("defence", "{}"),
    "denoiser": ("denoiser", "{}"),
    "size": ("size", "{}"),
    "n": ("n / batch", "{}"),
    "variant": ("variant", "{}"),
    "unit": ("per", "{}"),
    "ms_per_unit": ("ms", "{:.2f}"),
    "ratio": ("x eager", "{:.2f}"),
    "compile_s": ("compile s", "{:.1f}"),
    "compared": ("compared", "{}"),
    "max_diff": ("max|diff|", "{:.2g}"),
    "cert_diff": ("|dcert|", "{:.2g}"),
    "identical": ("identical", "{}"),
    "equal": ("equal", "{}"),
    "keep": ("keep", "{}"),
}


def markdown(rows: list[dict], columns: dict) -> str:
    """`rows` as a Markdown table with `columns`' headers and formats (lists as comma-separated 3-digit numbers)."""
    table = pd.DataFrame(rows)
    if "height" in table:
        table["size"] = table["height"].astype(str) + "x" + table["width"].astype(str)
    for key in ("x", "s_per_image"):
        if key in table and table[key].map(lambda v: isinstance(v, list)).all():
            table[key] = table[key].map(lambda v: ", ".join(f"{x:.3g}" for x in v))
    table = table.reindex(columns=list(columns)).rename(columns={k: h for k, (h, _) in columns.items()})
    return to_markdown(table, formats={h: f for h, f in columns.values()}).rstrip("\n")


def report(result: dict) -> str:
    """The whole result as Markdown: environment, timing table, scaling fits, skipped models."""
    env = result["env"]
    head = (
        f"device: {env['device_name']} ({env['device']}), torch {env['torch']}, {env['threads']} threads, "
        f"load average {env['load_avg']} -> {env.get('load_avg_end', '?')}; sigma={env['sigma']} eps={env['eps']} "
        f"alpha={env['alpha']} seed={env['seed']}"
    )
    parts = [head]
    if result["rows"]:
        parts += ["", markdown(result["rows"], ROW_COLUMNS)]
    if result["scaling"]:
        parts += [
            "",
            "Linear fits of seconds per certified image against n and against pixel count:",
            "",
            markdown(result["scaling"], FIT_COLUMNS),
        ]
    if result.get("allocator"):
        parts += [
            "",
            "glibc's default malloc vs msbiqa's tuned thresholds (U-Net + TinyIQA, fresh process per setting, "
            "alternating; ms per sample, median of the repeats; ratio = default / tuned wall time):",
            "",
            markdown(result["allocator"], ALLOCATOR_COLUMNS),
        ]
    if result.get("compile"):
        parts += [
            "",
            f"Eager vs torch.compile (inductor) and other fusions, {env.get('compile_threads')} torch thread(s), "
            "interleaved, median of the repeats; ms per noise sample (certify: sample + certificate) or per "
            "training step; compile s = warm-up minus a timed call (inductor cache emptied per path); max|diff| "
            "and |dcert| against eager (same noise, same starting weights); equal = within float tolerance "
            f"({FLOAT_RTOL:g} x the largest |score| or |loss|); keep = at least {KEEP_RATIO}x eager and equal:",
            "",
            markdown(result["compile"], COMPILE_COLUMNS),
            "",
            *result.get("compile_verdicts", []),
        ]
    parts += [f"skipped {s}" for s in result["skipped"]]
    return "\n".join(parts) + "\n"


def write_results(result: dict, out: str | Path) -> list[Path]:
    """bench.csv (timing rows), scaling.csv (fits), allocator.csv, compile.csv, bench.json (everything) and bench.md
    under `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in result["env"].items() if k in ("device_name", "torch", "threads")}
    tables = {
        "bench.csv": result["rows"],
        "scaling.csv": result["scaling"],
        "allocator.csv": result["allocator"],
        "compile.csv": result.get("compile", []),
    }
    paths = [out / name for name in tables] + [out / "bench.json", out / "bench.md"]
    for path, rows in zip(paths, tables.values()):
        keys = list(dict.fromkeys(k for r in rows for k in r)) + list(env)
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=keys, restval="")
        writer.writeheader()
        writer.writerows({**r, **env} for r in rows)
        write_atomic(path, text.getvalue())
    write_atomic(paths[-2], json.dumps(result, indent=1))
    write_atomic(paths[-1], report(result))
    return paths
