"""`msbiqa certify IMAGE`: certified defended score of one image file."""

from __future__ import annotations

import json

from msbiqa.cli.options import Smoothing, add_options, from_args


def register(sub) -> None:
    p = sub.add_parser("certify", help="certify the median-smoothed quality score of an image")
    p.add_argument("image", help="image file (PNG/JPEG/BMP, RGB, grayscale or 16-bit)")
    add_options(p, Smoothing)
    p.add_argument("--batch-size", type=int, default=None, help="samples per batch (default: automatic)")
    p.add_argument("--json", action="store_true", help="print the certificate as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from msbiqa.data.images import load_image

    smoothing = from_args(Smoothing, args)
    device, defended = smoothing.build()
    image = smoothing.prepare(defended, load_image(args.image), device, batch_size=args.batch_size, quiet=args.json)
    cert = defended.certify(
        image,
        smoothing.bounds.eps,
        n=smoothing.bounds.n,
        alpha=smoothing.bounds.alpha,
        seed=smoothing.seed,
        batch_size=args.batch_size,
        progress=not args.json,
        device=device,
    )
    if args.json:
        print(json.dumps({"image": args.image, "metric": defended.name, "denoiser": args.denoiser, **cert.to_dict()}))
    else:
        arrow = "higher is better" if defended.higher_is_better else "lower is better"
        print(f"{args.image}: metric {defended.name} ({arrow}), denoiser {args.denoiser or 'none'}")
        print(f"  defended score (median of {cert.n})  {cert.median:.4f}")
        print(
            f"  certified interval at eps={cert.eps} {cert.lower:.4f} .. {cert.upper:.4f}  "
            f"(ranks {cert.k_lo}, {cert.k_hi} of {cert.n})"
        )
        print(f"  certified delta = max(upper-median, median-lower) = {cert.delta:.4f}; width = {cert.width:.4f}")
        print(f"  sigma={cert.sigma} alpha={cert.alpha} (per bound) seed={cert.seed}")
    return 0
