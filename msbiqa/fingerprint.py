"""Short content hashes of networks, so that result rows name exactly which weights made them."""

from __future__ import annotations

import hashlib

import torch
from torch import nn


def weights_digest(module: nn.Module | None) -> str:
    """First 12 hex digits of the sha256 of a module's parameters and buffers (names, dtypes, shapes and
    values), "none" without a module. Two files with the same tensors give the same digest; any changed
    weight gives another."""
    if module is None:
        return "none"
    if not isinstance(module, nn.Module):
        return f"callable:{getattr(module, '__qualname__', type(module).__name__)}"
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        value = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)}".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:12]
