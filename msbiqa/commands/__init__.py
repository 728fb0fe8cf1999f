"""CLI subcommands: each module defines `register(subparsers)` adding one subparser with `func=run`."""

from __future__ import annotations


def smoothing_setup(args):
    """(device, metric, denoiser or None) of a command with --n/--sigma/--eps/--alpha, --device, --metric,
    --weights and --denoiser; checks that n can certify eps/sigma before any network is loaded."""
    import torch

    from msbiqa.certify import order_statistic_ranks
    from msbiqa.metrics import load_metric

    order_statistic_ranks(args.n, args.sigma, args.eps, args.alpha)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    metric = load_metric(args.metric, weights=args.weights, device=device)
    denoiser = None
    if args.denoiser:
        from msbiqa.denoiser import load_denoiser

        denoiser = load_denoiser(args.denoiser, sigma=args.sigma, device=device)
    return device, metric, denoiser
