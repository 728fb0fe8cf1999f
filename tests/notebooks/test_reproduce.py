"""`msbiqa reproduce` on small generated notebooks: failures recorded without stopping the others, selection,
scale and CLI overrides of the parameters."""

import re
import sys
from types import SimpleNamespace

import nbformat
import pandas as pd
import pytest

from msbiqa.cli import main
from msbiqa.cli.reproduce import parse_overrides
from msbiqa.notebooks.reproduce import check_overrides, notebooks_dir, reproduce, resolve_parameters, select


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
    write_notebook(
        folder / "00_table.ipynb",
        "value = 1\nout = None",
        (
            "import sys, pandas as pd\nfrom msbiqa.notebooks.session import record_run, start_notebook\n"
            "from msbiqa.report.tables import save_table\nout, _ = start_notebook('00_table', out)\n"
            "save_table(pd.DataFrame({'value': [value]}), out, 'values', 'A value.')\n"
            "record_run(out, metric='fake', seed=3)\nopen(f'{out}/python.txt', 'w').write(sys.executable)"
        ),
    )
    write_notebook(folder / "01_fails.ipynb", "out = None", "raise RuntimeError('deliberate failure')")
    write_notebook(
        folder / "02_figure.ipynb",
        "out = None",
        (
            "import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt\n"
            "from msbiqa.report.plots import save_figure\nfig, ax = plt.subplots(); ax.plot([0, 1])\n"
            "save_figure(fig, out, 'line')"
        ),
    )
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


def test_cli_overrides(tmp_path, monkeypatch):
    (tmp_path / "koniq").mkdir()
    monkeypatch.chdir(tmp_path)  # a relative root becomes absolute: notebooks run in their own folder
    args = SimpleNamespace(
        data=["koniq10k=koniq", "embedded"],
        scale="full",
        metric="niqe",
        device=None,
        engine="ray",
        address="auto",
        set=["n=50", "03.sigmas=[0.1, 0.2]", "denoiser=None", "note=text"],
    )
    o = parse_overrides(args)
    assert o["*"] == {
        "datasets": {"koniq10k": str(tmp_path / "koniq"), "embedded": None},
        "data": "koniq10k",
        "data_root": str(tmp_path / "koniq"),
        "metric": "niqe",
        "metrics": ["niqe"],
        "engine": "ray",
        "address": "auto",
        "n": 50,
        "denoiser": None,
        "note": "text",
    }
    assert o["03"] == {"sigmas": [0.1, 0.2]}
    with pytest.raises(ValueError, match="--scale full needs datasets"):
        parse_overrides(SimpleNamespace(data=None, scale="full", metric=None, device=None, set=[]))
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_overrides(SimpleNamespace(data=None, scale="embedded", metric=None, device=None, set=["n"]))


def set_values(*items) -> dict:
    return parse_overrides(SimpleNamespace(data=None, scale="embedded", metric=None, device=None, set=list(items)))


@pytest.mark.parametrize(
    "item, message",
    [
        ("n=(1, 2)", "tuple values are not accepted"),
        ("n={1, 2}", "set values are not accepted"),
        ("sigmas=[0.1, (0.2,)]", "tuple values are not accepted"),
        ("n=b'x'", "bytes values are not accepted"),
        ("d={1: 2}", "dict values are not accepted"),
        ("n=1j", "complex values are not accepted"),
        ("n=1e999", "NaN, infinities and integers of more than 15 digits are refused"),
        ("n=1e400", "NaN, infinities and integers of more than 15 digits are refused"),
        ("n=NaN", "NaN, infinities and integers of more than 15 digits are refused"),
        ("n=-Infinity", "NaN, infinities and integers of more than 15 digits are refused"),
        ("n=[Infinity]", "NaN, infinities and integers of more than 15 digits are refused"),
        ("n=1" + "0" * 4999, "NaN, infinities and integers of more than 15 digits are refused"),
        ("n=0x" + "f" * 5000, "NaN, infinities and integers of more than 15 digits are refused"),
        ("n=", "no value after '='"),
    ],
)
def test_set_accepts_only_json_values(item, message):
    with pytest.raises(ValueError, match=re.escape(f"--set {item!r}: {message}")):
        set_values(item)


