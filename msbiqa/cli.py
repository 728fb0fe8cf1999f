"""`msbiqa` command line: one subcommand per module in msbiqa/commands (each defines `register`)."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import msbiqa
import msbiqa.commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="msbiqa", description="Certified NR-IQA by (denoised) median smoothing (DMS-IQA)."
    )
    parser.add_argument("--version", action="version", version=f"msbiqa {msbiqa.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(msbiqa.commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"msbiqa.commands.{info.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"msbiqa {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
