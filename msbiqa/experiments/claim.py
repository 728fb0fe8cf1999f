"""The decisive comparison: does DMS-IQA follow MOS better than MS and DMS at comparable certified delta, and
which of its two changes over DMS (U-Net instead of DnCNN, MSE + rank + target instead of MSE) does it?

One run certifies the same images of each split (in-distribution "test" and out-of-distribution "test-ood"
for the embedded set) under every defence at one sigma, eps, n and alpha, with common random numbers
(`certify_dataset`), then writes, each with 95 % bootstrap intervals over images and over reference photos:

* main_table: none, MS, DMS, DMS-IQA, binned RS per split (SROCC/PLCC/KROCC vs MOS, sign-corrected, mean
  certified delta, fidelity to the base score);
* differences: the paired differences DMS-IQA - MS and DMS-IQA - DMS;
* ablation: MS and {DnCNN, U-Net} x {MSE, MSE + rank + target}; ablation_effects: each factor's paired
  effect with the other held fixed (loss within each architecture, architecture within each loss);
* cost: seconds per noise sample of each defence as a ratio to the bare metric forward timed in the same run;
* denoising: PSNR of noisy and denoised images and the metric's score error, per denoiser.

Splits are certified in parallel worker processes (one per split, `threads` CPU threads each); the per-image
rows are resumable CSVs, so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from msbiqa.experiments.defences import DEFENCES, KNOWN, LABELS
from msbiqa.models.denoisers import ABLATION
from msbiqa.report.evidence import (
    INTERVAL_NOTE,
    SIGN_NOTE,
    decided_text,
    formatted,
    interval_table,
    paired_differences,
    with_context,
)
from msbiqa.report.plots import save_figure
from msbiqa.report.tables import DELTA_NOTE, save_table
from msbiqa.report.uncertainty import Bootstrap
from msbiqa.settings import setting
from msbiqa.smoothing.validate import default_device

PAIRS = (("dms-iqa", "ms"), ("dms-iqa", "dms"))
ABLATION_ROWS = ("ms", *ABLATION.values())
SHOWN = ("srocc", "plcc", "krocc", "mean_delta", "fidelity_srocc")


ARCHITECTURES, LOSSES = ("DnCNN", "U-Net"), ("MSE", "MSE + rank + target")
FACTORS = (  # (factor, the other factor's level held fixed, (cell, cell)): first minus second
    *[("loss", arch, (ABLATION[arch, LOSSES[1]], ABLATION[arch, LOSSES[0]])) for arch in ARCHITECTURES],
    *[("architecture", loss, (ABLATION[ARCHITECTURES[1], loss], ABLATION[ARCHITECTURES[0], loss])) for loss in LOSSES],
)


def image_count(text: str) -> int | None:
    """An image count from the command line: a positive whole number, or 'all' (None)."""
    if text == "all":
        return None
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"images must be a positive whole number or 'all', got {text!r}")
    return int(text)


@dataclass
class Claim:
    """What the decisive comparison certifies and how it reports."""

    dataset: str = setting("embedded", "data set (embedded, koniq10k, spaq, clive, pyiqa)")
    root: str | None = setting(None, "data set folder (not needed for embedded)")
    splits: list[str] = setting(["test", "test-ood"], "splits, each certified in its own worker process")
    images: int | None = setting(200, "images spread evenly over each split ('all' for every image)", parse=image_count)
    metric: str | None = setting(None, "base metric (default: the project's)")
    defences: list[str] = setting([*DEFENCES, "dncnn-full", "unet-mse"], "defences", choices=KNOWN)
    sigma: float = setting(0.12, "noise level")
    eps: float = setting(0.05, "certified l2 radius on [0, 1] images")
    n: int = setting(100, "noise samples per certificate")
    alpha: float = setting(0.001, "failure probability of each bound")
    seed: int = setting(0, "noise seed (common random numbers across defences)")
    denoisers: str = setting("shipped", "'shipped' or a folder of KIND-sigmaS.pt files")
    device: str | None = setting(None, "cpu, cuda, ... (default: cuda if available); the worker processes share it")
    threads: int = setting(1, "CPU threads per worker process")
    resamples: int = setting(2000, "bootstrap resamples per interval")


def _certify_split(config: Claim, split: str, out: str) -> dict:
    """Worker: certify one split. Returns its rows, wall seconds, the bare metric forward (ms per image) and
    the denoising quality of each denoised defence on the same images."""
    from msbiqa.data import load_dataset
    from msbiqa.data.subsets import spread
    from msbiqa.experiments.comparison import certify_dataset
    from msbiqa.experiments.defences import DENOISED, denoising_quality, load_defence
    from msbiqa.models.metrics import load_metric

    torch.set_num_threads(config.threads)
    start = time.perf_counter()
    device = default_device(config.device)
    dataset = load_dataset(config.dataset, root=config.root, split=split)
    metric = load_metric(config.metric, device=device)
    bare = bare_forward_ms(metric, dataset[0][0].to(device), config.sigma)
    rows = certify_dataset(
        metric,
        dataset,
        defences=config.defences,
        sigmas=[config.sigma],
        eps=config.eps,
        n=config.n,
        alpha=config.alpha,
        images=config.images,
        seed=config.seed,
        denoisers=config.denoisers,
        out_csv=Path(out) / f"per_image_{split}.csv",
        device=device,
        progress=False,
    )
    seconds = time.perf_counter() - start
    images = [dataset[i][0] for i in spread(len(dataset), config.images)]
    denoising = [
        {
            "split": split,
            "defence": d,
            **denoising_quality(
                load_defence(d, metric, config.sigma, config.denoisers, device=device), images, seed=config.seed
            ),
        }
        for d in config.defences
        if d in DENOISED
    ]
    return {"split": split, "seconds": seconds, "bare_ms": bare, "rows": rows, "denoising": denoising}


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
    """Certify every split (in parallel), then write and return the tables (see the module docstring)."""
    from msbiqa.data import load_dataset
    from msbiqa.models.metrics import load_metric

    default_device(config.device)  # an unavailable device fails here, before any worker starts
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start, load_before = time.perf_counter(), os.getloadavg()
    for split in config.splits:  # builds or checks the data once, before the workers open it
        load_dataset(config.dataset, root=config.root, split=split)
    workers = max(1, len(config.splits))
    context = multiprocessing.get_context("spawn")  # fresh interpreters: no forked torch thread pools
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        jobs = [pool.submit(_certify_split, config, split, str(out)) for split in config.splits]
        done = [job.result() for job in jobs]
    certify_seconds = time.perf_counter() - start
    metric = load_metric(config.metric, device="cpu")  # only its name and direction are read here
    higher = bool(getattr(metric, "higher_is_better", True))
    rows = pd.concat(
        [
            with_context(d["rows"], load_dataset(config.dataset, root=config.root, split=d["split"])).assign(
                split=d["split"]
            )
            for d in done
        ],
        ignore_index=True,
    )
    boot = Bootstrap(resamples=config.resamples, seed=config.seed)
    tables = claim_tables(rows, higher, boot, bare_ms={d["split"]: d["bare_ms"] for d in done}, n=config.n)
    tables["denoising"] = pd.DataFrame([row for d in done for row in d["denoising"]])
    caption = _caption(config, metric)
    for name, table in tables.items():
        plain = name in ("cost", "denoising")
        save_table(table, out, name, caption[name], shown=None if plain else _display(name, table))
    figure = claim_figure(tables)
    save_figure(figure, out, "claim")
    record = {
        "settings": asdict(config),
        "metric": getattr(metric, "name", config.metric),
        "certify_wall_seconds": round(certify_seconds, 1),
        "certify_seconds_per_split": {d["split"]: round(d["seconds"], 1) for d in done},
        "bare_forward_ms": {d["split"]: round(d["bare_ms"], 3) for d in done},
        "wall_seconds": round(time.perf_counter() - start, 1),
        "torch_threads_per_worker": config.threads,
        "cpus": os.cpu_count(),
        "load_average_1_5_15_min": {"start": load_before, "end": os.getloadavg()},
        "workers": workers,
    }
    (out / "run.json").write_text(json.dumps(record, indent=2) + "\n")
    return tables


def claim_tables(
    rows: pd.DataFrame, higher_is_better: bool, boot: Bootstrap, *, bare_ms: dict[str, float], n: int
) -> dict[str, pd.DataFrame]:
    """The run's tables from per-image rows with split, base and photo columns (see `with_context`)."""
    present = set(rows["defence"])
    every = interval_table(rows, ["split", "defence"], higher_is_better=higher_is_better, config=boot)
    tables = {"main_table": _rows_of(every, [d for d in DEFENCES if d in present])}
    pairs = [p for p in PAIRS if set(p) <= present]
    tables["differences"] = paired_differences(
        rows, pairs, by=["split"], higher_is_better=higher_is_better, config=boot
    )
    if set(ABLATION_ROWS) <= present:
        ablation = _rows_of(every, ABLATION_ROWS)
        cell_of = {kind: cell for cell, kind in ABLATION.items()}
        ablation.insert(2, "architecture", ablation["defence"].map(lambda d: cell_of.get(d, ("none", ""))[0]))
        ablation.insert(3, "loss", ablation["defence"].map(lambda d: cell_of.get(d, ("", "none (no denoiser)"))[1]))
        tables["ablation"] = ablation
        effects = []
        for factor, fixed, pair in FACTORS:
            diff = paired_differences(rows, [pair], by=["split"], higher_is_better=higher_is_better, config=boot)
            diff.insert(1, "factor", factor)
            diff.insert(2, "held_fixed", fixed)
            effects.append(diff)
        tables["ablation_effects"] = pd.concat(effects, ignore_index=True)
    tables["cost"] = cost_table(rows, bare_ms, n)
    return tables


