"""Batched, seeded Monte-Carlo sampler: scores of n noisy copies clamp01(x + xi), xi ~ N(0, sigma^2 I).

`score_fn` maps a batch of clamped noisy images to one score each (a base metric, or a `DefendedMetric`'s
denoise-then-score function). Noise is drawn on the image's device from a `torch.Generator` seeded per
image, one sample per draw, so the i-th noisy copy depends only on the seed and i — never on the batch
size. Only one batch of images is alive at a time; scores stay on the device until the end. On CUDA the
networks run under bf16 autocast with channels_last tensors.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterator

import torch
from tqdm.auto import tqdm

from msbiqa.smoothing.validate import SEED_LIMIT, check_count, check_image, check_n, check_seed, check_sigma

ScoreFn = Callable[[torch.Tensor], torch.Tensor]

# CPU batch rule, measured by `msbiqa bench`: batch 16 beat 64 (feature maps stay in cache). With the tuned
# allocator (msbiqa.allocator), U-Net + TinyIQA, 1 thread, 2026-12-06, 2-core CPU, loaded machine: at 400x600
# batches 4, 8, 16 took 246, 247, 244 ms per sample and 32 took 263; at 96 px 4 to 32 all took 10 ms. (With
# glibc's default thresholds batch 4 was the slowest at 400x600: 527 vs 437 ms for 16.) docs/performance.md.
CPU_BATCH_BYTES = 32 << 20  # noisy-batch budget on CPU: 11 images at 400x600, 3 at 1024x768
CPU_MAX_BATCH = 16
MAX_BATCH = 1024
COST_WARNING_SECONDS = 60.0  # sampling estimated to take longer than this warns, naming how to downscale


class SamplingCostWarning(UserWarning):
    """Sampling one image is estimated to take minutes: the warning says how long and how to downscale."""


_warned: set[tuple] = set()  # (height, width, n, device) the user was told about in this process


def resolve_seed(seed: int | None) -> int:
    """The seed to record: `seed` itself (checked), or a fresh one drawn from torch's global RNG when None."""
    return int(torch.randint(0, SEED_LIMIT, (1,)).item()) if seed is None else check_seed(seed)


def score_batch(score_fn: ScoreFn, batch: torch.Tensor) -> torch.Tensor:
    """Scores of a batch of images as a float32 vector, under bf16 autocast + channels_last on CUDA.

    The precision policy of every certified function: the sampler, the attacks and the benchmark call it.
    """
    cuda = batch.is_cuda
    if cuda:
        batch = batch.contiguous(memory_format=torch.channels_last)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
        scores = score_fn(batch)
    # copy: a score_fn may return a view of the batch buffer, which the next batch overwrites
    return torch.as_tensor(scores).reshape(-1).to(torch.float32, copy=True)


