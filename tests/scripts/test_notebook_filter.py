"""The notebooks' git clean filter: a run's outputs and state never reach git, a clean notebook passes unchanged,
input it cannot store passes through as it is, and git runs an installed copy, never the work tree's script."""

import json
import os
import shutil
import subprocess
import sys

import ipykernel.ipkernel
import nbformat
import pytest
from support import ROOT, load_script

notebook_filter = load_script("notebook_filter")
SCRIPT = ROOT / "scripts" / "notebook_filter.py"


def clean_notebook() -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata.language_info = dict(notebook_filter.LANGUAGE_INFO)
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title · σ\nline two", id="c0"),
        nbformat.v4.new_code_cell("x = 1  # parameters", id="c1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print(x)\nx", id="c2"),
    ]
    return (nbformat.writes(nb) + "\n").encode()


def executed(text: bytes) -> bytes:
    """`text` as JupyterLab saves it after a run on another Python patch version, with widget state saved."""
    nb = nbformat.reads(text.decode(), as_version=4)
    nb.metadata.language_info["version"] = "3.11.2"
    nb.metadata.widgets = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2}}
    code = nb.cells[2]
    code.execution_count = 3
    code.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="1\n"),
        nbformat.v4.new_output("execute_result", data={"text/plain": "1"}, execution_count=3),
    ]
    code.metadata.update(scrolled=True, collapsed=False, execution={"iopub.status.busy": "2025-01-01T00:00:00Z"})
    code.metadata.jupyter = {"outputs_hidden": True}
    return (nbformat.writes(nb) + "\n").encode()


def test_language_info_is_what_ipykernel_reports_for_the_project_python():
    reported = dict(ipykernel.ipkernel.IPythonKernel.language_info)
    stored = dict(notebook_filter.LANGUAGE_INFO)
    assert {k: v for k, v in stored.items() if k != "version"} == {k: v for k, v in reported.items() if k != "version"}
    assert stored["version"].startswith("3.")


def test_a_clean_notebook_passes_through_byte_identical():
    text = clean_notebook()
    assert notebook_filter.stored_form(text) == text


def test_a_run_is_stripped_back_to_the_stored_form():
    text = clean_notebook()
    dirty = executed(text)
    assert dirty != text
    assert notebook_filter.stored_form(dirty) == text
    assert notebook_filter.stored_form(notebook_filter.stored_form(dirty)) == text  # idempotent


def test_sources_are_split_as_nbformat_splits_them():
    nb = json.loads(clean_notebook())
    nb["cells"][0]["source"] = "".join(nb["cells"][0]["source"])  # one string, as some tools write it
    nb["cells"][2]["source"] = ["print(", "x)\nx"]  # split elsewhere than at line ends
    assert notebook_filter.stored_form(json.dumps(nb).encode()) == clean_notebook()


def test_files_are_rewritten_in_place_only_when_needed(tmp_path):
    clean, dirty = tmp_path / "clean.ipynb", tmp_path / "dirty.ipynb"
    clean.write_bytes(clean_notebook())
    dirty.write_bytes(executed(clean_notebook()))
    before = clean.stat().st_mtime_ns
    assert notebook_filter.main([str(clean), str(dirty)]) == 0
    assert dirty.read_bytes() == clean_notebook() and clean.stat().st_mtime_ns == before


def filter_run(data: bytes) -> subprocess.CompletedProcess:
    """The filter as git runs it: bytes on stdin, isolated."""
    return subprocess.run([sys.executable, "-I", str(SCRIPT)], input=data, capture_output=True, check=True)


def as_json(notebook: dict) -> bytes:
    return json.dumps(notebook).encode()


def notebook_v4(**changes) -> dict:
    return {**json.loads(executed(clean_notebook())), **changes}


def with_top_level_x(value: bytes) -> bytes:
    return executed(clean_notebook()).replace(b'"nbformat": 4,', b'"nbformat": 4, "x": ' + value + b",")


NOT_STORABLE = {  # input a clean filter must hand back byte for byte: storing it changed would mangle it
    "a merge conflict": b'{\n<<<<<<< HEAD\n "cells": []\n=======\n>>>>>>> other\n}\n',
    "Latin-1 bytes": executed(clean_notebook()).replace("σ".encode(), b"\xe9"),
    "a JSON list": b"[1, 2]\n",
    "null metadata": as_json(notebook_v4(metadata=None)),
    "a cell that is not an object": as_json(notebook_v4(cells=["x"])),
    "a lone surrogate": executed(clean_notebook()).replace("σ".encode(), b"\\ud800"),
    "nbformat 3": as_json(
        {
            "nbformat": 3,
            "nbformat_minor": 0,
            "metadata": {},
            "worksheets": [
                {"cells": [{"cell_type": "code", "input": "1", "outputs": [{"output_type": "pyout", "text": "1"}]}]}
            ],
        }
    ),
    "duplicate cells keys": b'{"cells": [{"cell_type": "markdown", "metadata": {}, "source": "a"}], "cells": [], '
    b'"metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
    "1e400": with_top_level_x(b"1e400"),
    "NaN": with_top_level_x(b"NaN"),
    "a 5000-digit integer": with_top_level_x(b"1" + b"0" * 5000),
}


