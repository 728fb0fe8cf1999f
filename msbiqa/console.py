"""Text that other processes (notebook kernels, Ray workers) report, as a console line shows it."""

from __future__ import annotations

import re

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # terminal colour and cursor codes


def plain(text: str) -> str:
    """`text` without terminal colour and cursor codes."""
    return ANSI.sub("", text)
