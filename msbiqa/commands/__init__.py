"""CLI subcommands: each module defines `register(subparsers)` adding one subparser with `func=run`."""

from __future__ import annotations


def add_smoothing_options(p, *, metric_help: str, eps_help: str, n_help: str) -> None:
    """The options `smoothing_setup` reads: --metric, --weights, --denoiser, --sigma, --eps, --n, --alpha,
    --device (defaults shared by every command; the help texts that differ are arguments)."""
    p.add_argument("--metric", default=None, help=metric_help)
    p.add_argument("--weights", default=None, help="weights file for the base metric")
    p.add_argument("--denoiser", default=None, help="denoiser name (dms, dms-iqa) or weights file; none = plain MS")
    p.add_argument("--sigma", type=float, default=0.12, help="noise std on [0,1] images (default 0.12)")
    p.add_argument("--eps", type=float, default=0.05, help=f"{eps_help} (default 0.05)")
    p.add_argument("--n", type=int, default=1000, help=f"{n_help} (default 1000)")
    p.add_argument("--alpha", type=float, default=0.001, help="failure probability of each bound (default 0.001)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")


def smoothing_setup(args):
    """(device, metric, denoiser or None) of a command with --n/--sigma/--eps/--alpha, --device, --metric,
    --weights and --denoiser; checks that n can certify eps/sigma before any network is loaded."""
    from msbiqa.certify import order_statistic_ranks
    from msbiqa.metrics import load_metric
    from msbiqa.metrics.base import default_device

    order_statistic_ranks(args.n, args.sigma, args.eps, args.alpha)
    device = default_device(args.device)
    metric = load_metric(args.metric, weights=args.weights, device=device)
    denoiser = None
    if args.denoiser:
        from msbiqa.denoiser import load_denoiser

        denoiser = load_denoiser(args.denoiser, sigma=args.sigma, device=device)
    return device, metric, denoiser
