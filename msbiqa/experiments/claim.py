"""The decisive comparison: does DMS-IQA follow MOS better than MS and DMS at comparable certified delta, and
which of its two changes over DMS (U-Net instead of DnCNN, MSE + rank + target instead of MSE) does it?

One run certifies the same images of each split (in-distribution "test" and out-of-distribution "test-ood"
for the embedded set) under every defence at one sigma, eps, n and alpha, with common random numbers
(`certify_dataset`), then writes, each with 95 % bootstrap intervals over images and over reference photos:

* main_table: none, MS, DMS, DMS-IQA, binned RS per split (SROCC/PLCC/KROCC vs MOS, sign-corrected, mean
  certified delta and normalised delta, fidelity to the base score);
* differences: the paired differences DMS-IQA - MS and DMS-IQA - DMS;
* ablation: MS and {DnCNN, U-Net} x {MSE, MSE + rank + target}; ablation_effects: each factor's paired
  effect with the other held fixed (loss within each architecture, architecture within each loss);
* cost: seconds per noise sample of each defence as a ratio to the bare metric forward timed in the same run;
* denoising: PSNR of noisy and denoised images and the metric's score error, per denoiser, and how its training
  ended (kept epoch, possibly under-trained);
* verdict.md: the claim supported, contradicted or not decided per split, computed from the differences
  (`msbiqa.report.verdict`, docs/fair_test_rules.md section 8).

Training randomness: `--replicates` names one denoiser set per training seed ("shipped" or a folder of
KIND-sigmaS.pt files). Each split is certified with each set; the defences without a denoiser (none, MS, binned
RS) do not depend on it and are computed once (the resumable rows are keyed by denoiser and weights digest).
The tables above then have one row per replicate (column `replicate`), and with several replicates each has a
`_combined` twin: the mean over replicates with a two-level bootstrap interval (replicates, then images or photos)
and 'decided' only when every replicate's difference has the same sign (`msbiqa.statistics.evidence`).

The splits are certified one after the other through an engine (`--engine local`: this process; `--engine ray`:
a Ray cluster's workers, in parallel); the per-image rows are resumable CSVs (per_image_SPLIT.csv, every
replicate's rows), so an interrupted run continues where it stopped. rows.csv holds the rows the tables are
computed from (with split, replicate, base score and photo): `claim_tables` recomputes them from it, and
`--reuse RECORD` starts a new run's per-image files from it, so adding a defence to a record certifies only its rows.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch

from msbiqa.data.source import DataSource
from msbiqa.data.subsets import spread
from msbiqa.devices import Compute
from msbiqa.experiments.certification import Certification, certify_dataset
from msbiqa.experiments.defences import (
    ABLATION_DEFENCES,
    DEFENCES,
    DENOISED,
    REFERENCES,
    REPLICATED,
    check_defences,
    defence_file,
    denoising_quality,
    load_defence,
)
from msbiqa.experiments.engines import EngineOptions
from msbiqa.experiments.evidence_tables import (
    PAIRS,
    caption,
    comparison_label,
    defence_name,
    differences,
    differences_over_replicates,
    evidence_rows,
    run_text,
    save_evidence,
    summarize,
    summarize_replicates,
)
from msbiqa.files import write_atomic
from msbiqa.models.denoisers import ABLATION, ARCHITECTURE_NAMES, LOSS_NAMES
from msbiqa.models.metrics import MetricChoice
from msbiqa.models.validation import budget_check
from msbiqa.report.plots import save_figure
from msbiqa.report.tables import REPLICATE_NOTE, save_table
from msbiqa.report.verdict import verdict_lines
from msbiqa.settings import from_dict, setting
from msbiqa.statistics.uncertainty import Bootstrap

ABLATION_ROWS = ("ms", *ABLATION.values())


ARCHITECTURES, LOSSES = tuple(ARCHITECTURE_NAMES.values()), LOSS_NAMES
FACTORS = (  # (factor, the other factor's level held fixed, (cell, cell)): first minus second
    *[("loss", arch, (ABLATION[arch, LOSSES[1]], ABLATION[arch, LOSSES[0]])) for arch in ARCHITECTURES],
    *[("architecture", loss, (ABLATION[ARCHITECTURES[1], loss], ABLATION[ARCHITECTURES[0], loss])) for loss in LOSSES],
)


@dataclass
class Claim:
    """What the decisive comparison certifies and how it reports."""

    source: DataSource = setting(DataSource(), "the data set (its --split is replaced by --splits)")
    splits: list[str] = setting(["test", "test-ood"], "splits, certified one after the other")
    base: MetricChoice = setting(MetricChoice(), "the base metric (default: the project's)")
    run: Certification = setting(
        Certification(defences=[*DEFENCES, *ABLATION_DEFENCES], images=200), "what is certified (one sigma)"
    )
    bootstrap: Bootstrap = setting(Bootstrap(resamples=2000), "how intervals are computed")
    compute: Compute = setting(
        Compute(threads=1), "where it computes; one thread by default, so the rows of every engine agree"
    )
    where: EngineOptions = setting(EngineOptions(), "the engine that certifies")
    replicates: list[str] = setting(
        ["shipped"], "denoiser sets, one per training seed: 'shipped' or a folder of KIND-sigmaS.pt files"
    )
    reuse: str | None = setting(
        None, "a claim record whose rows.csv starts the per-image files: its rows of the same settings are not redone"
    )

    def __post_init__(self):
        if len(self.run.sigmas) != 1:
            raise ValueError(
                f"claim compares the defences at one sigma, got {self.run.sigmas}: run it once per sigma, each "
                "with its own --out"
            )
        check_defences(self.run.defences)
        if not any(set(pair) <= set(self.run.defences) for pair in PAIRS):
            raise ValueError(
                f"claim compares DMS-IQA with MS and DMS, but --defences {' '.join(self.run.defences)} holds no such "
                "pair: add dms-iqa and ms or dms (msbiqa compare tabulates any defences)"
            )
        if not self.replicates or len(set(self.replicates)) < len(self.replicates):
            raise ValueError(f"replicates must name distinct denoiser sets, got {self.replicates}")


SKIPPED = ("split", "denoisers")  # the claim certifies every split of `splits` with every set of `replicates`


def _certify_split(config: Claim, split: str, out: Path, metric, engine, here) -> dict:
    """Certify one split with every replicate's denoisers into one resumable CSV. Returns the evidence rows (with
    split and replicate), wall seconds, the bare metric forward (ms per image) and the denoising quality of each
    replicate's denoisers on the same images."""
    start = time.perf_counter()
    dataset = replace(config.source, split=split).load()
    bare = bare_forward_ms(metric, dataset[0][0].to(here), config.run.sigmas[0])
    rows, denoising = [], []
    for replicate in config.replicates:
        run = replace(config.run, denoisers=replicate)
        found = certify_dataset(
            metric, dataset, run, out_csv=out / f"per_image_{split}.csv", device=config.compute.device, engine=engine
        )
        rows.append(evidence_rows(found, dataset).assign(split=split, replicate=replicate))
        denoising += [{"split": split, **row} for row in _denoising(run, metric, dataset, here, replicate)]
    seconds = time.perf_counter() - start
    rows = pd.concat(rows, ignore_index=True)
    return {"split": split, "seconds": seconds, "bare_ms": bare, "rows": rows, "denoising": denoising}


