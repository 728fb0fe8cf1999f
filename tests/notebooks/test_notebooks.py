"""Every numbered notebook, executed with papermill at a tiny scale: it succeeds and writes the expected
tables and figures, holding finite numbers in plausible ranges."""

import ast
import math

import nbformat
import numpy as np
import pandas as pd
import pytest
from support import load_script

from msbiqa.notebooks.reproduce import declared_parameters, notebooks_dir, reproduce

NOTEBOOKS = sorted(p.stem for p in notebooks_dir().glob("[0-9][0-9]_*.ipynb"))


TINY = {
    "*": {"alpha": 0.01, "n": 24, "images": 4, "device": "cpu", "resamples": 50},
    "00": {"n": 40, "sigmas": [0.12], "eps_values": [0.05], "interactive": True},  # the sliders' cell runs too
    "01": {
        "n": 40,
        "sigmas": [0.12],
        "n_values": [20, 100, 1000],
        "coverage_n": [20],
        "coverage_alphas": [0.05, 0.2],
        "trials": 300,
    },
    "02": {"epochs": 1, "images": 6, "crop": 32, "batch_size": 8, "eval_images": 2},
    "04": {"defences": ["none", "ms", "dms-iqa"], "sigmas": [0.12, 0.25], "images": 3},
    "05": {"images": 1, "steps": 2, "eot_samples": 2, "defences": ["ms"]},
    "06": {"steps": 2, "train_images": 4, "test_images": 2, "n": 16, "draws": 2, "batch_size": 4},
    "07": {
        "sizes": [32, 48],
        "n_values": [20, 40],
        "models": ["small-cnn"],
        "denoisers": ["none", "unet"],
        "repeats": 1,
        "naive_n": 20,
        "allocator_sizes": [32, "40x60"],
        "allocator_ns": [8, 4],
    },
}


EXPECTED = {  # notebook -> files it must write (besides run.json and the executed notebook)
    "00_quickstart": [
        "certificate.csv",
        "certificate.md",
        "samples.png",
        "histogram.png",
        "sigma_eps_grid.png",
        "radius.png",
    ],
    "01_median_smoothing_bounds": [
        "ranks.csv",
        "delta_vs_eps.csv",
        "coverage.csv",
        "percentiles.png",
        "ranks_vs_n.png",
        "delta_vs_eps.png",
        "coverage.png",
    ],
    "02_train_denoisers": [
        "loss_history.csv",
        "denoising.csv",
        "losses.png",
        "validation.png",  # per-epoch validation SROCC and spread, the kept epoch marked
        "dms-sigma0.12.pt",
        "tinyiqa/dms-iqa-sigma0.12.pt",  # trained through the metric: one folder per metric
    ],
    "03_main_table": ["main_table.csv", "main_table.md", "main_table.png", "differences.csv", "differences.md"],
    "04_sigma_tradeoff": ["sigma_tradeoff.csv", "sigma_tradeoff.png"],
    "05_attacks": ["attacks.csv", "attacks_per_image.csv", "attacks.png"],
    "06_defended_metric_as_loss": ["metric_as_loss.csv", "metric_as_loss.png"],
    "07_performance": [
        "throughput.csv",
        "scaling.csv",
        "sweep.csv",
        "allocator.csv",
        "throughput.png",
        "cost_scaling.png",
    ],
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    runs = {r.name: r for r in reproduce(out, overrides=TINY, progress=False)}
    return out, runs


def table(results, name, file):
    return pd.read_csv(results[0] / name / file)


def assert_bounds_ordered(df, median="score"):
    ok = df.dropna(subset=["lower", "upper"])
    assert len(ok) and (ok["lower"] <= ok[median] + 1e-9).all() and (ok[median] <= ok["upper"] + 1e-9).all()


def assert_correlations(df):
    """In [-1, 1]; NaN only where a defence's scores are constant (binned RS on a few images can be)."""
    for col in ("srocc", "plcc", "krocc"):
        values = df[col].to_numpy(float)
        assert np.isfinite(values).any() and (np.abs(values[np.isfinite(values)]) <= 1 + 1e-9).all(), col


def test_every_notebook_is_tested_and_stored_clean():
    """Stored as JupyterLab saves them on the project's Python, without outputs (scripts/notebook_filter.py),
    with a papermill parameters cell."""
    stored_form = load_script("notebook_filter").stored_form
    assert NOTEBOOKS == sorted(EXPECTED)
    for name in NOTEBOOKS:
        data = (notebooks_dir() / f"{name}.ipynb").read_bytes()
        assert stored_form(data) == data, f"{name} is not in the stored form: python3 scripts/notebook_filter.py"
        text = data.decode("utf-8")
        nb = nbformat.reads(text, as_version=4)
        assert nb.metadata.language_info["version"] and nb.metadata.kernelspec["name"] == "python3"
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), f"{name} has outputs"
        params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
        assert len(params) == 1, f"{name} needs one cell tagged parameters"
        assigned = {t.id for node in ast.parse(params[0].source).body for t in getattr(node, "targets", [])}
        assert assigned == set(declared_parameters(notebooks_dir() / f"{name}.ipynb")), (
            f"{name}: papermill cannot parse every parameter (no '=' in comments)"
        )
        assert "out" in assigned and "device" in assigned


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_and_writes_its_outputs(results, name):
    out, runs = results
    run = runs[name]
    assert run.ok, run.error
    for file in EXPECTED[name] + ["run.json", f"{name}.ipynb"]:
        path = out / name / file
        assert path.is_file() and path.stat().st_size > 0, f"{name} did not write {file}"
    for csv in (out / name).glob("*.csv"):
        numbers = pd.read_csv(csv).select_dtypes("number").to_numpy(float)
        assert not np.isnan(numbers).all(), f"{csv.name} holds no numbers"
    index = (out / "README.md").read_text()
    assert f"[{name}]({name}/{name}.ipynb) | ok |" in index


