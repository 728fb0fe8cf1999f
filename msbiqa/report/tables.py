"""Result tables: save a DataFrame as CSV and Markdown, and the notes their captions share (intervals and the
summaries of per-image certificates: `msbiqa.report.evidence`)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from msbiqa.files import write_atomic

DELTA_NOTE = "delta = max(upper - median, median - lower), the certified score change inside the eps-ball"
SIGN_NOTE = "correlations in the 'higher = agrees with MOS' direction (scores of lower-is-better metrics negated)"


def _cell(value, fmt: str) -> str:
    if value is None or value is pd.NA or (isinstance(value, (float, np.floating)) and math.isnan(value)):
        return "–"
    if isinstance(value, (float, np.floating)) and math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return fmt.format(value).replace("|", "\\|")


def to_markdown(df: pd.DataFrame, digits: int = 3, formats: dict[str, str] | None = None) -> str:
    """A GitHub Markdown table of `df` (index dropped); floats with `digits` decimals (none in columns of
    whole numbers) unless `formats` gives a column its own format string, NaN and pandas' NA (integer columns
    with gaps, dtype Int64) as an en dash."""
    head = [str(c) for c in df.columns]
    default = {c: ("{:.0f}" if _whole(df[c]) else f"{{:.{digits}f}}") for c in df.columns}
    fmts = [(formats or {}).get(c, default[c]) for c in df.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for row in df.itertuples(index=False):
        cells = [
            _cell(v, f if isinstance(v, (float, np.floating)) or c in (formats or {}) else "{}")
            for v, f, c in zip(row, fmts, df.columns)
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _whole(column: pd.Series) -> bool:
    values = pd.to_numeric(column, errors="coerce").to_numpy(float)
    values = values[np.isfinite(values)]
    return pd.api.types.is_numeric_dtype(column) and values.size > 0 and bool(np.all(values == np.round(values)))


def save_table(
    df: pd.DataFrame,
    out: str | Path,
    name: str,
    caption: str = "",
    digits: int = 3,
    shown: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Write `out/name.csv` (full precision) and `out/name.md` (caption, then the table, or `shown`: a display
    form of it such as values with their intervals); return `df`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / f"{name}.csv", df.to_csv(index=False))
    text = (f"{caption.strip()}\n\n" if caption else "") + to_markdown(df if shown is None else shown, digits)
    write_atomic(out / f"{name}.md", text)
    return df
