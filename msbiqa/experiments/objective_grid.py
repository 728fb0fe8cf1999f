"""The fair test's objective grid (docs/fair_test_rules.md, section 3): the validation proxy of the reference (DMS)
and of every grid point next to its objective, its gradient shares and its training curve, and the rule that
chooses DMS-IQA's objective.

Rule: among the grid points whose normalised spread is at most SPREAD_LIMIT x the reference's, the highest
validation SROCC; if none qualifies, the lowest normalised spread, and the choice says that none reached it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from msbiqa.files import write_atomic
from msbiqa.fingerprint import weights_digest
from msbiqa.models.denoisers import load_denoiser
from msbiqa.models.validation import budget_check
from msbiqa.report.plots import plot_validation_curves, save_figure
from msbiqa.report.tables import formatted, save_table

SPREAD_LIMIT = 1.1
TERMS = ("mse", "rank", "target", "consistency")
RULE = (
    f"the highest validation SROCC among grid points whose normalised spread is at most {SPREAD_LIMIT} x the "
    "reference's; if none qualifies, the lowest normalised spread (docs/fair_test_rules.md, section 3)"
)


def _proxy_row(proxy: pd.DataFrame, path: str, digest: str) -> pd.Series:
    """The proxy row of these weights (matched by the digest of their tensors, so a renamed file still matches)."""
    found = proxy[proxy["digest"].astype(str) == digest]
    if found.empty:
        raise ValueError(
            f"{path}: no validation-proxy row for these weights (digest {digest}); run "
            f"`msbiqa validate-denoisers {path} --out PROXY.csv` first"
        )
    return found.iloc[-1]


@dataclass
class Arm:
    """One trained arm: its table row and its per-epoch validation history."""

    row: dict
    history: list[dict]


def trained_arm(label: str, path: str | Path, proxy: pd.DataFrame) -> Arm:
    """One arm: its objective (weights, ranking reference, minimum MOS gap), its 32-draw proxy, the gradient norm of
    each weighted term on the first and last batch of its training, and `budget_check` of its curve."""
    denoiser = load_denoiser(path)
    config = denoiser.config
    weights = config.get("weights") or {}
    history = config.get("history") or []
    row = {"arm": label, "kind": config.get("kind"), "seed": config.get("seed")}
    row |= {f"w_{t}": float(weights.get(t, 0.0)) for t in TERMS}
    row |= {"rank_against": config.get("rank_against"), "rank_min_gap": config.get("rank_min_gap")}
    found = _proxy_row(proxy, str(path), weights_digest(denoiser))
    row |= {k: float(found[k]) for k in ("srocc", "srocc_lo", "srocc_hi", "srocc_photo_lo", "srocc_photo_hi")}
    row |= {k: float(found[k]) for k in ("within_sd", "across_sd", "spread", "psnr")}
    shares = config.get("gradient_shares") or {}
    for when in ("first", "last"):
        row |= {f"grad_{when}_{t}": float(shares.get(when, {}).get(t, 0.0)) for t in TERMS}
    return Arm(row | budget_check(history, config.get("chosen_epoch")), history)


def grid_table(arms: list[Arm]) -> pd.DataFrame:
    """The reference's row (the first arm), then one row per grid point, with spread_ratio (normalised spread /
    the reference's) and qualifies (spread_ratio <= SPREAD_LIMIT; empty for the reference)."""
    table = pd.DataFrame([arm.row for arm in arms])
    table["spread_ratio"] = table["spread"] / table["spread"].iloc[0]
    table["qualifies"] = (table["spread_ratio"] <= SPREAD_LIMIT).astype(object)
    table.loc[0, "qualifies"] = None
    return table


def choose(table: pd.DataFrame) -> dict:
    """Apply the rule to `grid_table`'s points (row 0 is the reference): the chosen arm and why."""
    points = table.iloc[1:]
    qualified = points[points["qualifies"].astype(bool)]
    if len(qualified):
        best = qualified.loc[qualified["srocc"].idxmax()]
        why = (
            f"highest validation SROCC ({best['srocc']:.3f}) of the {len(qualified)} of {len(points)} grid points "
            f"with normalised spread <= {SPREAD_LIMIT} x the reference's (its ratio {best['spread_ratio']:.2f})"
        )
        return {"chosen": best["arm"], "qualified": True, "why": why, "rule": RULE}
    best = points.loc[points["spread_ratio"].idxmin()]
    why = (
        f"no grid point reached normalised spread <= {SPREAD_LIMIT} x the reference's; the lowest ratio is "
        f"{best['spread_ratio']:.2f}"
    )
    return {"chosen": best["arm"], "qualified": False, "why": why, "rule": RULE}


