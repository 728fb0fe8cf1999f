"""Denoisers for denoised median smoothing: DnCNN (DMS baseline) and a U-Net (DMS-IQA).

Both take clamped noisy images clamp01(x + xi) in [0, 1] (the sampler clamps before denoising),
predict the noise residually and return a clean estimate clamped to [0, 1]. They run channels_last,
which makes the convolutions 2-3x faster on CPU. Weights files hold the
architecture, its hyper-parameters, an fp16 state dict and the training config, so a file always
says how it was made and cannot be loaded into the wrong network silently.
"""

from __future__ import annotations

import math
import re
from importlib.resources import files
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from msbiqa.models.losses import LossWeights
from msbiqa.models.metrics.base import WeightsMismatchError, check_fields, check_sizes, load_tensors

FORMAT = "msbiqa-denoiser"
FORMAT_VERSION = 1
DEFAULT_SIGMA = 0.12
DNCNN_SHAPE = {"depth": 10, "channels": 24}  # lighter than Salman et al.'s DnCNN-17/64: ~9x fewer MACs per pixel
UNET_SHAPE = {"depth": 3, "width": 16}
FULL_LOSS = LossWeights(mse=1.0, rank=4.0, target=256.0)  # DMS-IQA's objective: MSE + rank + target
ARCHITECTURE_NAMES = {"dncnn": "DnCNN", "unet": "U-Net"}
LOSS_NAMES = ("MSE", "MSE + rank + target")  # the ablation's two objectives: pixels only, or through the metric


class Kind(NamedTuple):
    """A denoiser kind: its architecture, the architecture's hyper-parameters and the loss it is trained with."""

    arch: str
    hparams: dict
    loss: LossWeights

    @property
    def cell(self) -> tuple[str, str]:
        """(architecture, loss) as the ablation names them: one factor at a time, DnCNN or U-Net x MSE or the full
        objective."""
        return ARCHITECTURE_NAMES[self.arch], LOSS_NAMES[self.loss.through_metric]


KINDS = {
    "dms": Kind("dncnn", DNCNN_SHAPE, LossWeights(mse=1.0)),
    "dncnn-full": Kind("dncnn", DNCNN_SHAPE, FULL_LOSS),
    "unet-mse": Kind("unet", UNET_SHAPE, LossWeights(mse=1.0)),
    "dms-iqa": Kind("unet", UNET_SHAPE, FULL_LOSS),
}
# The ablation of the method's two changes over DMS, one factor at a time: (architecture, loss) -> kind.
ABLATION = {kind.cell: name for name, kind in KINDS.items()}
_WEIGHTS_FILE = re.compile(r"^(" + "|".join(map(re.escape, KINDS)) + r")-sigma(\d+(?:\.\d+)?)\.pt$")


def weights_filename(kind: str, sigma: float) -> str:
    """File name of a denoiser of `kind` trained at `sigma`, as shipped and as `load_denoiser` finds it in a
    folder: e.g. dms-iqa-sigma0.12.pt."""
    return f"{kind}-sigma{float(sigma):g}.pt"


