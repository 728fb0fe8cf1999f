"""`msbiqa certify IMAGE`: certified defended score of one image file."""

from __future__ import annotations

import json


def register(sub) -> None:
    from msbiqa.commands import add_smoothing_options

    p = sub.add_parser("certify", help="certify the median-smoothed quality score of an image")
    p.add_argument("image", help="image file (PNG/JPEG/BMP, RGB, grayscale or 16-bit)")
    add_smoothing_options(p, metric_help="base metric: default (trained here), pyiqa:NAME, niqe, brisque",
                          eps_help="l2 attack radius to certify", n_help="noise samples")
    p.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    p.add_argument("--batch-size", type=int, default=None, help="samples per batch (default: automatic)")
    p.add_argument("--json", action="store_true", help="print the certificate as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from msbiqa.certify import certify
    from msbiqa.commands import smoothing_setup
    from msbiqa.io import load_image

    image = load_image(args.image)
    device, metric, denoiser = smoothing_setup(args)
    cert = certify(
        metric, image, sigma=args.sigma, eps=args.eps, n=args.n, alpha=args.alpha, seed=args.seed,
        batch_size=args.batch_size, denoiser=denoiser, progress=not args.json, device=device,
    )
    if args.json:
        print(json.dumps({"image": args.image, "metric": metric.name, "denoiser": args.denoiser, **cert.to_dict()}))
    else:
        arrow = "higher is better" if metric.higher_is_better else "lower is better"
        print(f"{args.image}: metric {metric.name} ({arrow}), denoiser {args.denoiser or 'none'}")
        print(f"  defended score (median of {cert.n})  {cert.median:.4f}")
        print(f"  certified interval at eps={cert.eps} {cert.lower:.4f} .. {cert.upper:.4f}  "
              f"(ranks {cert.k_lo}, {cert.k_hi} of {cert.n})")
        print(f"  certified delta = max(upper-median, median-lower) = {cert.delta:.4f}; width = {cert.width:.4f}")
        print(f"  sigma={cert.sigma} alpha={cert.alpha} (per bound) seed={cert.seed}")
    return 0
