"""The claim's verdict, computed from its paired differences (docs/fair_test_rules.md, section 8), so that the
sentence a reader sees is the evidence's, not an author's.

Per split and comparison (DMS-IQA - MS, DMS-IQA - DMS): *better* when the SROCC difference is decided above 0 and
the normalised-delta difference is not decided above 0; *better SROCC at a larger normalised delta* when both are
decided above 0; *worse* when the SROCC difference is decided below 0; else *not decided*. Per split the claim is
*supported* when both comparisons are better, *contradicted* when either is worse, else *not decided*. "Decided"
is the table's own flag: every replicate on one side and the (combined) intervals excluding 0.
"""

from __future__ import annotations

import pandas as pd

BETTER, LARGER_DELTA, WORSE, UNDECIDED = (
    "better",
    "better SROCC at a larger normalised delta",
    "worse",
    "not decided",
)
COMPARISONS = {"dms-iqa - ms": "DMS-IQA − MS", "dms-iqa - dms": "DMS-IQA − DMS"}
SPLIT_NAMES = {"test": "in distribution (test)", "test-ood": "out of distribution (test-ood)"}


def outcome(row) -> str:
    """The outcome of one paired-difference row (columns srocc, srocc_decided, norm_delta, norm_delta_decided)."""
    srocc_up = bool(row["srocc_decided"]) and row["srocc"] > 0
    if bool(row["srocc_decided"]) and row["srocc"] < 0:
        return WORSE
    if srocc_up:
        return LARGER_DELTA if bool(row["norm_delta_decided"]) and row["norm_delta"] > 0 else BETTER
    return UNDECIDED


def split_verdict(outcomes: list[str]) -> str:
    """supported (every comparison better), contradicted (any worse) or not decided."""
    if WORSE in outcomes:
        return "contradicted"
    if outcomes and all(o == BETTER for o in outcomes):
        return "supported"
    return "not decided"


def _interval(row, name: str) -> str:
    text = f"{row[name]:+.3f} [{row[f'{name}_lo']:+.3f}, {row[f'{name}_hi']:+.3f}]"
    photo_lo, photo_hi = row.get(f"{name}_photo_lo"), row.get(f"{name}_photo_hi")
    if photo_lo is not None and pd.notna(photo_lo) and pd.notna(photo_hi):
        text += f" {{{photo_lo:+.3f}, {photo_hi:+.3f}}}"
    return text


def _comparisons(differences: pd.DataFrame):
    """Per split of `differences`: the split, its rows of COMPARISONS and each row's outcome."""
    for split, rows in differences.groupby("split", sort=False):
        rows = rows[rows["comparison"].isin(COMPARISONS)]
        yield split, rows, [outcome(row) for _, row in rows.iterrows()]


def verdict_table(differences: pd.DataFrame) -> pd.DataFrame:
    """One row per split of `differences`: the split, its verdict and each comparison's outcome (a column each)."""
    return pd.DataFrame(
        [
            {"split": split, "verdict": split_verdict(outcomes)}
            | {COMPARISONS[c]: o for c, o in zip(rows["comparison"], outcomes)}
            for split, rows, outcomes in _comparisons(differences)
        ]
    )


def verdict_lines(differences: pd.DataFrame) -> list[str]:
    """One Markdown line per split of `differences` (a claim's differences table, combined over replicates or of
    one replicate): the split's verdict, then each comparison's outcome with its SROCC and normalised-delta
    differences and intervals (images [ ], photos { })."""
    lines = []
    for split, rows, outcomes in _comparisons(differences):
        parts = [
            f"{COMPARISONS[row['comparison']]}: {result} (SROCC {_interval(row, 'srocc')}, normalised delta "
            f"{_interval(row, 'norm_delta')})"
            for (_, row), result in zip(rows.iterrows(), outcomes)
        ]
        name = SPLIT_NAMES.get(split, split)
        lines.append(f"- **{name}: {split_verdict(outcomes)}.** " + "; ".join(parts) + ".")
    return lines
