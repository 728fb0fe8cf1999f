#!/usr/bin/env python3
"""The stored form of the project's notebooks: as JupyterLab saves them on the project's Python, minus what a run
adds. Used as a git clean filter, so that running a notebook (and JupyterLab's autosave) never reaches git.

* Code cells lose their outputs and execution counts; cells lose the view state JupyterLab records while one
  reads (collapsed or scrolled outputs, execution timings) and papermill's run records.
* The notebook loses saved widget state and papermill's run record.
* `metadata.language_info` of a Python notebook becomes what ipykernel reports for the project's Python
  (LANGUAGE_INFO). JupyterLab fills it in from the kernel when a notebook opens and marks the notebook
  modified when it differs, so a notebook stored with it opens unmodified on that Python. Another patch version
  (3.11.x) still opens as modified, but saving it changes nothing in git: the version is normalised here.
* The JSON is written as nbformat (hence jupyter_server) writes it: indent 1, sorted keys, non-ASCII kept,
  sources split into lines, a trailing newline.

A notebook in the stored form passes through byte-identical, so the filter is idempotent. Standard library only:
git runs it with any python3. scripts/setup.sh installs it (git config filter.notebook.clean; `*.ipynb
filter=notebook` in .gitattributes).

Usage: notebook_filter.py < in.ipynb > out.ipynb     or     notebook_filter.py FILE...  (rewrites the files)
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

PYTHON_VERSION = "3.11.7"  # the project's Python: what scripts/setup.sh and CI install into .venv
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
    "version": PYTHON_VERSION,
}
NOTEBOOK_RUN_KEYS = ("widgets", "papermill", "orig_nbformat", "orig_nbformat_minor", "signature")
CELL_RUN_KEYS = ("collapsed", "scrolled", "execution", "ExecuteTime", "papermill", "trusted")


def is_python(metadata: dict) -> bool:
    """Whether the notebook's kernel language (or, lacking a kernelspec, its language_info) is Python."""
    language = metadata.get("kernelspec", {}).get("language") or metadata.get("language_info", {}).get("name")
    return language == "python"


def strip_cell(cell: dict) -> dict:
    """The cell without outputs, execution count and view state; its source split into lines."""
    if isinstance(cell.get("source"), list):
        cell["source"] = "".join(cell["source"])
    if isinstance(cell.get("source"), str):
        cell["source"] = cell["source"].splitlines(True)
    if cell.get("cell_type") == "code":
        cell["outputs"] = []
        cell["execution_count"] = None
    metadata = cell.get("metadata", {})
    for key in CELL_RUN_KEYS:
        metadata.pop(key, None)
    jupyter = metadata.get("jupyter", {})
    jupyter.pop("outputs_hidden", None)
    if "jupyter" in metadata and not jupyter:
        del metadata["jupyter"]
    return cell


def strip_notebook(notebook: dict) -> dict:
    """The notebook in its stored form (see the module docstring); modifies and returns `notebook`."""
    metadata = notebook.setdefault("metadata", {})
    for key in NOTEBOOK_RUN_KEYS:
        metadata.pop(key, None)
    if is_python(metadata):
        metadata["language_info"] = copy.deepcopy(LANGUAGE_INFO)
    notebook["cells"] = [strip_cell(cell) for cell in notebook.get("cells", [])]
    return notebook


def stored_form(text: str) -> str:
    """The stored form of a notebook's text, written as nbformat writes it."""
    notebook = strip_notebook(json.loads(text))
    return json.dumps(notebook, indent=1, sort_keys=True, separators=(",", ": "), ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    if argv:
        for name in argv:
            path = Path(name)
            text = path.read_text(encoding="utf-8")
            if stored_form(text) != text:
                path.write_text(stored_form(text), encoding="utf-8")
        return 0
    text = sys.stdin.buffer.read().decode("utf-8")
    try:
        text = stored_form(text)
    except json.JSONDecodeError as err:  # e.g. a merge conflict in the file: git stores it as it is
        print(f"notebook_filter: not a notebook ({err}); stored unchanged", file=sys.stderr)
    sys.stdout.buffer.write(text.encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