def auto_batch_size(score_fn: ScoreFn, image: torch.Tensor, n: int) -> int:
    """Pick a batch size: a memory budget on CPU; on CUDA, measured peak memory of a probe batch vs free memory."""
    per_image = image[0].numel() * image.element_size()
    if not image.is_cuda:
        return max(1, min(n, CPU_MAX_BATCH, CPU_BATCH_BYTES // per_image))
    probe = min(n, 8)
    torch.cuda.synchronize(image.device)
    torch.cuda.reset_peak_memory_stats(image.device)
    base = torch.cuda.memory_allocated(image.device)
    with torch.inference_mode():
        score_batch(score_fn, image.expand(probe, -1, -1, -1).clone())
    torch.cuda.synchronize(image.device)
    per_sample = max((torch.cuda.max_memory_allocated(image.device) - base) / probe, per_image)
    free, _ = torch.cuda.mem_get_info(image.device)
    free += torch.cuda.memory_reserved(image.device) - torch.cuda.memory_allocated(image.device)  # cached by torch
    return max(1, min(n, MAX_BATCH, int(0.5 * free / per_sample)))


def fill_noisy(out: torch.Tensor, image: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """`out` (k x 3xHxW) filled with clamp01(image + xi), one draw from `generator` per copy in order: the noise of
    a seeded stream does not depend on how it is batched, and fewer copies are a prefix of more."""
    for i in range(len(out)):
        out[i].normal_(0.0, sigma, generator=generator)
    return out.add_(image).clamp_(0.0, 1.0)


def iter_scores(
    score_fn: ScoreFn,
    image: torch.Tensor,
    *,
    sigma: float,
    n: int,
    generator: torch.Generator,
    batch_size: int | None = None,
    progress: bool = False,
    desc: str = "noise samples",
) -> Iterator[torch.Tensor]:
    """Yield the scores of n noisy copies of `image` (1x3xHxW, already checked) batch by batch, on its device."""
    if batch_size is None:
        batch_size = auto_batch_size(score_fn, image, n)
    batch_size = check_count(batch_size, name="batch_size")
    buffer = torch.empty((min(batch_size, n), *image.shape[1:]), device=image.device, dtype=image.dtype)
    with torch.inference_mode(), tqdm(total=n, unit="sample", desc=desc, disable=not progress, leave=False) as bar:
        for start in range(0, n, batch_size):
            b = min(batch_size, n - start)
            noisy = fill_noisy(buffer[:b], image, sigma, generator)
            scores = score_batch(score_fn, noisy)
            if scores.numel() != b:
                raise ValueError(
                    f"score_fn returned {scores.numel()} scores for a batch of {b} images; "
                    "it must map Bx3xHxW to B scores"
                )
            bar.update(b)
            yield scores


def sample_scores(
    score_fn: ScoreFn,
    image: torch.Tensor,
    *,
    sigma: float,
    n: int,
    batch_size: int | None = None,
    seed: int | None = None,
    progress: bool = False,
    device: str | torch.device | None = None,
    desc: str = "noise samples",
) -> torch.Tensor:
    """Scores of n noisy copies of `image` as a float32 CPU tensor of shape (n,), in draw order.

    The same seed gives the same noise whatever the batch size (and the same scores up to the networks' float
    rounding, which can depend on batch size and thread count).
    """
    image = check_image(image)
    sigma, n = check_sigma(sigma), check_n(n)
    if device is not None:
        image = image.to(device)
    generator = torch.Generator(device=image.device).manual_seed(resolve_seed(seed))
    batches = iter_scores(
        score_fn, image, sigma=sigma, n=n, generator=generator, batch_size=batch_size, progress=progress, desc=desc
    )
    start = time.perf_counter()
    first = next(batches)
    if first.numel() < n:  # more batches to come: estimate their cost from this one (no extra forward)
        if first.is_cuda:
            torch.cuda.synchronize(first.device)
        warn_if_costly(image, n, (time.perf_counter() - start) / first.numel())
    return finite_scores(torch.cat([first, *batches])).cpu()


def describe_cost(image: torch.Tensor, n: int, seconds_per_sample: float) -> str:
    """One line on what sampling n noisy copies of `image` costs and, when that is over COST_WARNING_SECONDS, to
    which longer side to downscale it to stay under (cost grows with the pixel count): what the CLI prints before
    sampling and what the Python API warns."""
    h, w = image.shape[-2:]
    seconds = seconds_per_sample * n
    line = (
        f"{h}x{w} image on {image.device}: one noisy sample takes {seconds_per_sample:.3g} s, so n={n} takes "
        f"about {duration(seconds)}"
    )
    if seconds > COST_WARNING_SECONDS:
        side = max(32, int(max(h, w) * math.sqrt(COST_WARNING_SECONDS / seconds)) // 32 * 32)
        line += (
            f"; a copy downscaled to a longer side of {side} px takes about "
            f"{duration(seconds * (side / max(h, w)) ** 2)} (its certificate is of that copy): "
            f"msbiqa.data.images.fit_within(image, {side}) in Python, --max-side {side} on the command line"
        )
    return line


def _cost_key(image: torch.Tensor, n: int) -> tuple:
    return (*image.shape[-2:], n, str(image.device))


def cost_reported(image: torch.Tensor, n: int) -> None:
    """Record that the caller has told the user this cost (the CLI prints it), so the sampler does not warn."""
    _warned.add(_cost_key(image, n))


def warn_if_costly(image: torch.Tensor, n: int, seconds_per_sample: float) -> None:
    """Warn (SamplingCostWarning, once per image size, n and device) when sampling is estimated to take longer
    than COST_WARNING_SECONDS."""
    if seconds_per_sample * n > COST_WARNING_SECONDS and _cost_key(image, n) not in _warned:
        cost_reported(image, n)
        warnings.warn(describe_cost(image, n, seconds_per_sample), SamplingCostWarning, stacklevel=3)


def duration(seconds: float) -> str:
    """Seconds as a short human duration."""
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} s"


def finite_scores(scores: torch.Tensor) -> torch.Tensor:
    """Check that every score is finite (one host sync at the end); a NaN would silently break the median."""
    bad = ~torch.isfinite(scores)
    if bad.any():
        raise ValueError(
            f"score_fn returned {int(bad.sum())} non-finite scores out of {scores.numel()}; "
            "the metric is unstable on noisy inputs — check it on clamp(x + noise, 0, 1) images"
        )
    return scores


def estimate_cost(score_fn: ScoreFn, image: torch.Tensor, n: int, batch_size: int | None = None) -> dict:
    """What sampling n copies of `image` will cost, from one timed forward: seconds per sample, seconds in all,
    the batch size and the bytes of the noisy batch buffer (the networks' own activations come on top)."""
    image = check_image(image)
    n = check_n(n)
    batch = batch_size or auto_batch_size(score_fn, image, n)
    with torch.inference_mode():
        start = time.perf_counter()
        score_batch(score_fn, image.clone())
        if image.is_cuda:
            torch.cuda.synchronize(image.device)
        seconds = time.perf_counter() - start
    return {
        "seconds_per_sample": seconds,
        "seconds": seconds * n,
        "batch_size": batch,
        "batch_bytes": batch * image[0].numel() * image.element_size(),
    }
