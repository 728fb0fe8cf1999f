"""Correlations against scipy, the logistic PLCC, and resumable dataset scoring."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from msbiqa import evaluate
from msbiqa.evaluate import correlations, krocc, plcc, plcc_logistic, score_dataset, srocc


def test_rank_and_linear_correlations_match_scipy():
    rng = np.random.default_rng(0)
    mos = rng.uniform(0, 100, 200)
    pred = mos + rng.normal(0, 25, 200)
    assert srocc(pred, mos) == pytest.approx(stats.spearmanr(pred, mos).statistic, abs=1e-12)
    assert krocc(pred, mos) == pytest.approx(stats.kendalltau(pred, mos).statistic, abs=1e-12)
    assert plcc(pred, mos) == pytest.approx(stats.pearsonr(pred, mos).statistic, abs=1e-12)
    assert srocc([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert krocc([1, 2, 3, 4], [40, 30, 20, 10]) == pytest.approx(-1.0)


def test_logistic_plcc_linearises_a_monotone_nonlinearity():
    x = np.linspace(-3, 3, 101)
    mos = 20 + 60 / (1 + np.exp(-2.0 * x))  # an exact 4-parameter logistic of x
    assert plcc_logistic(x, mos) == pytest.approx(1.0, abs=1e-6)
    assert plcc(x, mos) < 0.98
    # a decreasing relation (lower-is-better metric): the fitted logistic is decreasing too
    assert plcc_logistic(-x, mos) == pytest.approx(1.0, abs=1e-6)
    params = evaluate.fit_logistic(-x, mos)
    assert params[0] < params[1]


def test_logistic_fit_failure_falls_back_to_raw_plcc(monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("Optimal parameters not found")

    monkeypatch.setattr(evaluate.optimize, "curve_fit", fail)
    pred, mos = np.arange(10.0), np.arange(10.0) ** 2
    with pytest.warns(RuntimeWarning, match="logistic fit failed"):
        assert plcc_logistic(pred, mos) == pytest.approx(stats.pearsonr(pred, mos).statistic)


def test_correlations_dict_and_input_checks():
    rng = np.random.default_rng(1)
    mos = rng.uniform(1, 5, 50)
    pred = np.exp(mos) + rng.normal(0, 5, 50)
    out = correlations(pred, mos)
    assert set(out) == {"srocc", "plcc", "plcc_raw", "krocc"}
    assert out["plcc"] > out["plcc_raw"] and out["srocc"] > out["krocc"] > 0
    with pytest.raises(ValueError, match="values"):
        srocc([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="finite"):
        plcc([1, 2, np.nan], [1, 2, 3])


class CountingDataset:
    """Tiny in-memory dataset recording which images were loaded."""

    def __init__(self, n=6):
        self.names = [f"im{i}" for i in range(n)]
        self.mos = np.linspace(10, 60, n)
        self.loaded = []

    def __len__(self):
        return len(self.names)

    def __getitem__(self, i):
        self.loaded.append(i)
        return torch.full((3, 8, 8), i / 10), float(self.mos[i]), self.names[i]


def _certificate(image):
    m = float(image.mean())
    return {"median": m, "lower": m - 0.1, "upper": m + 0.2, "delta": 0.2, "n": 100, "seed": None}


def test_score_dataset_writes_rows_and_returns_them(tmp_path):
    ds = CountingDataset()
    table = score_dataset(lambda im: float(im.mean()), ds, tmp_path / "s.csv", progress=False)
    assert list(table.columns) == ["name", "mos", "score"]
    assert table["name"].tolist() == ds.names and np.allclose(table["mos"], ds.mos)
    assert np.allclose(table["score"], np.arange(6) / 10)
    table = score_dataset(_certificate, ds, tmp_path / "c.csv", progress=False, extra_columns={"sigma": 0.12})
    assert list(table.columns) == ["name", "mos", "sigma", "median", "lower", "upper", "delta", "n", "seed"]
    assert (table["sigma"] == 0.12).all() and table["seed"].isna().all()


def test_score_dataset_resumes_after_a_crash_without_rescoring(tmp_path):
    out = tmp_path / "scores.csv"
    ds = CountingDataset()
    calls = []

    def crash_after_three(image):
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        calls.append(float(image.mean()))
        return _certificate(image)

    with pytest.raises(KeyboardInterrupt):
        score_dataset(crash_after_three, ds, out, progress=False)
    assert len(pd.read_csv(out)) == 3
    first = pd.read_csv(out)

    ds.loaded.clear()
    rescored = []
    table = score_dataset(lambda im: rescored.append(1) or _certificate(im), ds, out, progress=False)
    assert len(rescored) == 3 and ds.loaded == [3, 4, 5]
    assert table["name"].tolist() == ds.names
    pd.testing.assert_frame_equal(table.iloc[:3], first)

    ds.loaded.clear()
    score_dataset(lambda im: pytest.fail("nothing left to score"), ds, out, progress=False)
    assert ds.loaded == []


def test_resume_drops_a_half_written_row(tmp_path):
    out = tmp_path / "s.csv"
    ds = CountingDataset()
    score_dataset(lambda im: float(im.mean()), CountingDataset(2), out, progress=False)
    with open(out, "a") as f:
        f.write("im2,20.0,0.")  # killed mid-row
    table = score_dataset(lambda im: float(im.mean()), ds, out, progress=False)
    assert table["name"].tolist() == ds.names and table["score"].iloc[2] == pytest.approx(0.2)


def test_resume_refuses_a_different_layout(tmp_path):
    out = tmp_path / "s.csv"
    score_dataset(lambda im: float(im.mean()), CountingDataset(2), out, progress=False)
    with pytest.raises(ValueError, match="columns"):
        score_dataset(_certificate, CountingDataset(), out, progress=False)
    with pytest.raises(ValueError, match="columns"):
        score_dataset(lambda im: 0.0, CountingDataset(), out, progress=False, extra_columns={"sigma": 0.1})

    out2 = tmp_path / "t.csv"
    score_dataset(lambda im: 0.0, CountingDataset(2), out2, progress=False, extra_columns={"sigma": 0.12})
    ds = CountingDataset()
    with pytest.raises(ValueError, match="sigma"):
        score_dataset(lambda im: 0.0, ds, out2, progress=False, extra_columns={"sigma": 0.25})
    assert ds.loaded == []  # checked before any image is loaded

    other = CountingDataset()
    other.names = [f"other{i}" for i in range(6)]
    with pytest.raises(ValueError, match="not in this dataset"):
        score_dataset(lambda im: 0.0, other, out2, progress=False, extra_columns={"sigma": 0.12})


def test_score_fn_must_return_scalars(tmp_path):
    with pytest.raises(TypeError, match="scalars"):
        score_dataset(lambda im: {"s": np.zeros(3)}, CountingDataset(), tmp_path / "a.csv", progress=False)
    with pytest.raises(ValueError, match="reserved"):
        score_dataset(lambda im: {"mos": 1.0}, CountingDataset(), tmp_path / "b.csv", progress=False)


def test_too_few_points_for_the_logistic_fit_fall_back_to_raw_plcc():
    pred, mos = np.array([1.0, 2.0, 4.0]), np.array([10.0, 30.0, 20.0])
    with pytest.warns(RuntimeWarning, match="cannot determine 4 logistic parameters"):
        assert plcc_logistic(pred, mos) == pytest.approx(stats.pearsonr(pred, mos).statistic)
