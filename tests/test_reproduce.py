"""`msbiqa reproduce` and its helpers: notebook discovery, parameters, failure handling, the index, tables."""

import json
import math
import sys
from types import SimpleNamespace

import nbformat
import numpy as np
import pandas as pd
import pytest
import torch

from msbiqa.cli import main
from msbiqa.commands.reproduce import parse_overrides
from msbiqa.defences import certify_dataset
from msbiqa.reproduce import notebooks_dir, reproduce, resolve_parameters, select
from msbiqa.subsets import reference_pairs, spread
from msbiqa.tables import save_table, summarize_certificates, to_markdown
from msbiqa.theory import coverage, delta_vs_eps, ranks_vs_n


def write_notebook(path, params: str, body: str):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)


@pytest.fixture
def books(tmp_path):
    """Three tiny notebooks: one writes a table and the kernel's interpreter, one fails, one writes a figure."""
    folder = tmp_path / "nbs"
    folder.mkdir()
    write_notebook(folder / "00_table.ipynb", "value = 1\nout = None", (
        "import sys, pandas as pd\nfrom msbiqa.reproduce import output_folder, record_run\n"
        "from msbiqa.tables import save_table\nout = output_folder(out, '00_table')\n"
        "save_table(pd.DataFrame({'value': [value]}), out, 'values', 'A value.')\n"
        "record_run(out, metric='fake', seed=3)\nopen(f'{out}/python.txt', 'w').write(sys.executable)"))
    write_notebook(folder / "01_fails.ipynb", "out = None", "raise RuntimeError('deliberate failure')")
    write_notebook(folder / "02_figure.ipynb", "out = None", (
        "import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt\n"
        "from msbiqa.plots import save_figure\nfig, ax = plt.subplots(); ax.plot([0, 1])\n"
        "save_figure(fig, out, 'line')"))
    return folder


def test_failing_notebook_keeps_the_others_and_the_index(books, tmp_path):
    out = tmp_path / "results"
    runs = reproduce(out, notebooks=books, overrides={"00": {"value": 7}}, progress=False)
    assert [r.ok for r in runs] == [True, False, True]
    assert "deliberate failure" in runs[1].error
    assert pd.read_csv(out / "00_table" / "values.csv")["value"].tolist() == [7]
    assert (out / "02_figure" / "line.png").stat().st_size > 0
    assert (out / "00_table" / "00_table.ipynb").is_file()
    # the kernel ran on this interpreter, not on whatever a kernelspec names
    assert (out / "00_table" / "python.txt").read_text() == sys.executable
    index = (out / "README.md").read_text()
    assert "**1 failed: 01_fails**" in index and "| [00_table](00_table/00_table.ipynb) | ok |" in index
    assert "metric: fake" in index and "seed: 3" in index and "torch " in index and "scale: **embedded**" in index
    assert "| 7 |" in index and "![line](02_figure/line.png)" in index


def test_cli_exit_code_is_nonzero_when_a_notebook_fails(books, tmp_path, capsys):
    assert main(["reproduce", "--notebooks", str(books), "--out", str(tmp_path / "r"), "--only", "01"]) == 1
    assert "FAILED 01_fails" in capsys.readouterr().out
    assert main(["reproduce", "--notebooks", str(books), "--out", str(tmp_path / "r"), "--only", "00_table"]) == 0


def test_notebook_discovery_and_selection(books, tmp_path):
    assert [b.stem for b in select(books, ["02", "00_table"])] == ["00_table", "02_figure"]
    with pytest.raises(ValueError, match="no such notebook"):
        select(books, ["09"])
    with pytest.raises(FileNotFoundError, match="editable"):
        notebooks_dir(tmp_path)
    assert notebooks_dir().name == "notebooks"  # the repository's own folder, found from the package


def test_parameters_follow_scale_overrides_and_declarations(books, tmp_path):
    book = books / "00_table.ipynb"
    assert resolve_parameters(book, tmp_path, "embedded") == {"value": 1, "out": str(tmp_path / "00_table")}
    params = resolve_parameters(book, tmp_path, "embedded", {"*": {"value": 2, "undeclared": 1}, "00": {"value": 3}})
    assert params["value"] == 3 and "undeclared" not in params
    with pytest.raises(ValueError, match="unknown scale"):
        resolve_parameters(book, tmp_path, "huge")


def test_full_scale_overrides_the_notebook_defaults(tmp_path):
    book = notebooks_dir() / "00_quickstart.ipynb"
    params = resolve_parameters(book, tmp_path, "full", {"*": {"metric": "pyiqa:piqe"}})
    assert params["n"] == 1000 and params["metric"] == "pyiqa:piqe"


def test_cli_overrides():
    args = SimpleNamespace(data=["koniq10k=/d/koniq", "embedded"], scale="full", metric="niqe", device=None,
                           set=["n=50", "03.sigmas=[0.1, 0.2]", "denoiser=None", "note=text"])
    o = parse_overrides(args)
    assert o["*"] == {"datasets": {"koniq10k": "/d/koniq", "embedded": None}, "data": "koniq10k",
                      "data_root": "/d/koniq", "metric": "niqe", "metrics": ["niqe"], "n": 50, "denoiser": None,
                      "note": "text"}
    assert o["03"] == {"sigmas": [0.1, 0.2]}
    with pytest.raises(ValueError, match="--scale full needs datasets"):
        parse_overrides(SimpleNamespace(data=None, scale="full", metric=None, device=None, set=[]))
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_overrides(SimpleNamespace(data=None, scale="embedded", metric=None, device=None, set=["n"]))