def test_quickstart_and_bounds_numbers(results):
    executed = nbformat.read(results[0] / "00_quickstart" / "00_quickstart.ipynb", as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs), "no sliders"
    cert = table(results, "00_quickstart", "certificate.csv")
    assert_bounds_ordered(cert)
    assert (cert["delta"].dropna() >= 0).all()
    curves = table(results, "01_median_smoothing_bounds", "delta_vs_eps.csv")
    assert_bounds_ordered(curves, "median")
    cov = table(results, "01_median_smoothing_bounds", "coverage.csv")
    rates = cov[["lower_miss", "upper_miss", "off_by_one_lower_miss"]].to_numpy(float)
    assert ((rates >= 0) & (rates <= 1)).all() and (cov["lower_miss_exact"] <= cov["alpha"]).all()


def test_training_numbers(results):
    history = table(results, "02_train_denoisers", "loss_history.csv")
    assert set(history["kind"]) == {"dms", "dms-iqa"} and np.isfinite(history["loss"]).all()
    assert {"val_srocc", "val_spread"} <= set(history.columns)  # every epoch validated
    quality = table(results, "02_train_denoisers", "denoising.csv")
    assert np.isfinite(quality[["psnr_noisy", "psnr_denoised", "score_abs_error"]].to_numpy(float)).all()


def test_main_table_and_tradeoff_numbers(results):
    main = table(results, "03_main_table", "main_table.csv")
    assert list(main["defence"]) == ["none", "ms", "dms", "dms-iqa", "binned-rs"]  # keys; the .md names them
    assert_correlations(main)
    assert ((main["certified"] >= 0) & (main["certified"] <= 1)).all()
    assert (main["mean_delta"].dropna() >= 0).all() and main.loc[main["defence"] == "ms", "certified"].item() == 1
    text = (results[0] / "03_main_table" / "main_table.md").read_text()
    assert "delta = max(upper - median, median - lower)" in text and "higher = agrees with MOS" in text
    assert "[ ] over images" in text and "| DMS-IQA |" in text
    ok = main["srocc_lo"].notna()  # NaN where too many of 4 images' resamples have constant scores
    assert ok.sum() >= 3 and (ok == main["srocc_hi"].notna()).all()
    assert (main.loc[ok, "srocc_lo"] <= main.loc[ok, "srocc"] + 1e-9).all()
    assert (main.loc[ok, "srocc"] <= main.loc[ok, "srocc_hi"] + 1e-9).all()
    diffs = table(results, "03_main_table", "differences.csv")
    assert list(diffs["comparison"]) == ["dms-iqa - ms", "dms-iqa - dms"]
    per_image = next((results[0] / "03_main_table").glob("per_image_*.csv"))
    assert_bounds_ordered(pd.read_csv(per_image).query("defence in ['ms', 'dms', 'dms-iqa']"))
    tradeoff = table(results, "04_sigma_tradeoff", "sigma_tradeoff.csv")
    assert sorted(tradeoff["sigma"].unique()) == [0.12, 0.25]
    assert_correlations(tradeoff)
    assert {"srocc_lo", "srocc_hi", "fidelity_srocc", "mean_delta_photo_lo"} <= set(tradeoff.columns)


def test_attack_loss_and_performance_numbers(results):
    rows = table(results, "05_attacks", "attacks_per_image.csv")
    assert_bounds_ordered(rows, "median")
    assert (rows["eot_norm"] <= 0.05 + 1e-4).all() and (rows["base_norm"] <= 0.05 + 1e-4).all()
    loss = table(results, "06_defended_metric_as_loss", "metric_as_loss.csv")
    assert list(loss["objective"]) == ["identity", "base", "defended"]
    assert np.isfinite(loss.select_dtypes("number").to_numpy(float)).all()
    speed = table(results, "07_performance", "throughput.csv")
    assert (speed["samples_per_s"] > 0).all() and speed["cert_ok"].dropna().astype(bool).all()
    assert math.isfinite(table(results, "07_performance", "scaling.csv")["intercept"].iloc[0])
    assert table(results, "07_performance", "allocator.csv")["same_scores"].astype(bool).all()
