"""The notebooks' git clean filter: a run's outputs and state never reach git, a clean notebook passes unchanged."""

import json
import shutil
import subprocess
import sys

import ipykernel.ipkernel
import nbformat
import pytest
from support import ROOT, load_script

notebook_filter = load_script("notebook_filter")
SCRIPT = ROOT / "scripts" / "notebook_filter.py"


def clean_notebook() -> str:
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata.language_info = dict(notebook_filter.LANGUAGE_INFO)
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title · σ\nline two", id="c0"),
        nbformat.v4.new_code_cell("x = 1  # parameters", id="c1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print(x)\nx", id="c2"),
    ]
    return nbformat.writes(nb) + "\n"


def executed(text: str) -> str:
    """`text` as JupyterLab saves it after a run on another Python patch version, with widget state saved."""
    nb = nbformat.reads(text, as_version=4)
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
    return nbformat.writes(nb) + "\n"


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
    assert notebook_filter.stored_form(json.dumps(nb)) == clean_notebook()


def test_files_are_rewritten_in_place_only_when_needed(tmp_path):
    clean, dirty = tmp_path / "clean.ipynb", tmp_path / "dirty.ipynb"
    clean.write_text(clean_notebook())
    dirty.write_text(executed(clean_notebook()))
    before = clean.stat().st_mtime_ns
    assert notebook_filter.main([str(clean), str(dirty)]) == 0
    assert dirty.read_text() == clean_notebook() and clean.stat().st_mtime_ns == before


def test_text_that_is_not_json_passes_through():
    conflict = '{\n<<<<<<< HEAD\n "cells": []\n=======\n>>>>>>> other\n}\n'
    run = subprocess.run([sys.executable, str(SCRIPT)], input=conflict, capture_output=True, text=True, check=True)
    assert run.stdout == conflict and "not a notebook" in run.stderr


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_as_git_filter_a_run_leaves_the_work_tree_clean(tmp_path):
    """The configuration scripts/setup.sh writes, in a scratch repository: after a run saved over a committed
    notebook, git sees no change; `git add` stores the stripped form."""
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "filter.notebook.clean" in setup and "scripts/notebook_filter.py" in setup
    assert "*.ipynb filter=notebook" in (ROOT / ".gitattributes").read_text().splitlines()

    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), *args], capture_output=True, text=True, check=True).stdout

    git("init", "-q")
    git("config", "user.email", "test@example.org")
    git("config", "user.name", "test")
    git("config", "filter.notebook.clean", f"{sys.executable} {SCRIPT}")
    shutil.copy(ROOT / ".gitattributes", tmp_path / ".gitattributes")
    nb = tmp_path / "nb.ipynb"
    nb.write_text(executed(clean_notebook()))
    git("add", ".")
    git("commit", "-q", "-m", "notebook")
    assert git("show", "HEAD:nb.ipynb") == clean_notebook()
    nb.write_text(executed(clean_notebook()).replace('"1\\n"', '"2\\n"'))  # another run
    assert git("status", "--porcelain") == ""
