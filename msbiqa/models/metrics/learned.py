"""The base metrics trained here (`msbiqa train-metric`): one metric wrapper, one weights-file layout, one loader.

A weights file is a dict {"format": tag, "arch": sizes, "state_dict": tensors, "config": training record}. It is
read with weights_only (tensors and plain containers, never code from the file), and its sizes are checked
against the network's limits before anything is built from them, so an untrusted file fails with one line
naming the file and the fix.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import torch
from torch import nn

from msbiqa.models.metrics.base import (
    IQAMetric,
    MissingWeightsError,
    WeightsMismatchError,
    check_fields,
    check_sizes,
    load_tensors,
)


@dataclass(frozen=True)
class WeightsSpec:
    """What a network's weights files look like: its name in messages, format tag, shipped file in
    msbiqa/weights, the size limits a file may ask for (`check_sizes`) and the command that writes one."""

    title: str
    format: str
    filename: str
    limits: dict
    make: str

    def shipped_path(self) -> Path:
        return Path(str(files("msbiqa") / "weights" / self.filename))


class LearnedMetric(IQAMetric):
    """A network trained here as an IQAMetric (MOS scale 0..100, higher is better); `config` records how its
    weights were made."""

    def __init__(self, name: str, net: nn.Module, config: dict | None = None, min_side: int | None = None):
        super().__init__(name, higher_is_better=True, score_range=(0.0, 100.0), min_side=min_side)
        self.net = net.eval()
        self.config = dict(config or {})

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def checkpoint(net: nn.Module, config: dict) -> dict:
    """The weights file's content: the network's format tag and sizes (`net.spec`, `net.arch`), its parameters
    and the training record."""
    state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    return {"format": net.spec.format, "arch": net.arch, "state_dict": state, "config": config}


def save_checkpoint(net: nn.Module, config: dict, path) -> None:
    """Write the weights file byte-reproducibly: torch.save names its zip records after the file, so it
    writes to memory first (records always named 'archive') and the bytes then go to `path`."""
    buffer = io.BytesIO()
    torch.save(checkpoint(net, config), buffer)
    Path(path).write_bytes(buffer.getvalue())


def load_weights(weights, spec: WeightsSpec, build) -> tuple[nn.Module, dict]:
    """(network, training record) from `weights` (by default the shipped file), the network made by
    `build(**arch)` once the file's format, fields and sizes are checked."""
    path = Path(weights) if weights is not None else spec.shipped_path()
    fix = f"make one with `{spec.make}`"
    if not path.is_file():
        hint = f"reinstall msbiqa or run `{spec.make}`" if weights is None else "check the path"
        raise MissingWeightsError(f"{spec.title} weights file not found: {path} ({hint})")
    ckpt = load_tensors(path)
    found = ckpt.get("format") if isinstance(ckpt, dict) else None
    if found != spec.format:
        what = (
            f"format tag {found!r}, not {spec.format!r}" if isinstance(found, str) else f"no format tag {spec.format!r}"
        )
        other = found[len("msbiqa-") :] if isinstance(found, str) and found.startswith("msbiqa-") else None
        also = f"; or load it as metric {other!r}" if other else ""
        raise WeightsMismatchError(f"{path} is not a {spec.title} weights file ({what}); {fix}{also}")
    check_fields(ckpt, {"arch": dict, "state_dict": dict, "config": dict}, path, fix)
    check_sizes(ckpt["arch"], spec.limits, path, fix)
    try:
        net = build(**ckpt["arch"])
        net.load_state_dict(ckpt["state_dict"])
    except (KeyError, TypeError, RuntimeError) as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
        reason = next((line for line in lines if not line.endswith(":")), lines[0])  # past "Error(s) in loading...:"
        raise WeightsMismatchError(f"{path} does not fit {spec.title}: {reason}; {fix}") from None
    return net, ckpt["config"]
