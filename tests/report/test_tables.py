"""Markdown and saved tables; summaries count certified rows only."""

import math

import numpy as np
import pandas as pd
import pytest

from msbiqa.report.tables import (
    EVIDENCE_NOTE,
    NORM_DELTA_NOTE,
    REPLICATE_NOTE,
    decided_text,
    formatted,
    save_table,
    to_markdown,
)


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


@pytest.mark.parametrize("linked", ["t.csv", "t.md"])
def test_a_linked_table_file_is_refused_not_written_through(tmp_path, linked):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    (tmp_path / linked).symlink_to(target)
    with pytest.raises(ValueError, match=rf"{linked} is a symbolic link"):
        save_table(pd.DataFrame({"k": [1]}), tmp_path, "t")
    assert target.read_text() == "keep me"


def test_decided_text_per_statistic_and_the_notes_name_the_normalised_delta():
    table = pd.DataFrame({"srocc_decided": [True, False], "plcc_decided": [False, False], "norm_delta_decided": [1, 0]})
    assert decided_text(table) == ["yes, no", "no, no"]
    assert decided_text(table, ["norm_delta"]) == ["yes", "no"]
    assert NORM_DELTA_NOTE in EVIDENCE_NOTE and "two-level" in REPLICATE_NOTE


def test_an_undefined_interval_shows_as_a_dash():
    table = pd.DataFrame({"d": ["a"], "plcc": [0.5], "plcc_lo": [np.nan], "plcc_hi": [np.nan]})
    assert formatted(table, ["plcc"], ["d"])["PLCC"].item() == "0.500 [–]"