def test_set_values_are_json_typed_and_words_are_strings():
    o = set_values(
        "a=[1, 2.5, null]", "b={'k': [True, None]}", "c=__import__('os')", "d=text", "e=false", "f=true", "g=null",
        'h={"x": [1, {"y": false}]}', "i=False", 'j=""', "k=1e-3", "l=999999999999999",
    )["*"]  # fmt: skip
    assert o == {
        "a": [1, 2.5, None], "b": {"k": [True, None]}, "c": "__import__('os')", "d": "text", "e": False, "f": True,
        "g": None, "h": {"x": [1, {"y": False}]}, "i": False, "j": "", "k": 0.001, "l": 999999999999999,
    }  # fmt: skip
    assert type(o["e"]) is bool and o["e"] is False  # interactive=false turns 00's sliders off, not on


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"00": {"flag": "false"}}, '--set flag="false": notebook 00\'s flag takes true or false (its default is'),
        ({"*": {"value": 2.5}}, "--set value=2.5: notebook 00's value takes an integer (its default is 1)"),
        ({"*": {"value": True}}, "--set value=true: notebook 00's value takes an integer (its default is 1)"),
        ({"*": {"rate": "fast"}}, '--set rate="fast": notebook 00\'s rate takes a number (its default is 0.5)'),
        ({"*": {"rate": None}}, "--set rate=null: notebook 00's rate takes a number (its default is 0.5)"),
        ({"00": {"names": "a"}}, '--set names="a": notebook 00\'s names takes a list (its default is ["x"])'),
    ],
)
def test_set_values_must_have_the_type_of_the_parameter_default(overrides, message, tmp_path):
    folder = tmp_path / "nbs"
    folder.mkdir()
    params = "value = 1\nrate = 0.5\nflag = True\nnames = ['x']\nanything = None\nout = None"
    write_notebook(folder / "00_types.ipynb", params, "pass")
    with pytest.raises(ValueError, match=re.escape(message)):
        reproduce(tmp_path / "r", notebooks=folder, overrides=overrides, progress=False)
    assert not (tmp_path / "r").exists()
    fine = {"*": {"value": None, "rate": 3, "flag": False, "names": [], "anything": {"k": [1]}}}
    check_overrides(folder, fine)


