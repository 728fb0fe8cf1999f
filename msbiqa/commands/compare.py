"""`msbiqa compare`: certify a dataset split under every defence at several sigma and tabulate SROCC/PLCC/delta."""

from __future__ import annotations


def register(sub) -> None:
    from msbiqa.defences import DEFENCES

    p = sub.add_parser("compare", help="none vs MS vs DMS vs DMS-IQA vs binned RS on a dataset, per sigma")
    p.add_argument("--dataset", default="embedded", help="dataset name (default embedded)")
    p.add_argument("--root", default=None, help="dataset folder (not needed for embedded)")
    p.add_argument("--split", default="test", help="split to certify (default test)")
    p.add_argument("--metric", default=None, help="base metric (default: the project's)")
    p.add_argument("--sigmas", type=float, nargs="+", default=[0.06, 0.12, 0.25], help="noise levels")
    p.add_argument("--defences", nargs="+", default=list(DEFENCES), choices=DEFENCES, help="defences to compare")
    p.add_argument("--eps-ratio", type=float, default=0.5, help="certify eps = ratio x sigma (default 0.5)")
    p.add_argument("--n", type=int, default=500, help="noise samples per certificate (default 500)")
    p.add_argument("--alpha", type=float, default=0.001, help="failure probability of each bound (default 0.001)")
    p.add_argument("--images", type=int, default=None, help="images spread over the split (default: all)")
    p.add_argument("--denoisers", default="shipped", help="'shipped' or a folder of KIND-sigmaS.pt files")
    p.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    p.add_argument("--cpu-bf16", action="store_true", help="bf16 autocast on CPU (CPUs with AMX)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available)")
    p.add_argument("--out", default="results/compare", help="folder for per_image.csv and summary.csv/.md")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    import torch

    from msbiqa.compare import compare_denoisers
    from msbiqa.data import load_dataset
    from msbiqa.metrics import load_metric
    from msbiqa.tables import DELTA_NOTE, save_table

    if args.threads:
        torch.set_num_threads(args.threads)
    dataset = load_dataset(args.dataset, root=args.root, split=args.split)
    metric = load_metric(args.metric, device=args.device)
    out = Path(args.out)
    summary, _ = compare_denoisers(
        metric, dataset, sigmas=args.sigmas, defences=args.defences, eps_ratio=args.eps_ratio, n=args.n,
        alpha=args.alpha, seed=args.seed, images=args.images, denoisers=args.denoisers,
        out_csv=out / "per_image.csv", cpu_bf16=args.cpu_bf16, device=args.device,
    )
    caption = (f"{args.dataset} {args.split}, metric {args.metric or 'default'}, n={args.n}, alpha={args.alpha}, "
               f"eps = {args.eps_ratio} x sigma, seed {args.seed}. {DELTA_NOTE}.")
    save_table(summary, out, "summary", caption)
    print(caption)
    print(summary.round(4).to_string(index=False))
    return 0
