"""The claim across settings: several claim records (folders written by `msbiqa claim --out`), each at one sigma and
through one base metric, side by side, as docs/fair_test_rules.md section 9 asks (the main comparison at each
sigma; through a second metric).

Nothing is recomputed: each record's own tables are read (the `_combined` ones where it holds several training
replicates), which tests/experiments/test_claim_record.py checks against the record's rows.csv. The verdict per
record and split is computed from its differences by `msbiqa.report.verdict`, as the record's verdict.md is.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from msbiqa.experiments.evidence_tables import caption, comparison_label, defence_name, save_evidence
from msbiqa.report.plots import save_figure
from msbiqa.report.tables import REPLICATE_NOTE, save_table
from msbiqa.report.verdict import verdict_table

SETTING = ["metric", "sigma", "eps", "replicates", "record"]  # the leading columns, ordered by the first two


def read_record(folder: str | Path) -> dict[str, pd.DataFrame]:
    """A claim record's main table and differences (combined over its replicates where it has several), each with
    the record's SETTING columns first."""
    folder = Path(folder)
    if not (folder / "run.json").is_file():
        raise FileNotFoundError(f"{folder} is not a claim record (no run.json): name folders written by `msbiqa claim`")
    record = json.loads((folder / "run.json").read_text())
    run = record["settings"]["run"]
    suffix = "_combined" if (folder / "main_table_combined.csv").is_file() else ""
    setting = {
        "metric": record["metric"],
        "sigma": run["sigmas"][0],
        "eps": run["bounds"]["eps"],
        "replicates": len(record["settings"]["replicates"]),
        "record": folder.name,
    }
    tables = {}
    for name in ("main_table", "differences"):
        table = pd.read_csv(folder / f"{name}{suffix}.csv").drop(columns=["replicate", "replicates"], errors="ignore")
        tables[name] = pd.concat([pd.DataFrame([setting] * len(table)), table], axis=1)
    return tables


def across_records(folders) -> dict[str, pd.DataFrame]:
    """The records' main tables and differences stacked, ordered by metric then sigma, and `verdict`: one row per
    record and split with the split's verdict and each comparison's outcome."""
    if not folders:
        raise ValueError("name at least one claim record (a folder written by `msbiqa claim --out`)")
    records = [read_record(folder) for folder in folders]
    tables = {
        name: pd.concat([r[name] for r in records], ignore_index=True).sort_values(SETTING[:2], kind="stable")
        for name in ("main_table", "differences")
    }
    verdicts = [
        verdict_table(group).assign(**group.iloc[0][SETTING])
        for _, group in tables["differences"].groupby("record", sort=False)
    ]
    verdict = pd.concat(verdicts, ignore_index=True)
    tables["verdict"] = verdict[SETTING + [c for c in verdict.columns if c not in SETTING]]
    return {name: table.reset_index(drop=True) for name, table in tables.items()}


CAPTIONS = {
    "main_table": "Each record's main table (combined over its training replicates where it has several).",
    "differences": "Each record's paired differences (combined over its training replicates where it has several).",
    "verdict": "Each record's verdict per split (docs/fair_test_rules.md, section 8), from its differences.",
}


def save_across(tables: dict[str, pd.DataFrame], out: str | Path) -> None:
    """Write across_{main_table,differences,verdict}.{csv,md} and across.png (`across_figure`) into `out`."""
    for name in ("main_table", "differences"):
        keep = [*SETTING, "split", "defence" if name == "main_table" else "comparison", "images"]
        text = caption(f"{CAPTIONS[name].rstrip('.')}. Where a record has several: {REPLICATE_NOTE}")
        save_evidence(tables[name], out, f"across_{name}", text, keep)
    save_table(tables["verdict"], out, "across_verdict", CAPTIONS["verdict"])
    save_figure(across_figure(tables), out, "across")


def across_figure(tables: dict[str, pd.DataFrame]):
    """One column per split: SROCC and normalised delta of every defence, and the paired SROCC differences, per
    record (labelled by metric and sigma), each with its image (thick) and photo (thin) interval."""
    import matplotlib.pyplot as plt

    from msbiqa.report.plots import plot_intervals

    main = tables["main_table"].pipe(lambda t: t.assign(setting=_labels(t), label=t["defence"].map(defence_name)))
    diffs = tables["differences"].pipe(
        lambda t: t.assign(setting=_labels(t), label=t["comparison"].map(comparison_label))
    )
    splits = list(dict.fromkeys(main["split"]))
    fig, axes = plt.subplots(3, len(splits), figsize=(7 * len(splits), 11), squeeze=False)
    for col, split in enumerate(splits):
        rows = main[main["split"] == split]
        plot_intervals(axes[0, col], rows, "srocc", x="setting", hue="label")
        axes[0, col].set(title=f"{split}: SROCC vs MOS (higher = agrees)", ylabel="SROCC")
        plot_intervals(axes[1, col], rows, "norm_delta", x="setting", hue="label")  # none: no delta, its colour kept
        axes[1, col].set(title="normalised delta (mean delta / across-image SD)", ylabel="delta / SD")
        plot_intervals(axes[2, col], diffs[diffs["split"] == split], "srocc", x="setting", hue="label")
        axes[2, col].axhline(0, color="0.5", lw=1)
        axes[2, col].set(title="paired SROCC differences", ylabel="Δ SROCC")
    for row in (0, 2):  # the defences' colours are those of the first row
        axes[row, 0].legend(fontsize=7)
    fig.suptitle("thick bars: 95 % bootstrap interval over images; thin bars: over reference photos", fontsize=9)
    fig.tight_layout()
    return fig


def _labels(table: pd.DataFrame) -> pd.Series:
    """Each row's record as the figure names it: metric and sigma, and the record's name where those repeat."""
    labels = table["metric"] + ", σ " + table["sigma"].map("{:g}".format)
    repeated = labels.groupby(labels).transform(lambda s: table.loc[s.index, "record"].nunique() > 1)
    return labels.where(~repeated, labels + "\n" + table["record"])
