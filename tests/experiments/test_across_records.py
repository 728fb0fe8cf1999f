"""Claim records side by side: the committed records' own tables and verdicts, ordered by metric and sigma."""

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from msbiqa.cli import main
from msbiqa.experiments.across_records import across_records, read_record

RECORDS = Path(__file__).resolve().parents[2] / "artifacts" / "claim"


def record_verdicts(folder: Path) -> list[str]:
    """The split verdicts a record's verdict.md states, in its order."""
    return re.findall(r"^- \*\*.*?: (\w[\w ]*)\.\*\*", (folder / "verdict.md").read_text(), flags=re.M)


def test_the_records_tables_and_verdicts_side_by_side():
    folders = [RECORDS / "fair-test", RECORDS / "shipped-denoisers"]
    tables = across_records(folders)
    verdict = tables["verdict"]
    assert list(verdict["record"]) == ["fair-test", "fair-test", "shipped-denoisers", "shipped-denoisers"]
    assert list(verdict["verdict"]) == record_verdicts(folders[0]) + record_verdicts(folders[1])
    assert list(verdict["replicates"]) == [3, 3, 1, 1]
    combined = pd.read_csv(folders[0] / "main_table_combined.csv")
    mine = tables["main_table"][tables["main_table"]["record"] == "fair-test"].reset_index(drop=True)
    pd.testing.assert_series_equal(mine["srocc"], combined["srocc"])
    single = pd.read_csv(folders[1] / "differences.csv")
    theirs = tables["differences"][tables["differences"]["record"] == "shipped-denoisers"]
    assert theirs["norm_delta"].tolist() == single["norm_delta"].tolist()
    assert set(tables["main_table"]["sigma"]) == {0.12} and set(tables["main_table"]["metric"]) == {"tinyiqa"}


def test_records_are_ordered_by_sigma_and_the_command_writes_tables_and_figure(tmp_path):
    other = tmp_path / "sigma-0.06"
    shutil.copytree(RECORDS / "shipped-denoisers", other, ignore=shutil.ignore_patterns("rows.csv", "*.png"))
    record = json.loads((other / "run.json").read_text())
    record["settings"]["run"]["sigmas"] = [0.06]
    (other / "run.json").write_text(json.dumps(record))
    out = tmp_path / "across"
    assert main(["across-claims", str(RECORDS / "fair-test"), str(other), "--out", str(out)]) == 0
    verdict = pd.read_csv(out / "across_verdict.csv")
    assert list(verdict["sigma"]) == [0.06, 0.06, 0.12, 0.12]
    assert list(verdict["record"]) == ["sigma-0.06", "sigma-0.06", "fair-test", "fair-test"]
    text = (out / "across_differences.md").read_text()
    assert "| DMS-IQA − DMS |" in text and "decided (normalised delta)" in text
    assert (out / "across.png").stat().st_size > 10_000 and (out / "across_main_table.csv").is_file()


def test_a_folder_that_is_not_a_claim_record_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"is not a claim record \(no run.json\).*msbiqa claim"):
        read_record(tmp_path)
    assert main(["across-claims", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    with pytest.raises(ValueError, match="name at least one claim record"):
        across_records([])


def test_the_committed_side_by_side_tables_are_the_records():
    across = RECORDS / "across"
    if not (across / "across_verdict.csv").is_file():
        pytest.skip("artifacts/claim/across is not committed")
    stored = {name: pd.read_csv(across / f"across_{name}.csv") for name in ("main_table", "differences", "verdict")}
    names = list(dict.fromkeys(stored["verdict"]["record"]))
    again = across_records([RECORDS / name for name in names])
    for name, table in stored.items():
        pd.testing.assert_frame_equal(again[name][table.columns], table, check_dtype=False, rtol=1e-12, obj=name)