def test_set_through_the_cli_is_one_line_naming_key_value_and_type(capsys, tmp_path):
    assert main(["reproduce", "--only", "00", "--out", str(tmp_path / "r"), "--set", "interactive=maybe"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        'msbiqa reproduce: error: --set interactive="maybe": notebook 00\'s interactive takes true or false '
        "(its default is true)"
    )


def test_typos_in_overrides_fail_before_any_notebook_runs(books, tmp_path):
    with pytest.raises(ValueError, match=r"notebook 00 declares no parameter \['valeu'\]"):
        reproduce(tmp_path / "r", notebooks=books, overrides={"00": {"valeu": 3}}, progress=False)
    with pytest.raises(ValueError, match="any notebook declares no parameter"):
        reproduce(tmp_path / "r", notebooks=books, overrides={"*": {"vlaue": 3}}, progress=False)
    with pytest.raises(ValueError, match="no notebook '07'"):
        reproduce(tmp_path / "r", notebooks=books, overrides={"07": {"value": 3}}, progress=False)
    assert not (tmp_path / "r").exists()


def test_unknown_datasets_and_missing_roots_fail_before_any_work(tmp_path):
    def args(*data):
        return SimpleNamespace(data=list(data), scale="full", metric=None, device=None, set=[])

    with pytest.raises(ValueError, match="unknown dataset 'konik'; choose from embedded, koniq10k"):
        parse_overrides(args("konik=/data"))
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        parse_overrides(args(f"spaq={tmp_path / 'absent'}"))


def test_the_index_accumulates_runs_of_single_notebooks(books, tmp_path):
    out = tmp_path / "r"
    reproduce(out, notebooks=books, only=["00"], progress=False)
    reproduce(out, notebooks=books, only=["02"], progress=False)
    index = (out / "README.md").read_text()
    assert (
        "| [00_table](00_table/00_table.ipynb) | ok |" in index
        and "| [02_figure](02_figure/02_figure.ipynb) | ok |" in index
    )
    assert "2 notebooks" in index and "![line](02_figure/line.png)" in index and "| 1 |" in index
    reproduce(out, notebooks=books, only=["00"], overrides={"00": {"value": 5}}, progress=False)
    index = (out / "README.md").read_text()
    assert "| 5 |" in index and "| 1 |" not in index and "02_figure" in index  # the latest run of each notebook


def test_output_widgets_are_not_imitated_headless(tmp_path):
    """What an Output widget captures lands in the cell's outputs (papermill's client would send it back to the
    kernel, which can make the cell's reply go missing: see msbiqa.notebooks.headless)."""
    folder = tmp_path / "nbs"
    folder.mkdir()
    body = "import ipywidgets as widgets\nbox = widgets.Output()\nwith box:\n    print('captured')\nbox"
    write_notebook(folder / "00_widget.ipynb", "out = None", body)
    (run,) = reproduce(tmp_path / "out", notebooks=folder, progress=False)
    assert run.ok, run.error
    executed = nbformat.read(tmp_path / "out" / "00_widget" / "00_widget.ipynb", as_version=4)
    texts = [o.get("text", "") for o in executed.cells[-1].outputs if o.output_type == "stream"]
    assert texts == ["captured\n"]


def test_a_concurrent_run_into_the_same_out_keeps_its_record(books, tmp_path, monkeypatch):
    """A run of 02 that finishes while 00 runs stays in runs.json and README.md; a second run of 00 is refused."""
    import msbiqa.notebooks.reproduce as module

    out = tmp_path / "r"

    def run_notebook(notebook, out, params, timeout=None):
        if notebook.stem == "00_table":
            with pytest.raises(ValueError, match=r"00_table is being written by another msbiqa reproduce \(pid "):
                reproduce(out, notebooks=books, only=["00"], progress=False)
            reproduce(out, notebooks=books, only=["02"], progress=False)  # another run, done meanwhile
        return module.NotebookRun(notebook.stem, params, ok=True)

    monkeypatch.setattr(module, "run_notebook", run_notebook)
    reproduce(out, notebooks=books, only=["00"], progress=False)
    assert sorted(module.load_runs(out)) == ["00_table", "02_figure"]
    assert "[02_figure]" in (out / "README.md").read_text() and "[00_table]" in (out / "README.md").read_text()


def test_a_foreign_readme_or_linked_records_are_refused_before_any_work(books, tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "README.md").write_text("# my project\n")
    with pytest.raises(ValueError, match=r"README\.md was not written by msbiqa reproduce.*choose another --out"):
        reproduce(out, notebooks=books, only=["01"], progress=False)
    assert (out / "README.md").read_text() == "# my project\n" and not (out / "01_fails").exists()
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    (out / "README.md").unlink()
    for name in ("runs.json", ".runs.json.tmp"):
        (out / name).symlink_to(target)
    with pytest.raises(ValueError, match=r"runs\.json is a symbolic link"):
        reproduce(out, notebooks=books, only=["01"], progress=False)
    (out / "runs.json").unlink()
    reproduce(out, notebooks=books, only=["01"], progress=False)  # a stray link to a temporary name is not used
    assert target.read_text() == "keep me" and (out / ".runs.json.tmp").is_symlink()
