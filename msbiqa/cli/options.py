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

from msbiqa.devices import Compute
from msbiqa.models.metrics import MetricChoice
from msbiqa.settings import setting
from msbiqa.smoothing.certify import Bounds


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


def _settings(cls, defaults=None, skip=()):
    """(field, element type, is a list, default) of every documented field of dataclass `cls`, nested dataclasses
    flattened into their fields (defaults from the nested default instance, or from `defaults`)."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if not field.init or field.name in skip or "help" not in field.metadata:
            continue
        default = getattr(defaults, field.name) if defaults is not None else _default(field)
        kind, many = _base(hints[field.name])
        if dataclasses.is_dataclass(kind):
            yield from _settings(kind, default, skip)
        else:
            yield field, kind, many, default


def add_options(parser, cls, *, skip=(), use_defaults: bool = True) -> None:
    """Add one option per documented field of dataclass `cls` and of the dataclasses it nests (fields named in
    `skip` left out). With use_defaults=False the options default to None ("not given"; the caller fills in
    defaults that depend on other options)."""
    for field, kind, many, default in _settings(cls, skip=skip):
        meta = field.metadata
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


def given(cls, args, defaults=None) -> dict:
    """The options of dataclass `cls` that were given on the command line (not None), by field name; a nested
    dataclass is given as its default (from `defaults`, the enclosing default, as `_settings` takes it) with the
    given options of its own replaced."""
    out = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind = _base(hints[f.name])[0]
        if f.init and "help" in f.metadata and dataclasses.is_dataclass(kind):
            default = getattr(defaults, f.name) if defaults is not None else _default(f)
            out[f.name] = dataclasses.replace(default, **given(kind, args, default))
        elif f.init and getattr(args, f.name, None) is not None:
            out[f.name] = getattr(args, f.name)
    return out


def from_args(cls, args, **extra):
    """An instance of `cls` from the parsed options it declared (those not given keep the field default)."""
    return cls(**{**given(cls, args), **extra})


@dataclass
class Smoothing:
    """The defended metric and certificate settings shared by `certify` and `attack`."""

    base: MetricChoice = setting(MetricChoice(), "the base metric")
    denoiser: str | None = setting(None, "denoiser name (dms, dms-iqa) or weights file; none = plain MS")
    sigma: float = setting(0.12, "noise std on [0, 1] images")
    bounds: Bounds = setting(Bounds(n=1000), "the certificate (attack: eps is also the attack's radius)")
    seed: int = setting(0, "noise seed")
    compute: Compute = setting(Compute(), "where it computes")
    max_side: int | None = setting(
        None,
        "downscale images whose longer side exceeds this many pixels (the certificate is then of the downscaled image)",
    )

    def __post_init__(self):
        from msbiqa.data.images import MIN_SIDE

        if self.max_side is not None and self.max_side < MIN_SIDE:
            raise ValueError(
                f"--max-side {self.max_side}: the longer side to downscale to must be at least {MIN_SIDE} pixels "
                "(e.g. --max-side 1024); leave it out to certify the image as it is"
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
            cost = estimate_cost(defended.score_noisy, device_image, self.bounds.n, batch_size)
            print(
                f"{describe_cost(device_image, self.bounds.n, cost['seconds_per_sample'])}; noisy batches of "
                f"{cost['batch_size']} images hold {cost['batch_bytes'] / 2**20:.0f} MiB (the networks' activations "
                "come on top)",
                file=sys.stderr,
            )
            cost_reported(device_image, self.bounds.n)  # said just now: the sampler need not warn again
        return image

    def build(self):
        """(device, DefendedMetric); checks that n can certify eps/sigma before any network is loaded."""
        from msbiqa.models.denoisers import load_denoiser
        from msbiqa.smoothing import DefendedMetric

        self.bounds.check(self.sigma)
        device = self.compute.apply()
        metric = self.base.load(device)
        denoiser = load_denoiser(self.denoiser, sigma=self.sigma, device=device) if self.denoiser else None
        return device, DefendedMetric(metric, self.sigma, denoiser)
