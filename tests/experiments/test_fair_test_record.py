"""The committed fair-test record (artifacts/fair_test/): the objective grid's table and choice are recomputed from
the committed weights files and validation-proxy rows, and docs/fair_test.md shows them."""

import json
from pathlib import Path

import pandas as pd
import pytest

from msbiqa.cli.choose_objective import label
from msbiqa.experiments.objective_grid import choose, grid_table, trained_arm

ROOT = Path(__file__).parents[2]
RECORD = ROOT / "artifacts" / "fair_test"
GRID = RECORD / "grid"


@pytest.fixture(scope="module")
def recomputed():
    proxy = pd.read_csv(RECORD / "grid_proxy.csv")
    points = sorted((RECORD / "seed0" / "grid").glob("G*-sigma0.12.pt"))
    arms = [trained_arm("DMS (dms, reference)", RECORD / "seed0" / "dms-sigma0.12.pt", proxy)]
    arms += [trained_arm(label(str(path)), path, proxy) for path in points]
    return grid_table(arms)


def test_the_grid_table_and_choice_are_the_committed_files(recomputed):
    stored = pd.read_csv(GRID / "grid.csv")
    numbers = [c for c in stored.columns if stored[c].dtype.kind == "f"]
    pd.testing.assert_frame_equal(recomputed[numbers], stored[numbers], rtol=1e-9)
    assert list(recomputed["arm"]) == list(stored["arm"])
    assert choose(recomputed) == json.loads((GRID / "choice.json").read_text())


def test_seed0_dms_iqa_is_the_chosen_grid_point():
    chosen = json.loads((GRID / "choice.json").read_text())["chosen"]
    point = RECORD / "seed0" / "grid" / f"{chosen}-sigma0.12.pt"
    assert (RECORD / "seed0" / "dms-iqa-sigma0.12.pt").read_bytes() == point.read_bytes()


def test_docs_show_the_committed_grid_table():
    page = (ROOT / "docs" / "fair_test.md").read_text()
    table = [line for line in (GRID / "grid.md").read_text().splitlines() if line.startswith("| ")]
    assert table and all(line in page for line in table)
    assert f"**Chosen: {json.loads((GRID / 'choice.json').read_text())['chosen']}**" in page