def claim_figure(tables: dict[str, pd.DataFrame]):
    """One column per split: SROCC and mean delta of every defence, and the paired SROCC differences (the
    main comparisons and the ablation's factor effects), each with its image (thick) and photo (thin) interval."""
    import matplotlib.pyplot as plt

    from msbiqa.report.plots import plot_intervals

    every = pd.concat([tables["main_table"], tables.get("ablation", tables["main_table"])]).drop_duplicates(
        ["split", "defence"]
    )
    every = every.assign(label=every["defence"].map(lambda d: LABELS.get(d, d)))
    diffs = tables["differences"]
    if "ablation_effects" in tables:
        diffs = pd.concat([diffs, tables["ablation_effects"]], ignore_index=True)
    diffs = diffs.assign(label=diffs["comparison"].map(comparison_label))
    splits = list(dict.fromkeys(every["split"]))
    fig, axes = plt.subplots(3, len(splits), figsize=(7 * len(splits), 11), squeeze=False)
    for col, split in enumerate(splits):
        rows = every[every["split"] == split]
        plot_intervals(axes[0, col], rows, "srocc", x="label")
        axes[0, col].set(title=f"{split}: SROCC vs MOS (higher = agrees)", ylabel="SROCC")
        certified = rows[rows["mean_delta"].notna()]
        plot_intervals(axes[1, col], certified, "mean_delta", x="label")
        axes[1, col].set(title="mean certified delta", ylabel="delta")
        pairs = diffs[diffs["split"] == split]
        if len(pairs):
            plot_intervals(axes[2, col], pairs, "srocc", x="label")
            axes[2, col].axhline(0, color="0.5", lw=1)
        axes[2, col].set(title="paired SROCC differences", ylabel="Δ SROCC")
        for ax in axes[:, col]:
            ax.tick_params(axis="x", rotation=25, labelsize=8)
    fig.suptitle("thick bars: 95 % bootstrap interval over images; thin bars: over reference photos", fontsize=9)
    fig.tight_layout()
    return fig


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


