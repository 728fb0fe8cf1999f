"""Committed claim runs (artifacts/claim/NAME/: rows.csv, run.json and the tables): every table is recomputed from
the committed per-image rows alone and must equal the committed one, and docs/claim.md and the README show those
numbers and the verdict, so a change to the statistics, or an edited table, is seen."""

from pathlib import Path

import pandas as pd
import pytest

from msbiqa.experiments.claim import tables_from_record, verdict_text
from msbiqa.experiments.evidence_tables import display

ROOT = Path(__file__).parents[2]
CLAIM_DOC = ROOT / "docs" / "claim.md"
RECORDS = sorted(path.parent for path in (ROOT / "artifacts" / "claim").glob("*/run.json"))
SHOWN = ["srocc", "plcc", "mean_delta", "norm_delta", "fidelity_srocc"]  # the main table's columns docs/claim.md shows


def test_the_documented_claim_has_a_committed_record():
    assert RECORDS, "artifacts/claim/ holds no committed claim run"


@pytest.fixture(scope="module", params=RECORDS, ids=lambda folder: folder.name)
def record(request):
    return request.param, tables_from_record(request.param)


def test_every_table_is_recomputed_from_the_committed_rows(record):
    folder, tables = record
    for name in tables:  # per replicate, and combined over replicates where there are several
        stored = pd.read_csv(folder / f"{name}.csv")
        again = tables[name].reset_index(drop=True)
        pd.testing.assert_frame_equal(again[stored.columns], stored, check_dtype=False, rtol=1e-9, obj=name)


def verdict_of(tables) -> list[str]:
    """The verdict lines the claim writes for these tables (its setting line aside)."""
    return [line for line in verdict_text(tables, "").splitlines() if line.startswith("- **")]


def test_the_committed_verdict_is_the_rows_verdict(record):
    folder, tables = record
    stored = [line for line in (folder / "verdict.md").read_text().splitlines() if line.startswith("- **")]
    assert stored and stored == verdict_of(tables)


def test_docs_claim_shows_the_committed_main_table(record):
    folder, tables = record
    page = CLAIM_DOC.read_text()
    if f"artifacts/claim/{folder.name}" not in page:
        pytest.skip(f"docs/claim.md does not show {folder.name}")
    main = tables.get("main_table_combined", tables["main_table"])  # over training seeds where there are several
    shown = display(main, ["split", "defence"], SHOWN)
    for row in shown.itertuples(index=False):
        line = "| " + " | ".join(map(str, row)) + " |"
        assert line in page, f"docs/claim.md lacks {line}"
    for line in verdict_of(tables):
        assert line in page, f"docs/claim.md lacks the verdict line {line}"


def test_the_readme_shows_the_verdict_of_the_record_it_names(record):
    folder, tables = record
    readme = (ROOT / "README.md").read_text()
    if f"artifacts/claim/{folder.name}" not in readme:
        pytest.skip(f"the README does not name {folder.name}")
    for line in verdict_of(tables):
        assert line in readme, f"README lacks the verdict line {line}"