def _denoising(run: Certification, metric, dataset, here, replicate: str) -> list[dict]:
    """PSNR and score error of each denoised defence of `run` on its images (`denoising_quality`), and how its
    training ended (`budget_check` of the validation history stored with its weights)."""
    images = [dataset[i][0] for i in spread(len(dataset), run.images)]
    sigma = run.sigmas[0]
    rows = []
    for d in (d for d in run.defences if d in DENOISED):
        defended = load_defence(d, metric, sigma, run.denoisers, device=here)
        config = defended.denoiser.config
        budget = budget_check(config.get("history") or [], config.get("chosen_epoch"))
        rows.append(
            {"replicate": replicate, "defence": d, **denoising_quality(defended, images, seed=run.seed), **budget}
        )
    return rows


def check_replicates(config: Claim, metric) -> None:
    """Every replicate folder holds a weights file for every replicated defence, checked before any certification,
    so that a missing seed is said at once, not after hours of the other seeds' work."""
    sigma = config.run.sigmas[0]
    missing = [
        str(defence_file(folder, metric, d, sigma))
        for folder in config.replicates
        if folder != "shipped"
        for d in config.run.defences
        if d in REPLICATED and not defence_file(folder, metric, d, sigma).is_file()
    ]
    if missing:
        raise FileNotFoundError(
            f"the replicates lack {len(missing)} weights file(s): {', '.join(missing)}; train them "
            "(scripts/train_fair_test.sh) or leave those defences out (--defences)"
        )