def test_markdown_and_saved_tables(tmp_path):
    df = pd.DataFrame({"name": ["a|b", "c"], "k": [1.0, np.nan], "x": [0.12345, math.inf]})
    text = to_markdown(df)
    assert text.splitlines()[0] == "| name | k | x |"
    assert "| a\\|b | 1 | 0.123 |" in text and "| c | – | ∞ |" in text
    save_table(df, tmp_path, "t", "Caption.")
    assert (tmp_path / "t.md").read_text().startswith("Caption.\n\n| name")
    assert pd.read_csv(tmp_path / "t.csv")["x"].iloc[0] == pytest.approx(0.12345)


def test_summary_counts_certified_rows_only():
    rows = pd.DataFrame({"defence": ["a"] * 4 + ["b"] * 4, "mos": [1, 2, 3, 4] * 2,
                         "score": [1, 2, 3, 4, 4, 3, 2, 1], "delta": [1, 1, 1, 1, 0, 0, np.nan, np.nan],
                         "width": [2, 2, 2, 2, 0, 0, np.nan, np.nan], "certified": [True] * 6 + [False] * 2})
    def corr(pred, mos):
        rho = float(pd.Series(pred).corr(pd.Series(mos), method="spearman"))
        return {"srocc": rho, "plcc": rho, "krocc": rho}

    s = summarize_certificates(rows, ["defence"], corr).set_index("defence")
    assert s.loc["a", "srocc"] == pytest.approx(1) and s.loc["b", "srocc"] == pytest.approx(-1)
    assert s.loc["b", "certified"] == 0.5 and s.loc["b", "mean_delta"] == 0 and s.loc["a", "mean_width"] == 2


def test_theory_helpers_match_the_certifier():
    c = coverage(100, 0.12, 0.05, 0.1, trials=20000, seed=1)
    tol = 4 * math.sqrt(0.1 * 0.9 / 20000)
    assert abs(c["lower_miss"] - c["lower_miss_exact"]) < tol and abs(c["upper_miss"] - c["upper_miss_exact"]) < tol
    assert c["lower_miss_exact"] <= 0.1 and c["off_by_one_lower_miss"] > c["lower_miss"]
    r = ranks_vs_n([5, 20, 100, 1000], 0.12, 0.05, 0.001)
    assert r["n"].tolist() == [20, 100, 1000] and (r["k_lo"] <= r["k_hi"]).all()
    scores = torch.randn(200, generator=torch.Generator().manual_seed(0))
    d = delta_vs_eps(scores, 0.12, [0.0, 0.05, 0.1, 10.0], 0.001)
    assert d["eps"].tolist() == [0.0, 0.05, 0.1] and d["delta"].is_monotonic_increasing
    assert (d["lower"] <= d["median"]).all() and (d["median"] <= d["upper"]).all()


class TinySet:
    """Four constant-grey images whose MOS is their brightness."""

    names = ["a", "b", "c", "d"]
    mos = np.array([20.0, 40.0, 60.0, 80.0])

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return torch.full((3, 8, 8), self.mos[i] / 100), self.mos[i], self.names[i]


class Brightness(torch.nn.Module):
    name, higher_is_better, score_range = "brightness", True, (0.0, 100.0)

    def forward(self, x):
        return 100 * x.mean(dim=(1, 2, 3))


def test_certify_dataset_rows_and_resume(tmp_path, monkeypatch):
    csv = tmp_path / "rows.csv"
    kw = dict(defences=("none", "ms", "binned-rs"), sigmas=(0.12,), eps=0.05, n=40, alpha=0.01, images=3,
              out_csv=csv, device="cpu", progress=False)
    table = certify_dataset(Brightness(), TinySet(), **kw)
    assert len(table) == 9 and set(table["image"]) == {"a", "c", "d"}  # spread over the set
    ms = table[table["defence"] == "ms"]
    assert (ms["lower"] <= ms["score"]).all() and (ms["score"] <= ms["upper"]).all() and ms["certified"].all()
    assert table[table["defence"] == "none"]["delta"].isna().all()
    calls = []
    monkeypatch.setattr("msbiqa.defences.certify_one", lambda *a, **k: calls.append(1))
    again = certify_dataset(Brightness(), TinySet(), **kw)  # everything is in the CSV: nothing recomputed
    assert calls == [] and len(again) == 9
    with pytest.raises(TypeError):  # another eps is another configuration: recomputed
        certify_dataset(Brightness(), TinySet(), **{**kw, "eps": 0.04})
    assert json.dumps(again["n"].unique().tolist()) == "[40]"


def test_spread_subsets_and_reference_pairs():
    assert spread(10, None) == list(range(10)) and spread(10, 3) == [0, 4, 9] and spread(3, 5) == [0, 1, 2]
    ds = TinySet()
    ds.table = pd.DataFrame({"ref": ["p"] * 4, "crop": [0] * 4, "distortion": ["pristine", "blur", "blur", "noise"]})
    ds.names = ["p_c0_pristine_0", "b1", "b2", "n1"]
    distorted, pristine, names = reference_pairs(ds, 2)
    assert names == ["b1", "n1"] and distorted.shape == pristine.shape == (2, 3, 8, 8)
    assert torch.equal(pristine[0], ds[0][0])
    with pytest.raises(ValueError, match="pristine references"):
        reference_pairs(TinySet())
