"""`msbiqa` command line: one subcommand per module of this package (each defines `register`); `options`
turns the dataclasses that hold each command's defaults into its options."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import msbiqa
from msbiqa.experiments.engine_work import EngineError

HELPERS = {"options"}  # modules of this package that are not subcommands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="msbiqa", description="Certified NR-IQA by (denoised) median smoothing (DMS-IQA)."
    )
    parser.add_argument("--version", action="version", version=f"msbiqa {msbiqa.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name not in HELPERS:
            importlib.import_module(f"{__name__}.{info.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit status (2 with a one-line message for bad options or input)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # argparse has printed usage and the error (or --help / --version)
        return int(done.code or 0)
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, OSError, EngineError) as err:  # bad input, unwritable output, full disk, no Ray
        print(f"msbiqa {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