def grid_figure(table: pd.DataFrame, arms: list[Arm], chosen: str):
    """Left: validation SROCC (95 % image and photo intervals) against the spread ratio, the rule's limit dashed
    and the chosen point starred; right two panels: every arm's per-epoch validation curves."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    ax = axes[0]
    offsets = label_offsets(table["spread_ratio"].to_numpy(float))
    for (_, row), offset in zip(table.iterrows(), offsets):
        image = [[row["srocc"] - row["srocc_lo"]], [row["srocc_hi"] - row["srocc"]]]
        photo = [[row["srocc"] - row["srocc_photo_lo"]], [row["srocc_photo_hi"] - row["srocc"]]]
        line = ax.errorbar(row["spread_ratio"], row["srocc"], yerr=image, fmt="o", capsize=3, lw=2)
        ax.errorbar(row["spread_ratio"], row["srocc"], yerr=photo, fmt="none", lw=0.8, color=line[0].get_color())
        if row["arm"] == chosen:
            ax.plot(row["spread_ratio"], row["srocc"], marker="*", markersize=16, color=line[0].get_color())
        ax.annotate(
            row["arm"],
            (row["spread_ratio"], row["srocc"]),
            textcoords="offset points",
            xytext=offset,
            fontsize=8,
            bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 0.5},
        )
    ax.axvline(SPREAD_LIMIT, linestyle="--", color="grey", label=f"rule: ≤ {SPREAD_LIMIT} × reference")
    ax.set(xlabel="normalised spread / reference's", ylabel="validation SROCC (32 draws)")
    ax.legend(fontsize=8)
    plot_validation_curves(
        axes[1:], {a.row["arm"]: a.history for a in arms}, {a.row["arm"]: a.row["chosen_epoch"] for a in arms}
    )
    fig.tight_layout()
    return fig


def label_offsets(xs: np.ndarray, close: float = 0.05) -> list[tuple[int, int]]:
    """Text offsets (points) of labels at x positions `xs`: a point whose x lies within `close` of the previous one
    (in x order) gets its label on the next row, alternating above and below, so neighbours' labels do not overlap."""
    rows = [(6, 4), (6, -12), (6, 16), (6, -24), (6, 28), (6, -36)]
    offsets: list[tuple[int, int]] = [rows[0]] * len(xs)
    order = np.argsort(xs, kind="stable")
    step = 0
    for previous, current in zip(order, order[1:]):
        step = step + 1 if xs[current] - xs[previous] < close else 0
        offsets[current] = rows[step % len(rows)]
    return offsets


def _objective(row) -> str:
    """'mse/rank/target/consistency' weights, with the ranking reference and minimum MOS gap when not the default."""
    text = "/".join(f"{row[f'w_{t}']:g}" for t in TERMS)
    if row["w_rank"] > 0 and row["rank_against"] not in (None, "mos"):
        text += f", rank vs {row['rank_against']}"
    if row["w_rank"] > 0 and (row["rank_min_gap"] or 0) > 0:
        text += f", MOS gap >= {row['rank_min_gap']:g}"
    return text


def _shares(row, when: str) -> str:
    """The gradient norms of the terms with a weight, 'term norm' each."""
    return ", ".join(f"{t} {row[f'grad_{when}_{t}']:.3g}" for t in TERMS if row[f"w_{t}"] > 0)


def save_grid(arms: list[Arm], out: str | Path, about: str) -> dict:
    """Write out/grid.csv, grid.md (captioned: `about` says which proxy), grid.png and choice.json; return the
    choice."""
    table = grid_table(arms)
    choice = choose(table)
    shown = formatted(table, ["srocc"], keep=["arm"])
    shown.insert(1, "objective (mse/rank/target/consistency)", [_objective(r) for _, r in table.iterrows()])
    shown["normalised spread (ratio to reference)"] = [
        f"{r['spread']:.3f} ({r['spread_ratio']:.2f})" for _, r in table.iterrows()
    ]
    shown["qualifies"] = ["reference" if q is None else ("yes" if q else "no") for q in table["qualifies"]]
    shown["PSNR (dB)"] = table["psnr"].map("{:.2f}".format)
    shown["gradient norms, first batch"] = [_shares(r, "first") for _, r in table.iterrows()]
    shown["last batch"] = [_shares(r, "last") for _, r in table.iterrows()]
    shown["kept epoch / epochs"] = [
        f"{r['chosen_epoch']} / {r['epochs']}" + (" (last: possibly under-trained)" if r["best_is_last"] else "")
        for _, r in table.iterrows()
    ]
    shown["range of last 3 epochs' SROCC"] = table["last3_range"].map("{:.3f}".format)
    caption = (
        f"The objective grid of DMS-IQA, {about}. SROCC of the defended score (median of the noisy scores) against "
        "MOS, with 95 % bootstrap intervals over images [ ] and over reference photos { }; normalised spread = mean "
        "within-image SD of the noisy scores / across-image SD of the defended scores. Gradient norms: the l2 norm "
        "of each weighted term's gradient w.r.t. the U-Net's parameters on the first and last batch of stage 2. "
        f"Rule: {RULE}. **Chosen: {choice['chosen']}**: {choice['why']}."
    )
    save_table(table, out, "grid", caption, shown=shown)
    save_figure(grid_figure(table, arms, choice["chosen"]), out, "grid")
    plt.close("all")
    write_atomic(Path(out) / "choice.json", json.dumps(choice, indent=2) + "\n")
    return choice
