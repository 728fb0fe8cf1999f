"""`msbiqa attack`: attack the defended metric inside the certified ball and check the certificates."""

from __future__ import annotations

import json

from msbiqa.cli.options import Smoothing, add_options, from_args
from msbiqa.data.source import DataSource


def register(sub) -> None:
    p = sub.add_parser(
        "attack",
        help="EOT-PGD on the defended metric vs its certificates, next to PGD on the undefended metric",
    )
    p.add_argument("images", nargs="*", help="image files (default: the embedded data set)")
    add_options(p, DataSource)
    p.add_argument("--limit", type=int, default=8, help="data set images, spread evenly over the split (default 8)")
    add_options(p, Smoothing)
    p.add_argument("--beta", type=float, default=None, help="per side, for the re-estimated median (default alpha)")
    p.add_argument("--steps", type=int, default=20, help="PGD steps (default 20)")
    p.add_argument("--eot-samples", type=int, default=8, help="noise draws per EOT-PGD step (default 8)")
    p.add_argument(
        "--out",
        default=None,
        help="per-image CSV, written as rows finish (a killed run resumes from it; checked writable first)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from msbiqa.experiments.certificate_check import certificate_check

    smoothing = from_args(Smoothing, args)
    device, defended = smoothing.build()
    if args.images:
        from msbiqa.data.images import load_image

        images, names = [load_image(f) for f in args.images], list(args.images)
    else:
        from msbiqa.data.subsets import spread

        ds = from_args(DataSource, args).load()
        items = [ds[i] for i in spread(len(ds), args.limit)]
        images, names = [img for img, _, _ in items], [name for _, _, name in items]
    images = [smoothing.prepare(defended, img, device, quiet=args.json or k > 0) for k, img in enumerate(images)]
    _, summary = certificate_check(
        defended,
        images,
        names=names,
        eps=smoothing.bounds.eps,
        n=smoothing.bounds.n,
        alpha=smoothing.bounds.alpha,
        beta=args.beta,
        steps=args.steps,
        eot_samples=args.eot_samples,
        seed=smoothing.seed,
        out_csv=args.out,
        device=device,
        progress=not args.json,
    )
    summary.update(metric=defended.name, denoiser=args.denoiser)
    if args.json:
        print(json.dumps(summary))
        return 0
    print(
        f"metric {defended.name}, denoiser {args.denoiser or 'none'}: {summary['images']} images x 2 directions, "
        f"eps={smoothing.bounds.eps} (l2), sigma={args.sigma}, n={smoothing.bounds.n}, "
        f"alpha={smoothing.bounds.alpha}, steps={args.steps}, "
        f"EOT draws={args.eot_samples}"
    )
    print(
        f"  undefended (PGD):  mean |change| {summary['mean_abs_base_change']:.4f}, "
        f"max {summary['max_abs_base_change']:.4f}; exceeds the certified delta in "
        f"{summary['base_change_exceeds_delta_rate']:.0%} of rows"
    )
    print(
        f"  defended (EOT-PGD): mean |change of the median| {summary['mean_abs_defended_change']:.4f}, "
        f"max {summary['max_abs_defended_change']:.4f}; mean certified delta {summary['mean_delta']:.4f}"
    )
    print(
        f"  certificate violations (median CI outside [lower, upper]): {summary['confirmed_violations']} of "
        f"{summary['rows']} (rate {summary['confirmed_rate']:.4f}; allowed <= {summary['allowed_rate']:.4f}, "
        f"expected count <= {summary['expected_count_max']:.3f}, p <= {summary['p_value_bound']:.3g})"
    )
    print(
        f"  point estimate outside [lower, upper]: {summary['point_violations']} of {summary['rows']} "
        "(noisy; not a test)"
    )
    return 1 if summary["exceeds_allowed"] else 0