def _display(name: str, table: pd.DataFrame) -> pd.DataFrame:
    keep = {
        "main_table": ["split", "defence", "images", "photos", "certified"],
        "differences": ["split", "comparison", "images", "photos"],
        "ablation": ["split", "architecture", "loss", "defence", "images"],
        "ablation_effects": ["split", "factor", "held_fixed", "comparison", "images"],
    }[name]
    shown = formatted(table, SHOWN, keep)
    if "defence" in shown:
        shown["defence"] = shown["defence"].map(lambda d: LABELS.get(d, d))
    if "comparison" in table:
        shown["comparison"] = table["comparison"].map(comparison_label)
        shown["decided (SROCC, PLCC)"] = decided_text(table)
    return shown


def comparison_label(text: str) -> str:
    """'dms-iqa - ms' as the tables name it: 'DMS-IQA − MS'."""
    a, b = text.split(" - ")
    return f"{LABELS.get(a, a)} − {LABELS.get(b, b)}"


def _caption(config: Claim, metric) -> dict[str, str]:
    setting_text = (
        f"{config.dataset} {', '.join(config.splits)}, {config.images or 'all'} images per split, metric "
        f"{getattr(metric, 'name', config.metric)}, sigma={config.sigma}, eps={config.eps} (l2, [0,1] images), "
        f"n={config.n}, alpha={config.alpha} per bound, seed={config.seed}, {config.resamples} bootstrap resamples"
    )
    common = f"{setting_text}. {SIGN_NOTE}. {INTERVAL_NOTE}. {DELTA_NOTE}; mean delta over certified images."
    return {
        "main_table": common,
        "differences": f"Paired differences on the same images and resamples. {common} 'decided': the image "
        "interval (and the photo interval, where photos exist) excludes 0.",
        "ablation": f"Architecture x loss, same data, sigma, n and seed. {common}",
        "ablation_effects": "Each factor's paired effect with the other held fixed (first cell minus second). "
        f"{common} 'decided': the intervals exclude 0.",
        "cost": f"{setting_text}. Seconds per image / noise samples per image, and its ratio to the bare metric "
        "forward on a batch of 16 noisy images timed in the same worker process.",
        "denoising": f"{setting_text}. PSNR (dB) against the clean image of one seeded noisy draw per image and of "
        "its denoised version, and the mean |metric(denoised) - metric(clean)| (what the target loss keeps small).",
    }
