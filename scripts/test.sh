#!/usr/bin/env bash
# The project's test command (README, .ci/run): install into .venv (and, with MSBIQA_INSTALL_BROWSER=1, Debian's
# chromium for the browser test), check lint and format (ruff; notebooks through nbQA), then run the whole suite
# offline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 MPLBACKEND=Agg PYTHONUNBUFFERED=1
MSBIQA_BROWSER_SETUP=$(bash scripts/install_browser.sh)  # empty, or why the browser test will skip
export MSBIQA_BROWSER_SETUP
.venv/bin/ruff check msbiqa tests bench
.venv/bin/ruff format --check msbiqa tests bench
.venv/bin/nbqa ruff notebooks
.venv/bin/nbqa "ruff format" notebooks --check
exec .venv/bin/python -m pytest "$@"
