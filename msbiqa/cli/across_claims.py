"""`msbiqa across-claims RECORD ... --out DIR`: claim records side by side (docs/fair_test_rules.md, section 9):
their main tables, differences and verdicts in one table each, and one figure."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("across-claims", help="claim records side by side: per sigma, per base metric")
    p.add_argument("records", nargs="+", help="folders written by `msbiqa claim --out`")
    p.add_argument("--out", default="results/across", help="folder of across_*.csv/.md and across.png")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from msbiqa.experiments.across_records import across_records, save_across

    tables = across_records(args.records)
    save_across(tables, args.out)
    print(f"verdicts of {len(args.records)} record(s) in {Path(args.out) / 'across_verdict.md'}")
    return 0
