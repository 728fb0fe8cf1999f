"""Any pyiqa no-reference metric as an IQAMetric, built strictly offline.

Scoring calls pyiqa's network (`InferenceModel.net`) directly. pyiqa's own `InferenceModel.forward`
adds nothing to the computation: it asserts a [0, 1] input range, forces cudnn flags and disables
gradients, then calls the same network (which does its own resizing/normalisation). Calling the
network keeps precision, cudnn flags and gradients under the caller's control, as a sampler and a
gradient-based attack or training loop need. pyiqa is a dependency only (non-commercial licence).
"""

from __future__ import annotations

import contextlib
import io
import pickle
import urllib.request
from pathlib import Path

import torch

from msbiqa.devices import default_device
from msbiqa.models.metrics.base import IQAMetric, MissingWeightsError, WeightsMismatchError, unreadable_weights

# pyiqa's distribution metrics score sets of images, not one image: they cannot be base metrics.
NOT_PER_IMAGE = {"fid", "fid_dinov2", "sfid", "inception_score"}


class PyiqaMetric(IQAMetric):
    """A pyiqa network with pyiqa's score direction and range.

    Networks without parameters (PIQE, NIQE, BRISQUE, ...) are hand-crafted statistics that lose their
    meaning in reduced precision: they run in float32 with autocast off. Learned networks follow the caller.
    `min_side` (default: probed on first use) rejects images too small for the network or its block statistics.
    """

    def __init__(
        self, name: str, net: torch.nn.Module, higher_is_better: bool, score_range, min_side: int | None = None
    ):
        super().__init__(name, higher_is_better, score_range, min_side)
        self.net = net.eval()
        self.hand_crafted = next(net.parameters(), None) is None

    def score(self, x: torch.Tensor) -> torch.Tensor:
        if not self.hand_crafted:
            return self.net(x)
        with torch.autocast(x.device.type, enabled=False):
            return self.net(x.float()).float()


def parse_score_range(text: str | None) -> tuple[float, float]:
    """pyiqa's approximate range string ('~0, ~1', '0, 100', '~0, ~') as floats; a missing bound is unbounded.
    The range only labels the scale; nothing (bins, scaling of losses) trusts it to hold every score."""
    parts = [part.strip().lstrip("~").strip() for part in str(text or ",").split(",")]
    if len(parts) != 2:
        return (float("-inf"), float("inf"))
    lo, hi = (float(p) if p else default for p, default in zip(parts, (float("-inf"), float("inf"))))
    return (lo, hi)


def safe_torch_load(original):
    """`torch.load` that only ever unpickles tensors and plain containers (weights_only=True), whatever the
    caller asks: weights files are untrusted, and a full unpickle runs any code hidden in them. A file that
    needs more, or is corrupt, becomes a WeightsMismatchError naming it."""

    def load(source, *args, **kwargs):
        kwargs["weights_only"] = True
        try:
            return original(source, *args, **kwargs)
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as err:
            raise WeightsMismatchError(unreadable_weights(getattr(source, "name", source), err)) from None

    return load


@contextlib.contextmanager
def no_downloads(metric: str):
    """Turn every download pyiqa could start into a MissingWeightsError naming the file to place, and load
    every weights file (the user's or one in pyiqa's cache) with `safe_torch_load`.

    Covers pyiqa's own weights cache, torch.hub checkpoints (torchvision backbones), plain urllib fetches
    (CLIP) and the Hugging Face Hub (timm, transformers), which is switched to offline mode meanwhile.
    """
    import huggingface_hub.constants as hf_constants
    import pyiqa.utils.download_util as pyiqa_download

    def refuse_file(url, dst, *args, **kwargs):
        raise MissingWeightsError(
            f"{metric} needs the file {dst}, which is not there, and msbiqa never downloads at run time. "
            f"Fetch {url} on a machine with network access and place it at exactly that path."
        )

    def refuse_url(url, *args, **kwargs):
        url = getattr(url, "full_url", url)
        raise MissingWeightsError(
            f"{metric} tried to download {url}; msbiqa never downloads at run time. Build this metric once "
            "with pyiqa on a machine with network access and copy its cache (under $TORCH_HOME/hub) here."
        )

    patches = [
        (pyiqa_download, "download_url_to_file", refuse_file),
        (torch.hub, "download_url_to_file", refuse_file),
        (urllib.request, "urlopen", refuse_url),
        (hf_constants, "HF_HUB_OFFLINE", True),
        (torch, "load", safe_torch_load(torch.load)),
    ]
    saved = [(obj, attr, getattr(obj, attr)) for obj, attr, _ in patches]
    try:
        for obj, attr, value in patches:
            setattr(obj, attr, value)
        yield
    finally:
        for obj, attr, value in saved:
            setattr(obj, attr, value)


