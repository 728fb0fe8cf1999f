"""Command-line options generated from the dataclasses that hold the defaults, so each setting is declared once.

A dataclass field becomes an option when its metadata has "help" (see `msbiqa.settings.setting`): `--field-name` (or
metadata "flag"), typed from the annotation (bool -> a flag, list[T] -> one or more T, T | None -> T),
converted by metadata "parse" and limited to metadata "choices" when given.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path

from msbiqa.settings import setting


def _base(annotation) -> tuple[type, bool]:
    """(element type, is a list) of a field annotation such as float, int | None, list[float]."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if typing.get_origin(annotation) is list:
        return _base(typing.get_args(annotation)[0])[0], True
    return annotation, False


def _converter(parse):
    """`parse` for argparse: its ValueError message becomes the option's error message."""

    def convert(text: str):
        try:
            return parse(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    convert.__name__ = parse.__name__
    return convert


def _default(field: dataclasses.Field):
    return field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default


def add_options(parser, cls, *, skip=(), use_defaults: bool = True) -> None:
    """Add one option per documented field of dataclass `cls` (not in `skip`). With use_defaults=False the
    options default to None ("not given"; the caller fills in defaults that depend on other options)."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        meta = field.metadata
        if not field.init or field.name in skip or "help" not in meta:
            continue
        kind, many = _base(hints[field.name])
        default = _default(field)
        shown = " ".join(map(str, default)) if isinstance(default, list) else default
        text = meta["help"] + ("" if default is None or kind is bool else f" (default {shown})")
        options = {"dest": field.name, "help": text, "default": default if use_defaults else None}
        if kind is bool:
            options.update(action="store_true", default=False if use_defaults else None)
        else:
            options.update(type=_converter(meta.get("parse", kind)), metavar=meta.get("metavar"))
            if many:
                options["nargs"] = "+"
            if "choices" in meta:
                options["choices"] = meta["choices"]
        parser.add_argument(meta.get("flag", "--" + field.name.replace("_", "-")), **options)


def given(cls, args) -> dict:
    """The options of dataclass `cls` that were given on the command line (not None), by field name."""
    return {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(cls)
        if f.init and getattr(args, f.name, None) is not None
    }


def from_args(cls, args, **extra):
    """An instance of `cls` from the parsed options it declared (those not given keep the field default)."""
    return cls(**{**given(cls, args), **extra})


@dataclass
class DataSource:
    """The dataset options every command that reads a dataset takes."""

    dataset: str = setting("embedded", "dataset: embedded, koniq10k, spaq, clive, pyiqa")
    root: str | None = setting(
        None, "dataset folder (not needed for embedded); relative paths are to the current folder"
    )
    split: str = setting("test", "split: train, val, test, all (embedded also test-ood)")

    def load(self, **kwargs):
        """The dataset (its reader checks the folder and names the files it expected)."""
        from msbiqa.data import load_dataset

        root = str(Path(self.root).expanduser().resolve()) if self.root else None
        return load_dataset(self.dataset, root=root, split=self.split, **kwargs)


@dataclass
class Smoothing:
    """The defended metric and certificate settings shared by `certify` and `attack`."""

    metric: str | None = setting(None, "base metric: default (trained here), tinyiqa, pyiqa:NAME, niqe, brisque")
    weights: str | None = setting(None, "weights file of the base metric")
    denoiser: str | None = setting(None, "denoiser name (dms, dms-iqa) or weights file; none = plain MS")
    sigma: float = setting(0.12, "noise std on [0, 1] images")
    eps: float = setting(0.05, "l2 radius to certify (and to attack)")
    n: int = setting(1000, "noise samples per estimate")
    alpha: float = setting(0.001, "failure probability of each bound")
    device: str | None = setting(None, "cpu, cuda, cuda:1 ... (default: cuda if available)")
    max_side: int | None = setting(
        None,
        "downscale images whose longer side exceeds this many pixels (the certificate is then of the downscaled image)",
    )

    def prepare(self, defended, image, device, *, batch_size: int | None = None, quiet: bool = False):
        """The image as it will be certified (downscaled to max_side, checked against the metric's minimum size),
        after printing to stderr what sampling it will cost, measured on one noisy copy."""
        from msbiqa.data.images import fit_within
        from msbiqa.smoothing.sampler import cost_reported, describe_cost, estimate_cost

        if self.max_side:
            image = fit_within(image, self.max_side)
        defended.check_size(image)
        if not quiet:
            device_image = image.to(device)
            cost = estimate_cost(defended.score_noisy, device_image, self.n, batch_size)
            print(
                f"{describe_cost(device_image, self.n, cost['seconds_per_sample'])}; noisy batches of "
                f"{cost['batch_size']} images hold {cost['batch_bytes'] / 2**20:.0f} MiB (the networks' activations "
                "come on top)",
                file=sys.stderr,
            )
            cost_reported(device_image, self.n)  # said just now: the sampler need not warn again
        return image

    def build(self):
        """(device, DefendedMetric); checks that n can certify eps/sigma before any network is loaded."""
        from msbiqa.models.denoisers import load_denoiser
        from msbiqa.models.metrics import load_metric
        from msbiqa.smoothing import DefendedMetric, order_statistic_ranks
        from msbiqa.smoothing.validate import default_device

        order_statistic_ranks(self.n, self.sigma, self.eps, self.alpha)
        device = default_device(self.device)
        metric = load_metric(self.metric, weights=self.weights, device=device)
        denoiser = load_denoiser(self.denoiser, sigma=self.sigma, device=device) if self.denoiser else None
        return device, DefendedMetric(metric, self.sigma, denoiser)
