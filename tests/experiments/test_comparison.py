"""Certifying a dataset under every defence: rows per (sigma, defence, image), resume without recomputing,
the same images for every defence."""

import dataclasses
import json

import pandas as pd
import pytest
import torch
from support import ItemSet, TinySet, tiny_train_config

from msbiqa.experiments.certification import Certification, certify_dataset
from msbiqa.models.denoiser_training import train_denoiser
from msbiqa.models.denoisers import weights_filename
from msbiqa.smoothing.certify import Bounds


def certify(metric, dataset, **kw):
    """certify_dataset with the run's settings as keywords (those of Certification) beside its own."""
    bounds = Bounds(**{k: kw.pop(k) for k in ("eps", "n", "alpha")})
    fields = {f.name for f in dataclasses.fields(Certification)}
    run = Certification(
        bounds=bounds, **{k: list(v) if isinstance(v, tuple) else v for k, v in kw.items() if k in fields}
    )
    return certify_dataset(metric, dataset, run, **{k: v for k, v in kw.items() if k not in fields})


class Brightness(torch.nn.Module):
    name, higher_is_better, score_range = "brightness", True, (0.0, 100.0)

    def forward(self, x):
        return 100 * x.mean(dim=(1, 2, 3))


def test_certify_dataset_rows_and_resume(tmp_path, monkeypatch):
    csv = tmp_path / "rows.csv"
    kw = dict(
        defences=("none", "ms", "binned-rs"),
        sigmas=(0.12,),
        eps=0.05,
        n=40,
        alpha=0.01,
        images=3,
        out_csv=csv,
        device="cpu",
        progress=False,
    )
    table = certify(Brightness(), TinySet(), **kw)
    assert len(table) == 9 and set(table["image"]) == {"a", "c", "d"}  # spread over the set
    ms = table[table["defence"] == "ms"]
    assert (ms["lower"] <= ms["score"]).all() and (ms["score"] <= ms["upper"]).all() and ms["certified"].all()
    assert table[table["defence"] == "none"]["delta"].isna().all()
    calls = []
    monkeypatch.setattr("msbiqa.experiments.certification.certify_one", lambda *a, **k: calls.append(1))
    again = certify(Brightness(), TinySet(), **kw)  # everything is in the CSV: nothing recomputed
    assert calls == [] and len(again) == 9
    with pytest.raises(TypeError):  # another eps is another configuration: recomputed
        certify(Brightness(), TinySet(), **{**kw, "eps": 0.04})
    assert json.dumps(again["n"].unique().tolist()) == "[40]"


class Darkness(Brightness):
    name, higher_is_better = "darkness", False

    def forward(self, x):
        return 100 - 100 * x.mean(dim=(1, 2, 3))


def test_a_rerun_with_another_metric_computes_that_metrics_rows(tmp_path):
    kw = dict(
        defences=("none", "ms"),
        sigmas=(0.12,),
        eps=0.05,
        n=40,
        alpha=0.01,
        out_csv=tmp_path / "r.csv",
        device="cpu",
        progress=False,
    )
    bright = certify(Brightness(), TinySet(), **kw)
    dark = certify(Darkness(), TinySet(), **kw)  # same folder, another metric: new rows, not relabelled
    assert set(dark["metric"]) == {"darkness"} and set(bright["metric"]) == {"brightness"}
    assert (dark["score"].to_numpy() != bright["score"].to_numpy()).all()
    assert len(pd.read_csv(tmp_path / "r.csv")) == len(bright) + len(dark)


def test_run_keys_name_everything_that_changes_a_row(tmp_path):
    table = certify(
        Brightness(),
        TinySet(),
        defences=("ms",),
        sigmas=(0.12, 0.12),
        eps=0.05,
        n=40,
        alpha=0.01,
        device="cpu",
        progress=False,
    )
    assert len(table) == 4  # a repeated sigma is certified once
    row = table.iloc[0]
    assert (row["dataset"], row["metric"], row["precision"], row["denoiser"]) == (
        "TinySet",
        "brightness",
        "fp32",
        "none",
    )
    assert len(row["metric_digest"]) == 12 and row["image_size"] == "native" and row["seed"] == 0


class NominalRange(Brightness):
    """Scores 20..80 while the metric declares (0, 1), as pyiqa's approximate range strings can."""

    name, score_range = "nominal", (0.0, 1.0)


def test_binned_rs_bins_span_the_observed_scores_not_the_declared_range():
    table = certify(
        NominalRange(),
        TinySet(),
        defences=("binned-rs",),
        sigmas=(0.01,),
        eps=0.005,
        n=200,
        alpha=0.01,
        device="cpu",
        progress=False,
    )
    assert table["bin_lo"].unique() == pytest.approx([20 - 6]) and table["bin_hi"].unique() == pytest.approx([80 + 6])
    assert table["certified"].all() and table["score"].nunique() == 4  # one bin per grey level, none clamped
    assert (table["delta"] == 0).all()


def test_denoisers_are_checked_before_any_image_is_scored(tmp_path, monkeypatch):
    monkeypatch.setattr("msbiqa.experiments.certification.certify_one", lambda *a, **k: pytest.fail("scored"))
    kw = dict(sigmas=(0.12,), eps=0.05, n=40, alpha=0.01, device="cpu", progress=False)
    with pytest.raises(ValueError, match="trained through tinyiqa, not brightness"):
        certify(Brightness(), TinySet(), defences=("ms", "dms-iqa"), **kw)  # shipped DMS-IQA: for TinyIQA
    with pytest.raises(FileNotFoundError, match="dms-sigma0.12.pt"):
        certify(Brightness(), TinySet(), defences=("ms", "dms"), denoisers=tmp_path, **kw)
    monkeypatch.undo()
    foreign = certify(
        Brightness(), TinySet(), defences=("dms-iqa",), images=1, foreign_denoisers=True, **{**kw, "n": 20}
    )
    assert foreign["denoiser"].tolist() == ["dms-iqa-sigma0.12.pt (trained for tinyiqa)"]


def test_compare_defences_certifies_every_defence(tmp_path, photos, tiny_metric):
    from msbiqa.experiments.comparison import Comparison, compare_defences

    for kind in ("dms", "dms-iqa"):
        train_denoiser(
            tiny_train_config(kind, epochs=1),
            out=tmp_path / weights_filename(kind, 0.1),
            metric=tiny_metric,
            dataset=photos,
            progress=False,
        )
    run = Certification(
        sigmas=[0.1], bounds=Bounds(n=40), images=5, defences=["none", "ms", "dms", "dms-iqa"], denoisers=str(tmp_path)
    )
    config = Comparison(run=run)
    summary, per_image = compare_defences(tiny_metric, ItemSet(photos), config, progress=False, device="cpu")
    assert list(summary["defence"]) == ["none", "ms", "dms", "dms-iqa"]
    assert (summary["images"] == 5).all() and (summary["eps"] == 0.05).all()
    assert summary["mean_delta"].isna().tolist() == [True, False, False, False]
    assert (summary["mean_delta"].iloc[1:] > 0).all()
    assert (summary["srocc_lo"] <= summary["srocc"] + 1e-9).all() and (
        summary["srocc"] <= summary["srocc_hi"] + 1e-9
    ).all()
    assert summary.loc[0, "fidelity_srocc"] == 1  # the undefended score agrees with itself
    subsets = per_image.groupby("defence")["image"].apply(tuple)
    assert subsets.nunique() == 1 and len(subsets.iloc[0]) == 5  # the same images for every defence
