"""`msbiqa compare`: certify a dataset split under every defence at several sigma and tabulate SROCC/PLCC/delta."""

from __future__ import annotations

from msbiqa.cli.options import DataSource, add_options, from_args


def register(sub) -> None:
    from msbiqa.experiments.comparison import Comparison
    from msbiqa.experiments.engines import EngineOptions

    p = sub.add_parser("compare", help="none vs MS vs DMS vs DMS-IQA vs binned RS on a dataset, per sigma")
    add_options(p, DataSource)
    p.add_argument("--metric", default=None, help="base metric (default: the project's)")
    add_options(p, Comparison)
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available)")
    add_options(p, EngineOptions)
    p.add_argument("--out", default="results/compare", help="folder for per_image.csv and summary.csv/.md")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    import torch

    from msbiqa.experiments.comparison import Comparison, compare_defences
    from msbiqa.experiments.defences import LABELS
    from msbiqa.experiments.engines import EngineOptions
    from msbiqa.models.metrics import load_metric
    from msbiqa.report.evidence import INTERVAL_NOTE, SIGN_NOTE, formatted
    from msbiqa.report.tables import DELTA_NOTE, save_table

    if args.threads:
        torch.set_num_threads(args.threads)
    config = from_args(Comparison, args)
    engine = from_args(EngineOptions, args).build()  # a missing Ray or a dead address fails before any loading
    dataset = from_args(DataSource, args).load()
    # with Ray the workers move the networks to their own device (--device picks their kind); here they only load
    metric = load_metric(args.metric, device="cpu" if args.engine == "ray" else args.device)
    out = Path(args.out)
    summary, _ = compare_defences(
        metric, dataset, config, out_csv=out / "per_image.csv", device=args.device, engine=engine
    )
    caption = (
        f"{args.dataset} {args.split}, metric {metric.name}, n={config.n}, alpha={config.alpha}, "
        f"eps = {config.eps_ratio} x sigma, seed {config.seed}, {config.resamples} bootstrap resamples. {SIGN_NOTE}. "
        f"{INTERVAL_NOTE}. {DELTA_NOTE}; mean delta over certified images."
    )
    statistics = ["srocc", "plcc", "krocc", "mean_delta", "fidelity_srocc"]
    shown = formatted(summary, statistics, ["sigma", "eps", "defence", "images", "certified"])
    shown["defence"] = shown["defence"].map(LABELS)
    save_table(summary, out, "summary", caption, shown=shown)
    print(caption)
    print(shown.to_string(index=False))
    return 0