ADDED = ["base", "photo", "split", "replicate"]  # the columns rows.csv adds to the per-image rows (photo: if any)


def start_from_record(record: str | Path, out: Path, splits) -> None:
    """Write each split's per-image file in `out` from a claim record's rows.csv (that split's rows, once each,
    without the ADDED columns, every field's text as it was), so that the rows computed with the same settings are
    reused, not recomputed. A split whose file is already there is left as it is."""
    rows_file = Path(record) / "rows.csv"
    if not rows_file.is_file():
        raise FileNotFoundError(
            f"{record} is not a claim record (no rows.csv): name a folder written by `msbiqa claim`"
        )
    rows = pd.read_csv(rows_file, dtype=str, keep_default_na=False)
    for split in splits:
        target = out / f"per_image_{split}.csv"
        if not target.exists():
            part = rows[rows["split"] == split].drop(columns=rows.columns.intersection(ADDED)).drop_duplicates()
            write_atomic(target, part.to_csv(index=False))


def bare_forward_ms(metric, image: torch.Tensor, sigma: float, batch: int = 16, repeats: int = 5) -> float:
    """Median milliseconds per image of the bare metric on a batch of noisy copies (the sampler's CPU batch), on
    the image's device."""
    noise = torch.randn((batch, *image.shape), generator=torch.Generator().manual_seed(0)).to(image.device)
    noisy = (image[None] + sigma * noise).clamp(0, 1)
    times = []
    with torch.inference_mode():
        metric(noisy)
        for _ in range(repeats):
            start = time.perf_counter()
            float(metric(noisy).sum())  # waits for the device
            times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times)) / batch


def run_claim(config: Claim, out: str | Path) -> dict[str, pd.DataFrame]:
    """Certify every split through the configured engine, then write and return the tables (module docstring)."""
    ray = config.where.engine == "ray"
    here = torch.device("cpu") if ray else config.compute.apply()  # an unavailable device fails here, before work
    engine = config.where.build()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start, load_before = time.perf_counter(), os.getloadavg()
    metric = config.base.load(device=here)
    check_replicates(config, metric)
    if config.reuse:
        start_from_record(config.reuse, out, config.splits)
    done = [_certify_split(config, split, out, metric, engine, here) for split in config.splits]
    certify_seconds = time.perf_counter() - start
    rows = pd.concat([d["rows"] for d in done], ignore_index=True)
    write_atomic(out / "rows.csv", rows.to_csv(index=False))
    boot = replace(config.bootstrap, seed=config.run.seed)
    tables = claim_tables(rows, metric, boot, bare_ms={d["split"]: d["bare_ms"] for d in done}, n=config.run.bounds.n)
    tables["denoising"] = pd.DataFrame([row for d in done for row in d["denoising"]])
    write_tables(tables, out, _captions(config, metric, boot))
    record = {
        "settings": asdict(config),
        "metric": getattr(metric, "name", config.base.metric),
        "higher_is_better": bool(getattr(metric, "higher_is_better", True)),
        "certify_wall_seconds": round(certify_seconds, 1),
        "certify_seconds_per_split": {d["split"]: round(d["seconds"], 1) for d in done},
        "bare_forward_ms": {d["split"]: d["bare_ms"] for d in done},  # unrounded: the cost table is recomputed from it
        "wall_seconds": round(time.perf_counter() - start, 1),
        "torch_threads": torch.get_num_threads(),
        "engine": config.where.engine,
        "cpus": os.cpu_count(),
        "load_average_1_5_15_min": {"start": load_before, "end": os.getloadavg()},
    }
    write_atomic(out / "run.json", json.dumps(record, indent=2) + "\n")
    return tables


