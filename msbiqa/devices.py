"""Which torch device a run uses: the one asked for, checked to exist here, or the best this machine has; and the
settings of where a command computes (`Compute`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from msbiqa.settings import setting
from msbiqa.smoothing.validate import check_count


def default_device(device=None) -> torch.device:
    """`device` as a torch.device, checked to exist on this machine; None means CUDA when available, else CPU."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"unknown device {device!r}; use cpu, cuda or cuda:N ({err})") from None
    available = {
        "cpu": lambda: True,
        "cuda": lambda: torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count(),
        "mps": lambda: torch.backends.mps.is_available(),
    }
    if not available.get(device.type, lambda: False)():
        raise ValueError(
            f"device {str(device)!r} is not available on this machine (torch {torch.__version__} sees "
            f"{torch.cuda.device_count()} CUDA device(s)); use --device cpu, or leave it unset to pick one"
        )
    return device


@dataclass
class Compute:
    """Where a command computes: its device and, on CPU, its number of threads (the settings every computing
    command shares)."""

    device: str | None = setting(None, "cpu, cuda, cuda:1 ... (default: cuda if available)")
    threads: int | None = setting(
        None, "CPU threads of this process (not given: torch's own count); 1 is fastest on a CPU shared with other jobs"
    )

    def __post_init__(self):
        if self.threads is not None:
            check_count(self.threads, name="threads")

    def apply(self) -> torch.device:
        """Set torch's CPU threads (when given) and return the device, checked to exist here."""
        if self.threads:
            torch.set_num_threads(int(self.threads))
        return default_device(self.device)
