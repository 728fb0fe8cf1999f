"""CLI subcommands: each module defines `register(subparsers)` adding one subparser with `func=run`."""