def write_tables(tables: dict[str, pd.DataFrame], out: Path, captions: dict[str, str]) -> None:
    """Every table as out/NAME.csv and .md under its caption, the figure claim.png and verdict.md."""
    for name, table in tables.items():
        if name in ("cost", "denoising"):
            save_table(table, out, name, captions[name])
        else:
            save_evidence(table, out, name, captions[name], keep(name))
    save_figure(claim_figure(tables), out, "claim")
    write_atomic(out / "verdict.md", verdict_text(tables, captions["verdict"]))


def _recorded(folder: Path) -> tuple[dict, Bootstrap, SimpleNamespace]:
    """(run.json, the run's bootstrap, its metric's name and direction) of a claim record; a folder without the
    record's run.json or rows.csv is refused by name."""
    for name in ("run.json", "rows.csv"):
        if not (folder / name).is_file():
            raise FileNotFoundError(
                f"{folder} is not a claim record (no {name}): name folders written by `msbiqa claim`"
            )
    record = json.loads((folder / "run.json").read_text())
    settings = record["settings"]
    boot = Bootstrap(**{**settings["bootstrap"], "seed": settings["run"]["seed"]})
    return record, boot, SimpleNamespace(name=record["metric"], higher_is_better=record["higher_is_better"])


def tables_from_record(folder: str | Path) -> dict[str, pd.DataFrame]:
    """The evidence and cost tables of a finished claim run, recomputed from its rows.csv and run.json alone (no
    network, no data set): what a committed record of a run is checked against."""
    folder = Path(folder)
    record, boot, metric = _recorded(folder)
    rows = pd.read_csv(folder / "rows.csv", dtype={"image": str, "photo": str})
    n = record["settings"]["run"]["bounds"]["n"]
    return claim_tables(rows, metric, boot, bare_ms=record["bare_forward_ms"], n=n)


def rewrite_tables(folder: str | Path) -> dict[str, pd.DataFrame]:
    """Recompute a claim record's tables, figure and verdict from its rows.csv and run.json (`tables_from_record`)
    and write them into it under the captions of its recorded settings, after a change to the statistics. The
    denoising table (measured on the images at run time), rows.csv and run.json are left as they are."""
    folder = Path(folder)
    record, boot, metric = _recorded(folder)
    tables = tables_from_record(folder)
    write_tables(tables, folder, _captions(from_dict(Claim, record["settings"]), metric, boot))
    return tables


def claim_tables(rows: pd.DataFrame, metric, boot: Bootstrap, *, bare_ms: dict[str, float], n: int) -> dict:
    """The run's tables from per-image rows with split, base and photo columns (see `evidence_rows`; rows.csv of a
    run): one row per replicate (rows without a `replicate` column are one replicate, "shipped"), and with several
    replicates the same tables combined over them (names ending in `_combined`)."""
    rows = rows if "replicate" in rows else rows.assign(replicate="shipped")
    tables = _evidence(rows, metric, boot, combined=False)
    if rows["replicate"].nunique() > 1:
        tables.update({f"{k}_combined": t for k, t in _evidence(rows, metric, boot, combined=True).items()})
    tables["cost"] = cost_table(rows, bare_ms, n)
    return tables