@pytest.mark.parametrize("case", NOT_STORABLE)
def test_input_it_cannot_store_passes_through_unchanged_and_says_why(case):
    run = filter_run(NOT_STORABLE[case])
    assert run.stdout == NOT_STORABLE[case]
    assert run.stderr.decode().startswith("notebook_filter: stdin left unchanged (") and run.stderr.count(b"\n") == 1


def test_files_it_cannot_store_are_left_as_they_are(tmp_path):
    listed, dirty = tmp_path / "list.ipynb", tmp_path / "dirty.ipynb"
    listed.write_bytes(NOT_STORABLE["a JSON list"])
    dirty.write_bytes(executed(clean_notebook()))
    assert notebook_filter.main([str(listed), str(dirty)]) == 1
    assert listed.read_bytes() == NOT_STORABLE["a JSON list"] and dirty.read_bytes() == clean_notebook()


def test_a_full_disk_leaves_the_file_whole(tmp_path, monkeypatch):
    """The stored form is written to a temporary file and moved over the notebook: a failed write (a full disk)
    leaves the notebook as it was and no temporary file behind."""
    dirty = tmp_path / "dirty.ipynb"
    dirty.write_bytes(executed(clean_notebook()))
    dirty.chmod(0o640)

    def full_disk(self, data):
        with open(self, "wb") as f:
            f.write(data[:10])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(notebook_filter.Path, "write_bytes", full_disk)
    assert notebook_filter.main([str(dirty)]) == 1
    assert dirty.read_bytes() == executed(clean_notebook()) and os.listdir(tmp_path) == ["dirty.ipynb"]
    monkeypatch.undo()
    assert notebook_filter.main([str(dirty)]) == 0
    assert dirty.read_bytes() == clean_notebook() and dirty.stat().st_mode & 0o777 == 0o640


def git_in(folder):
    def git(*args):
        return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, check=True).stdout

    return git


def configure_as_setup_does(repo, venv) -> str:
    """Run the filter configuration block of scripts/setup.sh in `repo`, with `venv` for .venv; git's command."""
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    start = setup.index('  filter="$PWD/.venv')
    block = setup[start : setup.index("\nfi\n", start)].replace("$PWD/.venv", str(venv))
    subprocess.run(["bash", "-c", block.replace("cp scripts/", f"cp {ROOT}/scripts/")], check=True, cwd=repo)
    return git_in(repo)("config", "filter.notebook.clean").strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_as_git_filter_a_run_leaves_the_work_tree_clean(tmp_path):
    """The configuration scripts/setup.sh writes, in a scratch repository: git runs the copy in .venv, not the
    checked-out script; after a run saved over a committed notebook git sees no change; `git add` stores the
    stripped form; a fresh clone of the project's notebooks is clean, also once every file must be re-read."""
    assert "*.ipynb filter=notebook" in (ROOT / ".gitattributes").read_text().splitlines()
    repo, venv = tmp_path / "repo", tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    (repo / "scripts").mkdir(parents=True)
    git = git_in(repo)
    git("init", "-q")
    git("config", "user.email", "test@example.org")
    git("config", "user.name", "test")
    clean_command = configure_as_setup_does(repo, venv)
    assert str(venv / "share") in clean_command and " -I " in clean_command
    (repo / "scripts" / "notebook_filter.py").write_text("raise SystemExit('work tree code ran')")  # a branch's
    shutil.copy(ROOT / ".gitattributes", repo / ".gitattributes")
    shutil.copytree(ROOT / "notebooks", repo / "notebooks", ignore=shutil.ignore_patterns("*.yaml"))
    nb = repo / "nb.ipynb"
    nb.write_bytes(executed(clean_notebook()))
    git("add", ".")
    git("commit", "-q", "-m", "notebooks")
    assert git("show", "HEAD:nb.ipynb").encode() == clean_notebook()
    nb.write_bytes(executed(clean_notebook()).replace(b'"1\\n"', b'"2\\n"'))  # another run
    assert git("status", "--porcelain") == ""

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    git = git_in(clone)
    git("config", "filter.notebook.clean", clean_command)
    for path in (clone / "notebooks").iterdir():
        os.utime(path, ns=(0, 0))  # stat-dirty: git re-reads each through the filter
    assert git("status", "--porcelain") == "" and git("diff") == ""
