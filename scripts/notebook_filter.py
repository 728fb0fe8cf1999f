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

A notebook in the stored form passes through byte-identical, so the filter is idempotent. Input it cannot store
faithfully passes through unchanged, with one line on stderr saying why: bytes that are not UTF-8 or JSON, JSON
that is not an nbformat 4 notebook (a list, null metadata, nbformat 3), duplicate keys, numbers JSON cannot hold
(NaN, 1e400) and lone surrogates. Files are rewritten atomically (a temporary file, then os.replace).

Standard library only, run with `python -I`: scripts/setup.sh copies it into .venv and points git at that copy
(git config filter.notebook.clean; `*.ipynb filter=notebook` in .gitattributes), so `git status` never runs code
from whatever branch is checked out.

Usage: notebook_filter.py < in.ipynb > out.ipynb     or     notebook_filter.py FILE...  (rewrites the files)
"""

from __future__ import annotations

import collections
import copy
import json
import math
import os
import sys
import tempfile
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


class NotANotebook(ValueError):
    """Input the filter cannot store faithfully: it passes through unchanged."""


def unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object as a dict, refusing duplicate keys (json.loads would silently keep the last)."""
    counts = collections.Counter(key for key, _ in pairs)
    duplicates = [key for key, count in counts.items() if count > 1]
    if duplicates:
        raise NotANotebook(f"duplicate key {duplicates[0]!r}")
    return dict(pairs)


def finite_float(text: str) -> float:
    """A JSON number that a float holds (1e400 would become inf, written back as the non-JSON Infinity)."""
    value = float(text)
    if not math.isfinite(value):
        raise NotANotebook(f"the number {text} does not fit a float")
    return value


def no_constant(name: str):
    """NaN and Infinity are not JSON: refuse them."""
    raise NotANotebook(f"{name} is not JSON")


def is_python(metadata: dict) -> bool:
    """Whether the notebook's kernel language (or, lacking a kernelspec, its language_info) is Python."""
    kernelspec, language_info = metadata.get("kernelspec"), metadata.get("language_info")
    language = (kernelspec.get("language") if isinstance(kernelspec, dict) else None) or (
        language_info.get("name") if isinstance(language_info, dict) else None
    )
    return language == "python"


def check_shape(notebook: object) -> None:
    """NotANotebook unless `notebook` has the nbformat 4 shape the filter edits (objects where it edits them)."""
    if not isinstance(notebook, dict):
        raise NotANotebook(f"a JSON {type(notebook).__name__}, not an object")
    if notebook.get("nbformat") != 4:
        raise NotANotebook(f"nbformat {notebook.get('nbformat')!r}, not 4")
    if not isinstance(notebook.get("metadata"), dict) or not isinstance(notebook.get("cells"), list):
        raise NotANotebook("its metadata is not an object or its cells not a list")
    for i, cell in enumerate(notebook["cells"]):
        source = cell.get("source", "") if isinstance(cell, dict) else None
        if not (isinstance(cell, dict) and isinstance(cell.get("metadata", {}), dict)):
            raise NotANotebook(f"cell {i} or its metadata is not an object")
        if not isinstance(cell["metadata"].get("jupyter", {}), dict):
            raise NotANotebook(f"cell {i}'s metadata.jupyter is not an object")
        if not (isinstance(source, str) or isinstance(source, list) and all(isinstance(s, str) for s in source)):
            raise NotANotebook(f"cell {i}'s source is not text")


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
    metadata = notebook["metadata"]
    for key in NOTEBOOK_RUN_KEYS:
        metadata.pop(key, None)
    if is_python(metadata):
        metadata["language_info"] = copy.deepcopy(LANGUAGE_INFO)
    notebook["cells"] = [strip_cell(cell) for cell in notebook["cells"]]
    return notebook


def stored_form(data: bytes) -> bytes:
    """The stored form of a notebook file's bytes, written as nbformat writes it; NotANotebook if it has none."""
    try:
        notebook = json.loads(
            data.decode("utf-8"), object_pairs_hook=unique_keys, parse_float=finite_float, parse_constant=no_constant
        )
    except NotANotebook:
        raise
    except ValueError as err:  # not UTF-8, not JSON (a merge conflict), an integer past Python's digit limit
        raise NotANotebook(str(err)) from None
    check_shape(notebook)
    text = json.dumps(strip_notebook(notebook), indent=1, sort_keys=True, separators=(",", ": "), ensure_ascii=False)
    try:
        return (text + "\n").encode("utf-8")
    except UnicodeEncodeError as err:
        raise NotANotebook(f"a lone surrogate ({err.reason})") from None


def left_unchanged(name: str, why: Exception) -> None:
    """One line on stderr: the input passes through as it is, and why."""
    print(f"notebook_filter: {name} left unchanged ({why})", file=sys.stderr)


def rewrite(path: Path) -> None:
    """Write `path`'s stored form over it atomically (a temporary file, then os.replace), if it differs."""
    data = path.read_bytes()
    stored = stored_form(data)
    if stored == data:
        return
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        temporary = Path(tmp.name)
    try:
        temporary.write_bytes(stored)
        temporary.chmod(path.stat().st_mode & 0o7777)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    if not argv:  # a git clean filter: whatever it is given, git gets bytes back
        data = sys.stdin.buffer.read()
        try:
            data = stored_form(data)
        except NotANotebook as err:
            left_unchanged("stdin", err)
        sys.stdout.buffer.write(data)
        return 0
    status = 0
    for name in argv:
        try:
            rewrite(Path(name))
        except (NotANotebook, OSError) as err:
            left_unchanged(name, err)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
