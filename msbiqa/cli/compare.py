"""`msbiqa compare`: certify a dataset split under every defence at several sigma and tabulate SROCC/PLCC/delta."""

from __future__ import annotations

from msbiqa.cli.options import add_options, from_args
from msbiqa.data.source import DataSource


def register(sub) -> None:
    from msbiqa.devices import Compute
    from msbiqa.experiments.comparison import SKIPPED, Comparison
    from msbiqa.experiments.engines import EngineOptions
    from msbiqa.models.metrics import MetricChoice

    p = sub.add_parser("compare", help="none vs MS vs DMS vs DMS-IQA vs binned RS on a dataset, per sigma")
    for group in (DataSource, MetricChoice, Compute, EngineOptions):
        add_options(p, group)
    add_options(p, Comparison, skip=SKIPPED)
    p.add_argument("--out", default="results/compare", help="folder for per_image.csv and summary.csv/.md")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from msbiqa.devices import Compute
    from msbiqa.experiments.comparison import Comparison, compare_defences, comparison_bootstrap
    from msbiqa.experiments.engines import EngineOptions
    from msbiqa.experiments.evidence_tables import caption, run_text, save_evidence
    from msbiqa.models.metrics import MetricChoice

    ray = args.engine == "ray"  # with Ray the workers move the networks to --device; here they only load
    compute = from_args(Compute, args)
    here = "cpu" if ray else compute.apply()
    config = from_args(Comparison, args)
    engine = from_args(EngineOptions, args).build()  # a missing Ray or a dead address fails before any loading
    source = from_args(DataSource, args)
    dataset = source.load()
    metric = from_args(MetricChoice, args).load(device=here)
    out = Path(args.out)
    summary, _ = compare_defences(
        metric, dataset, config, out_csv=out / "per_image.csv", device=compute.device, engine=engine
    )
    setting = run_text(
        config.run,
        comparison_bootstrap(config),
        data=f"{source.dataset} {source.split}",
        metric=metric,
        eps=f"eps = {config.eps_ratio} x sigma",
    )
    text = caption(setting)
    save_evidence(summary, out, "summary", text, ["sigma", "eps", "defence", "images", "certified"])
    print(text)
    print((out / "summary.md").read_text().split("\n\n", 1)[1])
    return 0
