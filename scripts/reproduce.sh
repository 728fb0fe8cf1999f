#!/usr/bin/env bash
# The project's main job (README): install into .venv, then run the reproduction at embedded scale.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 MPLBACKEND=Agg
exec .venv/bin/msbiqa reproduce --scale embedded --out results "$@"