def load_pyiqa_metric(name: str, weights=None, device=None, **options) -> PyiqaMetric:
    """pyiqa NR metric `name` with its default options updated by `options` (e.g. pretrained=None).

    Weights come from `weights` (a pyiqa checkpoint, passed as `pretrained_model_path`) or from pyiqa's
    cache under $TORCH_HOME/hub/pyiqa; a missing file raises MissingWeightsError at once, without network.
    """
    import pyiqa
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled
    from pyiqa.default_model_configs import DEFAULT_CONFIGS

    label = f"pyiqa:{name}"
    nr_metrics = set(pyiqa.list_models(metric_mode="NR")) - NOT_PER_IMAGE
    if name not in nr_metrics:
        raise ValueError(
            f"{label} is not a pyiqa no-reference per-image metric; choose one of: {', '.join(sorted(nr_metrics))}"
        )
    if weights is not None:
        weights = Path(weights)
        if not weights.is_file():
            raise MissingWeightsError(f"weights file for {label} not found: {weights}")
        options["pretrained_model_path"] = str(weights)
    with no_downloads(label), contextlib.redirect_stdout(io.StringIO()):  # pyiqa prints to stdout (bad for --json)
        try:
            model = pyiqa.create_metric(name, device=torch.device("cpu"), **options)
        except (MissingWeightsError, WeightsMismatchError):
            raise
        except (LocalEntryNotFoundError, OfflineModeIsEnabled) as err:
            raise MissingWeightsError(_hub_message(label, err)) from None
        except TypeError as err:
            if weights is not None and "pretrained_model_path" in str(err):
                raise ValueError(f"{label} has no weights to load; call it without weights") from None
            raise
        except Exception as err:
            if weights is None:
                raise
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise WeightsMismatchError(
                f"weights file {weights} does not fit {label}: {type(err).__name__}: {first_line} "
                "(pyiqa expects a checkpoint for this exact architecture, usually a dict with key 'params')"
            ) from None
    cfg = DEFAULT_CONFIGS[name]
    higher_is_better = not cfg.get("lower_better", False)
    metric = PyiqaMetric(label, model.net, higher_is_better, parse_score_range(cfg.get("score_range")))
    return metric.to(default_device(device))


def _hub_message(label: str, err: BaseException) -> str:
    """Name the Hugging Face Hub file a failed offline lookup wanted (read from the traceback's frames)."""
    from huggingface_hub.constants import HF_HUB_CACHE

    wanted, command, tb = "a file", "hf download REPO FILE", err.__traceback__
    while tb is not None:
        local = tb.tb_frame.f_locals
        if "repo_id" in local and "filename" in local:
            wanted = f"{local['filename']} of the Hub repository {local['repo_id']}"
            command = f"hf download {local['repo_id']} {local['filename']}"
        tb = tb.tb_next
    return (
        f"{label} needs {wanted}, which is not in the Hugging Face cache {HF_HUB_CACHE}, and msbiqa never "
        f"downloads at run time. Fetch it into that cache on a machine with network access (`{command}`) "
        "and copy the cache here."
    )
