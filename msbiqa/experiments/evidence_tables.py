"""Per-image certificate rows -> the captioned tables of evidence: the one path from `certify_dataset`'s rows to
a saved table that `msbiqa compare`, `msbiqa claim` and notebooks 03 and 04 share.

`summarize` and `differences` compute (interval tables and paired differences with bootstrap intervals,
`msbiqa.statistics.evidence`), `summarize_replicates` and `differences_over_replicates` the same combined over
training replicates; `caption` says what was certified and what the columns mean; `save_evidence`
writes the table (CSV, full precision) and its display form (Markdown: defences by name, each value with its
intervals, 'decided' for differences).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from msbiqa.experiments.certification import Certification
from msbiqa.experiments.defences import DEFENCE_NAMES
from msbiqa.report.tables import EVIDENCE_NOTE, decided_text, formatted, save_table
from msbiqa.statistics.evidence import (
    combined_differences,
    combined_table,
    interval_table,
    paired_differences,
    with_context,
)
from msbiqa.statistics.uncertainty import Bootstrap

# the statistics a Markdown table shows
SHOWN = ("srocc", "plcc", "krocc", "mean_delta", "norm_delta", "fidelity_srocc")
# the method's comparisons, DMS-IQA against MS and DMS; beyond the paper, against DMS through a generic denoiser,
# what in-domain training gives DMS (DMS - generic DMS), DMS-IQA against MS over a noise-trained metric, and what
# retraining the metric with noise gives MS
PAIRS = (
    ("dms-iqa", "ms"),
    ("dms-iqa", "dms"),
    ("dms-iqa", "dms-generic"),
    ("dms", "dms-generic"),
    ("dms-iqa", "ms-noisy"),
    ("ms-noisy", "ms"),
)


def evidence_rows(per_image: pd.DataFrame, dataset, by: Sequence[str] = ("sigma",)) -> pd.DataFrame:
    """`per_image` with the undefended base score and reference photo of each image (`with_context`)."""
    return with_context(per_image, dataset, by=by)


def summarize(rows: pd.DataFrame, by: Sequence[str], metric, boot: Bootstrap) -> pd.DataFrame:
    """One row per group of `by`: every statistic with its intervals, sign-corrected for `metric`'s direction."""
    return interval_table(rows, by, higher_is_better=_higher(metric), config=boot)


def differences(rows: pd.DataFrame, pairs, metric, boot: Bootstrap, by: Sequence[str] = ()) -> pd.DataFrame:
    """Paired differences of the `pairs` present in `rows` (first minus second), per group of `by`."""
    return paired_differences(rows, _present(rows, pairs), by=by, higher_is_better=_higher(metric), config=boot)


def summarize_replicates(rows: pd.DataFrame, by: Sequence[str], metric, boot: Bootstrap) -> pd.DataFrame:
    """`summarize` combined over the training replicates of `rows` (column `replicate`): `combined_table`."""
    return combined_table(rows, by, higher_is_better=_higher(metric), config=boot)


def differences_over_replicates(
    rows: pd.DataFrame, pairs, metric, boot: Bootstrap, by: Sequence[str] = ()
) -> pd.DataFrame:
    """`differences` combined over the training replicates of `rows`: `combined_differences`."""
    return combined_differences(rows, _present(rows, pairs), by=by, higher_is_better=_higher(metric), config=boot)


def _present(rows: pd.DataFrame, pairs) -> list:
    present = set(rows["defence"])
    return [p for p in pairs if set(p) <= present]


def _higher(metric) -> bool:
    return bool(getattr(metric, "higher_is_better", True))


def run_text(run: Certification, boot: Bootstrap, *, data: str, metric, eps: str | None = None) -> str:
    """What was certified: data, metric, sigma(s), eps, n, alpha, seed, bootstrap resamples."""
    sigmas = ", ".join(f"{s:g}" for s in run.sigmas)
    b = run.bounds
    eps = eps or f"eps={b.eps:g} (l2, [0,1] images)"
    name = getattr(metric, "name", metric)
    return (
        f"{data}, {run.images or 'all'} images, metric {name}, sigma={sigmas}, {eps}, n={b.n}, alpha={b.alpha} "
        f"per bound, seed={run.seed}, {boot.resamples} bootstrap resamples"
    )


def caption(setting: str, what: str = "") -> str:
    """A table's caption: what the table is, the setting (`run_text`) and the notes every evidence table carries."""
    return f"{what + ' ' if what else ''}{setting}. {EVIDENCE_NOTE}; mean and normalised delta over certified images."


def defence_name(defence: str) -> str:
    """A defence as tables name it: 'dms-iqa' -> 'DMS-IQA'."""
    return DEFENCE_NAMES.get(defence, defence)


def comparison_label(text: str) -> str:
    """'dms-iqa - ms' as the tables name it: 'DMS-IQA − MS'."""
    a, b = text.split(" - ")
    return f"{defence_name(a)} − {defence_name(b)}"


def display(table: pd.DataFrame, keep: Sequence[str], statistics: Sequence[str] = SHOWN) -> pd.DataFrame:
    """The Markdown form of an interval or difference table: the `keep` columns, defences and comparisons by name,
    each statistic as 'value [image interval] {photo interval}', and 'decided' for differences (SROCC and PLCC;
    the normalised delta, by which delta is compared)."""
    shown = formatted(table, statistics, keep)
    if "defence" in shown:
        shown["defence"] = shown["defence"].map(defence_name)
    if "comparison" in table:
        shown["comparison"] = table["comparison"].map(comparison_label)
        shown["decided (SROCC, PLCC)"] = decided_text(table)
        shown["decided (normalised delta)"] = decided_text(table, ["norm_delta"])
    return shown


def save_evidence(
    table: pd.DataFrame, out: str | Path, name: str, text: str, keep: Sequence[str], statistics: Sequence[str] = SHOWN
) -> pd.DataFrame:
    """Write `out/name.csv` (every column) and `out/name.md` (`text`, then `display(table, keep, statistics)`)."""
    return save_table(table, out, name, text, shown=display(table, keep, statistics))
