#!/usr/bin/env bash
# The project's test command (README, .ci/run): install into .venv, then run the whole suite offline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 MPLBACKEND=Agg PYTHONUNBUFFERED=1
exec .venv/bin/python -m pytest "$@"