def _evidence(rows: pd.DataFrame, metric, boot: Bootstrap, *, combined: bool) -> dict[str, pd.DataFrame]:
    """main_table, differences and, when every ablation cell is present, ablation and ablation_effects, per split
    and replicate, or per split combined over the replicates."""
    summarise = summarize_replicates if combined else summarize
    differ = differences_over_replicates if combined else differences
    extra = [] if combined else ["replicate"]
    present = set(rows["defence"])
    every = summarise(rows, ["split", "defence", *extra], metric, boot)
    tables = {"main_table": _rows_of(every, [d for d in (*DEFENCES, *REFERENCES) if d in present])}
    tables["differences"] = differ(rows, PAIRS, metric, boot, by=["split", *extra])
    if set(ABLATION_ROWS) <= present:
        ablation = _rows_of(every, ABLATION_ROWS)
        cell_of = {kind: cell for cell, kind in ABLATION.items()}
        ablation.insert(2, "architecture", ablation["defence"].map(lambda d: cell_of.get(d, ("none", ""))[0]))
        ablation.insert(3, "loss", ablation["defence"].map(lambda d: cell_of.get(d, ("", "none (no denoiser)"))[1]))
        tables["ablation"] = ablation
        effects = []
        for factor, fixed, pair in FACTORS:
            diff = differ(rows, [pair], metric, boot, by=["split", *extra])
            diff.insert(1, "factor", factor)
            diff.insert(2, "held_fixed", fixed)
            effects.append(diff)
        tables["ablation_effects"] = pd.concat(effects, ignore_index=True)
    return tables


def verdict_text(tables: dict[str, pd.DataFrame], setting: str) -> str:
    """verdict.md: the claim's verdict per split (`msbiqa.report.verdict`) from the differences combined over the
    replicates (or of the one replicate), under the setting's caption."""
    combined = "differences_combined" in tables
    table = tables["differences_combined" if combined else "differences"]
    basis = "combined over the training replicates" if combined else "of one training replicate"
    head = f"Verdict (docs/fair_test_rules.md, section 8), from the paired differences {basis}: {setting}"
    return head + "\n\n" + "\n".join(verdict_lines(table)) + "\n"


def claim_figure(tables: dict[str, pd.DataFrame]):
    """One column per split: SROCC, mean and normalised delta of every defence, and the paired SROCC differences
    (the main comparisons and the ablation's factor effects), each with its image (thick) and photo (thin)
    interval; one colour per training replicate, and their combination where there are several."""
    import matplotlib.pyplot as plt

    from msbiqa.report.plots import plot_intervals

    every = _figure_rows(tables, ["main_table", "ablation"]).drop_duplicates(["split", "defence", "replicate"])
    every = every.assign(label=every["defence"].map(defence_name))
    diffs = _figure_rows(tables, ["differences", "ablation_effects"])
    diffs = diffs.assign(label=diffs["comparison"].map(comparison_label))
    splits = list(dict.fromkeys(every["split"]))
    fig, axes = plt.subplots(4, len(splits), figsize=(7 * len(splits), 14), squeeze=False)
    for col, split in enumerate(splits):
        rows = every[every["split"] == split]
        plot_intervals(axes[0, col], rows, "srocc", x="label", hue="replicate")
        axes[0, col].set(title=f"{split}: SROCC vs MOS (higher = agrees)", ylabel="SROCC")
        certified = rows[rows["mean_delta"].notna()]
        plot_intervals(axes[1, col], certified, "mean_delta", x="label", hue="replicate")
        axes[1, col].set(title="mean certified delta", ylabel="delta")
        plot_intervals(axes[2, col], certified, "norm_delta", x="label", hue="replicate")
        axes[2, col].set(title="normalised delta (mean delta / across-image SD of the scores)", ylabel="delta / SD")
        pairs = diffs[diffs["split"] == split]
        if len(pairs):
            plot_intervals(axes[3, col], pairs, "srocc", x="label", hue="replicate")
            axes[3, col].axhline(0, color="0.5", lw=1)
        axes[3, col].set(title="paired SROCC differences", ylabel="Δ SROCC")
        for ax in axes[:, col]:
            ax.tick_params(axis="x", rotation=25, labelsize=8)
    axes[0, 0].legend(title="training replicate", fontsize=7)
    fig.suptitle("thick bars: 95 % bootstrap interval over images; thin bars: over reference photos", fontsize=9)
    fig.tight_layout()
    return fig


def _figure_rows(tables: dict[str, pd.DataFrame], names: list[str]) -> pd.DataFrame:
    """The per-replicate rows of the tables `names` and their combined rows (replicate "combined")."""
    parts = [tables[name] for name in names if name in tables]
    parts += [tables[f"{name}_combined"].assign(replicate="combined") for name in names if f"{name}_combined" in tables]
    return pd.concat(parts, ignore_index=True)


