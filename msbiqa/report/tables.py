"""Result tables: save a DataFrame as CSV and Markdown, the notes their captions share, and the display form of
the interval tables of `msbiqa.statistics.evidence` (each value with its intervals)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from msbiqa.files import write_atomic

DELTA_NOTE = "delta = max(upper - median, median - lower), the certified score change inside the eps-ball"
NORM_DELTA_NOTE = (
    "normalised delta = mean delta / across-image SD of the defended scores of the same images (scale-free: "
    "compressing scores across images does not lower it; comparisons of delta use it)"
)
STATISTIC_NAMES = {
    "srocc": "SROCC",
    "plcc": "PLCC",
    "krocc": "KROCC",
    "mean_delta": "mean delta",
    "norm_delta": "normalised delta",
    "fidelity_srocc": "fidelity SROCC",
    "fidelity_plcc": "fidelity PLCC",
}
INTERVAL_NOTE = (
    "95 % bootstrap intervals: [ ] over images, { } over reference photos (cluster bootstrap: all images of a "
    "photo move together; only where the data set has reference photos)"
)
SIGN_NOTE = (
    "correlations in the 'higher = agrees with MOS' direction (scores of lower-is-better metrics negated); "
    "fidelity = agreement of the defended score with the undefended base score (label-free, PLCC linear)"
)
REPLICATE_NOTE = (
    "Combined over training replicates (one denoiser set per training seed): the estimate is the mean over "
    "replicates; its intervals are two-level percentile bootstraps (each resample draws the replicates with "
    "replacement, then the images [ ] or photos { } once for all drawn replicates, which were certified on the "
    "same images, and averages the drawn replicates), so they include training randomness; a difference is "
    "decided when every replicate's difference has the same sign and the intervals exclude 0"
)
# what every table of certificate evidence says
EVIDENCE_NOTE = f"{SIGN_NOTE}. {INTERVAL_NOTE}. {DELTA_NOTE}; {NORM_DELTA_NOTE}"


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


def formatted(table: pd.DataFrame, statistics: Sequence[str], keep: Sequence[str], digits: int = 3) -> pd.DataFrame:
    """A display copy of an interval table: the `keep` columns, then one text column per statistic,
    'value [image interval] {photo interval}' (the photo part only where it exists)."""
    out = table[list(keep)].copy()
    for name in statistics:
        out[STATISTIC_NAMES.get(name, name)] = [_interval_cell(row, name, digits) for _, row in table.iterrows()]
    return out


def decided_text(table: pd.DataFrame, statistics: Sequence[str] = ("srocc", "plcc")) -> list[str]:
    """'yes, no' per row of a paired-difference table: whether the difference of each of `statistics` is decided,
    the column tables show as 'decided (SROCC, PLCC)' (and 'decided (normalised delta)')."""
    flags = zip(*(table[f"{name}_decided"] for name in statistics))
    return [", ".join("yes" if flag else "no" for flag in row) for row in flags]


def _interval_cell(row, name: str, digits: int) -> str:
    value = row[name]
    if not np.isfinite(value):
        return "–"
    f = f"{{:.{digits}f}}"
    lo, hi = row[f"{name}_lo"], row[f"{name}_hi"]
    bounds = f"{f.format(lo)}, {f.format(hi)}" if np.isfinite(lo) and np.isfinite(hi) else "–"  # too few to say
    text = f"{f.format(value)} [{bounds}]"
    lo, hi = row.get(f"{name}_photo_lo", np.nan), row.get(f"{name}_photo_hi", np.nan)
    if np.isfinite(lo) and np.isfinite(hi):
        text += f" {{{f.format(lo)}, {f.format(hi)}}}"
    return text
