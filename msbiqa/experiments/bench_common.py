"""What the certification benchmarks share (`bench`, `bench_compile`): the setting they certify at, the paper's
public sigma, eps and alpha with a fixed noise seed, and a timer that waits for the device before it stops."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

SIGMA, EPS, ALPHA, SEED = 0.12, 0.05, 0.001, 0  # the paper's public setting


def timed(fn: Callable[[], torch.Tensor], device: torch.device) -> tuple[float, torch.Tensor]:
    """(seconds, result) of `fn()`, CUDA work included (synchronised before and after)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, out
