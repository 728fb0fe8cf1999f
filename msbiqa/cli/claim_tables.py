"""`msbiqa claim-tables RECORD ...`: recompute claim records' tables, figure and verdict from their rows.csv and
run.json, after a change to the statistics (`msbiqa.experiments.claim.rewrite_tables`); nothing is certified."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("claim-tables", help="recompute claim records' tables from their rows (nothing is certified)")
    p.add_argument("records", nargs="+", help="folders written by `msbiqa claim --out`; their tables are rewritten")
    p.set_defaults(func=run)


def run(args) -> int:
    from msbiqa.experiments.claim import rewrite_tables

    for record in args.records:
        rewrite_tables(record)  # a folder that is not a record is refused by name, before anything is written
        print(f"rewrote the tables of {record}")
    return 0
