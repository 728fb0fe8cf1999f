"""`msbiqa claim`: the decisive comparison (main table and ablation with bootstrap intervals, in and out of
distribution); see msbiqa.experiments.claim."""

from __future__ import annotations

from msbiqa.cli.options import add_options, from_args


def register(sub) -> None:
    from msbiqa.experiments.claim import SKIPPED, Claim

    p = sub.add_parser(
        "claim",
        help="main table + architecture x loss ablation with bootstrap intervals, per split (the decisive run)",
    )
    add_options(p, Claim, skip=SKIPPED)
    p.add_argument("--out", default="results/claim", help="output folder (default results/claim)")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from msbiqa.experiments.claim import Claim, run_claim

    config = from_args(Claim, args)
    tables = run_claim(config, args.out)
    for name in tables:
        print((Path(args.out) / f"{name}.md").read_text())
    return 0