def _rows_of(table: pd.DataFrame, defences) -> pd.DataFrame:
    """The rows of `defences` in the order given, splits in their order of appearance."""
    order = {d: k for k, d in enumerate(defences)}
    splits = {s: k for k, s in enumerate(dict.fromkeys(table["split"]))}
    picked = table[table["defence"].isin(order)]
    key = picked["split"].map(splits) * len(order) + picked["defence"].map(order)
    return picked.loc[key.sort_values(kind="stable").index].reset_index(drop=True)


def cost_table(rows: pd.DataFrame, bare_ms: dict[str, float], n: int) -> pd.DataFrame:
    """Milliseconds per noise sample of each defence (seconds per image / samples per image) and the ratio to
    the bare metric forward per image timed in the same worker. binned RS draws n + n0 samples (n0 =
    max(16, n // 8)); none scores the image once."""
    out = []
    for (split, defence), group in rows.groupby(["split", "defence"], sort=False):
        samples = 1 if defence == "none" else n + (max(16, n // 8) if defence == "binned-rs" else 0)
        ms = 1000 * float(group["seconds"].mean()) / samples
        out.append(
            {
                "split": split,
                "defence": defence,
                "s_per_image": float(group["seconds"].mean()),
                "ms_per_sample": ms,
                "bare_ms_per_sample": bare_ms[split],
                "ratio_to_bare": ms / bare_ms[split],
            }
        )
    return pd.DataFrame(out)


KEEP = {  # the columns each evidence table shows before its statistics ("replicates" in the combined tables)
    "main_table": ["split", "defence", "replicate", "images", "photos", "certified"],
    "differences": ["split", "comparison", "replicate", "images", "photos"],
    "ablation": ["split", "architecture", "loss", "defence", "replicate", "images"],
    "ablation_effects": ["split", "factor", "held_fixed", "comparison", "replicate", "images"],
}
WHAT = {  # what each evidence table is, for its caption
    "main_table": "",
    "differences": "Paired differences on the same images and resamples.",
    "ablation": "Architecture x loss, same data, sigma, n and seed.",
    "ablation_effects": "Each factor's paired effect with the other held fixed (first cell minus second).",
}
DECIDED = "'decided': the image interval (and the photo interval, where photos exist) excludes 0."


def keep(name: str) -> list[str]:
    """The columns the evidence table `name` shows before its statistics."""
    base = name.removesuffix("_combined")
    return [("replicates" if c == "replicate" and name != base else c) for c in KEEP[base]]


def _captions(config: Claim, metric, boot: Bootstrap) -> dict[str, str]:
    data = f"{config.source.dataset} {', '.join(config.splits)}"
    setting_text = run_text(config.run, boot, data=data, metric=metric).replace(" images,", " images per split,", 1)
    setting_text += f", denoiser sets (training replicates) {', '.join(config.replicates)}"
    captions = {}
    for name, what in WHAT.items():
        decided = f" {DECIDED}" if "differences" in name or "effects" in name else ""
        captions[name] = caption(setting_text, f"{what}{decided} One row per training replicate.".strip())
        captions[f"{name}_combined"] = caption(setting_text, f"{what} {REPLICATE_NOTE}.".strip())
    return {
        **captions,
        "verdict": f"{setting_text}.",
        "cost": f"{setting_text}. Seconds per image / noise samples per image, and its ratio to the bare metric "
        "forward on a batch of 16 noisy images timed in this process.",
        "denoising": f"{setting_text}. PSNR (dB) against the clean image of one seeded noisy draw per image and of "
        "its denoised version, and the mean |metric(denoised) - metric(clean)| (what the target loss keeps small), "
        "per replicate; from the weights file: the kept (best validated) epoch of the training epochs, whether it was "
        "the last (possibly under-trained), the range of the last three epochs' validation SROCC and the validation "
        "SROCC at the kept epoch (4 draws; empty for weights trained without validation).",
    }