class Denoiser(nn.Module):
    """Base class: `denoise` is the raw (unclamped) estimate used for pixel losses; `forward` clamps it."""

    arch = ""

    def hparams(self) -> dict:
        """Constructor arguments that rebuild this architecture."""
        raise NotImplementedError

    def denoise(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.denoise(x).clamp(0.0, 1.0)

    @property
    def trained_through(self) -> str | None:
        """The base metric this denoiser's training scored its outputs with (a rank, target or consistency loss: it
        is then specific to that metric), None when training never saw a metric (MSE only, or no training record)."""
        config = getattr(self, "config", None) or {}
        weights = config.get("weights") or {}
        if not LossWeights(**{k: float(weights.get(k) or 0) for k in LossWeights().to_dict()}).through_metric:
            return None
        return str(config.get("base_metric") or "the default metric")


def _zero(conv: nn.Conv2d) -> nn.Conv2d:
    """Zero-initialise the noise-estimate layer: a fresh denoiser is the identity, so training starts at the
    noisy-input error instead of far above it."""
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class DnCNN(Denoiser):
    """DnCNN (Zhang et al. 2017) as used by Salman et al. 2020: conv-ReLU, (depth-2) x conv-BN-ReLU,
    conv; the network predicts the noise, which is subtracted from the input."""

    arch = "dncnn"

    def __init__(self, depth: int = 17, channels: int = 64, in_channels: int = 3):
        super().__init__()
        if depth < 3 or channels < 1:
            raise ValueError(f"DnCNN needs depth >= 3 and channels >= 1, got depth={depth}, channels={channels}")
        self.depth, self.channels, self.in_channels = depth, channels, in_channels
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [
                nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
            ]
        layers.append(_zero(nn.Conv2d(channels, in_channels, 3, padding=1)))
        self.net = nn.Sequential(*layers)

    def hparams(self) -> dict:
        return {"depth": self.depth, "channels": self.channels, "in_channels": self.in_channels}

    def denoise(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.net(x.contiguous(memory_format=torch.channels_last))


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.ReLU(inplace=True),
    )


class UNet(Denoiser):
    """Residual U-Net: `depth` 2x downsamplings, `width` channels at full resolution (doubling per level),
    transposed-conv upsampling with skip concatenation. Most work happens at reduced resolution, so it is
    several times cheaper per pixel than DnCNN. The body sees x - 0.5 (centred input trains faster without
    normalisation layers); inputs of any size are padded to a multiple of 2**depth."""

    arch = "unet"

    def __init__(self, depth: int = 3, width: int = 32, in_channels: int = 3):
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError(f"UNet needs depth >= 1 and width >= 1, got depth={depth}, width={width}")
        self.depth, self.width, self.in_channels = depth, width, in_channels
        chans = [width * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList(_block(cin, cout) for cin, cout in zip([in_channels] + chans[:-2], chans[:-1]))
        self.bottom = _block(chans[-2], chans[-1])
        self.upsample = nn.ModuleList(nn.ConvTranspose2d(chans[i + 1], chans[i], 2, stride=2) for i in range(depth))
        self.up = nn.ModuleList(_block(2 * chans[i], chans[i]) for i in range(depth))
        self.head = _zero(nn.Conv2d(width, in_channels, 1))

    def hparams(self) -> dict:
        return {"depth": self.depth, "width": self.width, "in_channels": self.in_channels}

    def denoise(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = 2**self.depth
        y = F.pad(x - 0.5, (0, -w % m, 0, -h % m), mode="replicate").contiguous(memory_format=torch.channels_last)
        skips = []
        for block in self.down:
            y = block(y)
            skips.append(y)
            y = F.avg_pool2d(y, 2)
        y = self.bottom(y)
        for i in reversed(range(self.depth)):
            y = self.up[i](torch.cat([self.upsample[i](y), skips[i]], dim=1))
        return x - self.head(y)[..., :h, :w]


ARCHITECTURES: dict[str, type[Denoiser]] = {"dncnn": DnCNN, "unet": UNet}
LIMITS = {  # the sizes a weights file may ask for: generous around those trained here (DnCNN-17 x 64, U-Net 3 x 32)
    "dncnn": {"depth": (3, 64), "channels": (1, 512), "in_channels": (1, 4)},
    "unet": {"depth": (1, 6), "width": (1, 128), "in_channels": (1, 4)},
}


def build_denoiser(arch: str, **hparams) -> Denoiser:
    """A freshly initialised denoiser of architecture `arch` ("dncnn" or "unet")."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown denoiser architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[arch](**hparams)


def save_denoiser(model: Denoiser, path: str | Path, config: dict | None = None, *, half: bool = True) -> Path:
    """Write architecture, hyper-parameters, state dict (fp16 when `half`: half the size, ample precision)
    and the training config (sigma, losses, weights, data, base metric, seed, epochs ...) to `path`."""
    state = {
        k: (v.half() if half and v.is_floating_point() else v).detach().cpu().clone()
        for k, v in model.state_dict().items()
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "arch": model.arch,
            "hparams": model.hparams(),
            "state_dict": state,
            "config": dict(config or {}),
        },
        path,
    )
    return path


def read_weights_file(path: str | Path) -> dict:
    """The raw contents of a denoiser weights file, checked to be one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"denoiser weights file not found: {path}")
    blob = load_tensors(path)
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ValueError(
            f"{path} is not an msbiqa denoiser weights file (written by msbiqa.models.denoisers.save_denoiser)"
        )
    fix = "use a file written by `msbiqa train-denoiser`"
    check_fields(blob, {"arch": str, "hparams": dict, "state_dict": dict, "config": dict}, path, fix)
    if blob["arch"] not in LIMITS:
        raise WeightsMismatchError(f"{path}: unknown architecture {blob['arch']!r} (known: {sorted(LIMITS)}): {fix}")
    check_sizes(blob["hparams"], LIMITS[blob["arch"]], path, fix)
    return blob


def load_weights(model: Denoiser, path: str | Path) -> Denoiser:
    """Load the weights in `path` into `model`, or raise a ValueError saying how file and model differ."""
    return _apply(model, read_weights_file(path), path)


def _apply(model: Denoiser, blob: dict, path) -> Denoiser:
    if blob["arch"] != model.arch or blob["hparams"] != model.hparams():
        raise ValueError(
            f"{path} holds a {blob['arch']} denoiser with {blob['hparams']}, but the model is a "
            f"{model.arch} with {model.hparams()}; build it with build_denoiser({blob['arch']!r}, **{blob['hparams']})"
        )
    ref = model.state_dict()
    state = blob["state_dict"]
    bad = sorted(set(ref) ^ set(state)) + [k for k in ref if k in state and ref[k].shape != state[k].shape]
    if bad:
        raise ValueError(f"{path} does not match the {model.arch} architecture: mismatched tensors {bad[:5]}")
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(
            f"{path} holds non-finite (NaN or inf) weights in {bad[:3]}; the training diverged: "
            "retrain (lower the learning rate) or use another file"
        )
    model.load_state_dict({k: v.to(ref[k].dtype) for k, v in state.items()})
    model.config = blob["config"]
    return model


def shipped_weights() -> dict[str, dict[float, Path]]:
    """Shipped weights files by name ("dms", "dms-iqa") and sigma."""
    found: dict[str, dict[float, Path]] = {kind: {} for kind in KINDS}
    folder = files("msbiqa") / "weights"
    for entry in folder.iterdir() if folder.is_dir() else ():
        match = _WEIGHTS_FILE.match(entry.name)
        if match:
            found[match[1]][float(match[2])] = Path(str(entry))
    return found


def shipped_path(name: str, sigma: float | None = None) -> Path:
    """The shipped weights file of `name` for `sigma` (default 0.12), or an error listing the shipped sigmas."""
    sigma = DEFAULT_SIGMA if sigma is None else float(sigma)
    available = shipped_weights()[name]
    for s, path in available.items():
        if math.isclose(s, sigma, rel_tol=1e-6, abs_tol=1e-9):
            return path
    raise ValueError(
        f"no shipped {name!r} denoiser for sigma={sigma}; shipped sigmas: {sorted(available) or 'none'}. "
        f"Train one with `msbiqa train-denoiser --kind {name} --sigma {sigma}` and pass its path"
    )


def load_denoiser(name_or_path: str | Path, sigma: float | None = None, device=None) -> Denoiser:
    """A trained denoiser in eval mode with frozen weights, its training config in `.config` and its file
    name in `.name`.

    `name_or_path` is "dms" (DnCNN, MSE) or "dms-iqa" (U-Net, MSE + rank + target), which pick the shipped
    file for `sigma` (default 0.12), or a weights file path; then `sigma`, when given, must match the
    sigma it was trained at.
    """
    if str(name_or_path) in KINDS:
        path = shipped_path(str(name_or_path), sigma)
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise FileNotFoundError(
                f"denoiser weights file not found: {path} (names: {sorted(KINDS)}, or the path of a file "
                "written by `msbiqa train-denoiser`)"
            )
    blob = read_weights_file(path)
    trained = blob["config"].get("sigma")
    if sigma is not None and trained is not None and not math.isclose(float(trained), float(sigma), rel_tol=1e-6):
        raise ValueError(f"{path} was trained at sigma={trained}, not sigma={sigma}; use a denoiser trained at {sigma}")
    model = _apply(build_denoiser(blob["arch"], **blob["hparams"]), blob, path)
    model.eval().requires_grad_(False)
    model.name = path.name
    return model.to(device) if device is not None else model
