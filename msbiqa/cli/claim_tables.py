"""`msbiqa claim-tables RECORD ...`: recompute claim records' tables, figure and verdict from their rows.csv and
run.json, after a change to the statistics (`msbiqa.experiments.claim.rewrite_tables`); nothing is certified."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("claim-tables", help="recompute claim records' tables from their rows (nothing is certified)")
    p.add_argument("records", nargs="+", help="folders written by `msbiqa claim --out`; their tables are rewritten")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from msbiqa.experiments.claim import rewrite_tables

    for record in args.records:
        if not (Path(record) / "run.json").is_file() or not (Path(record) / "rows.csv").is_file():
            raise FileNotFoundError(
                f"{record} is not a claim record (no run.json or rows.csv): name folders written by `msbiqa claim`"
            )
        rewrite_tables(record)
        print(f"rewrote the tables of {record}")
    return 0
