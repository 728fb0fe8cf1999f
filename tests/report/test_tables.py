"""Markdown and saved tables; summaries count certified rows only."""

import math

import numpy as np
import pandas as pd
import pytest

from msbiqa.report.tables import save_table, summarize_certificates, to_markdown


def test_markdown_and_saved_tables(tmp_path):
    df = pd.DataFrame({"name": ["a|b", "c"], "k": [1.0, np.nan], "x": [0.12345, math.inf]})
    text = to_markdown(df)
    assert text.splitlines()[0] == "| name | k | x |"
    assert "| a\\|b | 1 | 0.123 |" in text and "| c | – | ∞ |" in text
    save_table(df, tmp_path, "t", "Caption.")
    assert (tmp_path / "t.md").read_text().startswith("Caption.\n\n| name")
    assert pd.read_csv(tmp_path / "t.csv")["x"].iloc[0] == pytest.approx(0.12345)


def test_integer_columns_with_gaps_print_as_integers():
    df = pd.DataFrame({"n": [200, None], "score": [1.5, 2.25]}).astype({"n": "Int64"})
    assert to_markdown(df).splitlines()[2:] == ["| 200 | 1.500 |", "| – | 2.250 |"]


def test_summary_counts_certified_rows_only():
    rows = pd.DataFrame(
        {
            "defence": ["a"] * 4 + ["b"] * 4,
            "mos": [1, 2, 3, 4] * 2,
            "score": [1, 2, 3, 4, 4, 3, 2, 1],
            "delta": [1, 1, 1, 1, 0, 0, np.nan, np.nan],
            "width": [2, 2, 2, 2, 0, 0, np.nan, np.nan],
            "certified": [True] * 6 + [False] * 2,
        }
    )

    def corr(pred, mos):
        rho = float(pd.Series(pred).corr(pd.Series(mos), method="spearman"))
        return {"srocc": rho, "plcc": rho, "krocc": rho}

    s = summarize_certificates(rows, ["defence"], corr).set_index("defence")
    assert s.loc["a", "srocc"] == pytest.approx(1) and s.loc["b", "srocc"] == pytest.approx(-1)
    assert s.loc["b", "certified"] == 0.5 and s.loc["b", "mean_delta"] == 0 and s.loc["a", "mean_width"] == 2


def test_summary_correlations_are_sign_corrected():
    rows = pd.DataFrame(
        {"defence": ["a"] * 4, "mos": [1, 2, 3, 4], "score": [9.0, 7.0, 4.0, 1.0], "delta": 1.0, "width": 2.0}
    ).assign(certified=True)

    def corr(pred, mos):
        rho = float(pd.Series(pred).corr(pd.Series(mos), method="spearman"))
        return {"srocc": rho, "plcc": rho, "krocc": rho}

    assert summarize_certificates(rows, ["defence"], corr)["srocc"].item() == pytest.approx(-1)
    lower = summarize_certificates(rows, ["defence"], corr, higher_is_better=False)  # e.g. PIQE, BRISQUE, NIQE
    assert lower["srocc"].item() == pytest.approx(1)
