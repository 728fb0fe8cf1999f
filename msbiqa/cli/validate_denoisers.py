"""`msbiqa validate-denoisers FILE ...`: the fair test's selection proxy (docs/fair_test_rules.md, section 4) of
finished denoisers: SROCC of the defended score against MOS on the validation split with 95 % intervals over
images and over photos, the within-image SD, the normalised spread and PSNR; one CSV row per weights file,
resumable."""

from __future__ import annotations

from dataclasses import dataclass

from msbiqa.cli.options import add_options, from_args
from msbiqa.devices import Compute
from msbiqa.models.metrics import MetricChoice
from msbiqa.models.validation import PROXY_DRAWS, SEED
from msbiqa.settings import setting
from msbiqa.statistics.uncertainty import Bootstrap


@dataclass
class ProxyOptions:
    """The proxy's images, noise and base metric."""

    dataset: str = setting("embedded", "dataset: embedded, koniq10k, spaq, clive")
    root: str | None = setting(None, "dataset folder (not needed for embedded)")
    split: str = setting("val", "split of the proxy's images")
    images: int | None = setting(None, "images spread over the split (default: all)")
    draws: int = setting(PROXY_DRAWS, "noise draws per image")
    noise_seed: int = setting(SEED, "seed of the noise (the same draws for every denoiser)")
    sigma: float | None = setting(None, "noise std (default: each denoiser's training sigma)")
    base: MetricChoice = setting(MetricChoice(), "the base metric")
    bootstrap: Bootstrap = setting(Bootstrap(), "the intervals")
    compute: Compute = setting(Compute(), "where it computes")


def register(sub) -> None:
    p = sub.add_parser("validate-denoisers", help="the validation proxy of trained denoisers (fair-test rules)")
    p.add_argument("denoisers", nargs="+", help="weights files, shipped names (dms, dms-iqa) or none (plain MS)")
    add_options(p, ProxyOptions)
    p.add_argument("--out", default="results/validation/proxy.csv", help="CSV of rows, appended and resumed")
    p.set_defaults(func=run)


def run(args) -> int:
    from msbiqa.data import load_dataset
    from msbiqa.experiments.proxy_runs import validate_files
    from msbiqa.models.validation import ProxySet

    o = from_args(ProxyOptions, args)
    device = o.compute.apply()
    metric = o.base.load(device)
    proxy = ProxySet.from_dataset(load_dataset(o.dataset, root=o.root, split=o.split), o.images)
    constants = {"metric": metric.name, "dataset": o.dataset, "split": o.split, "noise_seed": o.noise_seed}
    rows = validate_files(
        args.denoisers,
        metric,
        proxy,
        out_csv=args.out,
        constants={**constants, "images_asked": o.images},
        sigma=o.sigma,
        draws=o.draws,
        seed=o.noise_seed,
        config=o.bootstrap,
        device=device,
    )
    for row in rows:
        print(
            f"{row['denoiser']}: SROCC {row['srocc']:.3f} [{row['srocc_lo']:.3f}, {row['srocc_hi']:.3f}] over images, "
            f"[{row['srocc_photo_lo']:.3f}, {row['srocc_photo_hi']:.3f}] over photos; within-image SD "
            f"{row['within_sd']:.3f}, normalised spread {row['spread']:.3f}, PSNR {row['psnr']:.2f} dB"
        )
    print(f"{len(rows)} denoisers validated, {len(args.denoisers) - len(rows)} already in {args.out}")
    return 0
