#!/usr/bin/env bash
# The project's main job (README): install into .venv, then run every numbered notebook at embedded scale
# with papermill (`msbiqa reproduce`), writing executed notebooks, tables, figures and results/README.md.
# Extra arguments go to `msbiqa reproduce` (e.g. --only 03, --set n=200, --device cuda).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 MPLBACKEND=Agg
.venv/bin/msbiqa reproduce --scale embedded --out results "$@"
